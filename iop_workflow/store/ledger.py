"""Reading the log for verification and export, and writing checkpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord, record_from_row
from iop_workflow.audit.checkpoint import Checkpoint, Head, checkpoint_from_row, heads_json
from iop_workflow.store import cases as repo
from iop_workflow.store.audit_tables import CHECKPOINTS
from iop_workflow.store.cases import CASES, LOG, ORGS


def lock_for_checkpoint(s: Connection) -> None:
    """PostgreSQL: wait for in-flight log writers and hold new ones until commit.

    Then every record the checkpoint does not cover gets a higher ``seq`` than
    every record it covers. SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
    """
    if s.dialect.name == "postgresql":
        s.exec_driver_sql("LOCK TABLE checkpoints IN EXCLUSIVE MODE")
        s.exec_driver_sql("LOCK TABLE transition_log IN SHARE MODE")


def by_ref(s: Connection, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """``column`` to order by so that the rows come in Python's string order (code points), whatever the
    database's collation: the streams ``audit verify`` merges by case ref must agree on it. SQLite's
    default (BINARY, UTF-8 bytes) already is; PostgreSQL's ``"C"`` collation is."""
    return column.collate("C") if s.dialect.name == "postgresql" else column


def states_query(s: Connection) -> sa.Select[Any]:
    """(ref, state) of every case in :func:`by_ref` order: the order of the ref's index (0014)."""
    return sa.select(CASES.c.ref, CASES.c.state).order_by(by_ref(s, CASES.c.ref))


def case_states(s: Connection, case_ref: str | None = None) -> Iterator[tuple[str, str]]:
    """(ref, state) of every case (or of ``case_ref``), streamed in :func:`by_ref` order."""
    query = states_query(s)
    if case_ref is not None:
        query = query.where(CASES.c.ref == case_ref)
    for ref, state in s.execute(query.execution_options(yield_per=repo.READ_CHUNK)):
        yield str(ref), str(state)


def chain_query(s: Connection) -> sa.Select[Any]:
    """Every record grouped by case (:func:`by_ref` order), in case_seq order: the order of the
    ``(case_ref, case_seq)`` index on both back-ends (migration 0014), so nothing is sorted."""
    return sa.select(LOG).order_by(by_ref(s, LOG.c.case_ref), LOG.c.case_seq)


def chain_records(s: Connection, case_ref: str | None = None) -> Iterator[LogRecord]:
    """:func:`chain_query`'s records (of one case: ``case_ref``), streamed (server-side cursor on
    PostgreSQL)."""
    query = chain_query(s).execution_options(yield_per=repo.READ_CHUNK)
    if case_ref is not None:
        query = query.where(LOG.c.case_ref == case_ref)
    for row in s.execute(query).mappings():
        yield record_from_row(row)


# Built once: a statement built per call leaves garbage (cloned clauses) for the collector at each call.
_BY_SEQ = sa.select(LOG).where(LOG.c.seq.in_(sa.bindparam("seqs", expanding=True))).order_by(LOG.c.seq)


def records_by_seq(s: Connection, seqs: Sequence[int]) -> Iterator[LogRecord]:
    """The records with these ``seq`` numbers (those that exist), in chunks."""
    for i in range(0, len(seqs), 500):
        for row in s.execute(_BY_SEQ, {"seqs": list(seqs[i : i + 500])}).mappings():
            yield record_from_row(row)


def checkpoints(s: Connection) -> Iterator[Checkpoint]:
    """Every checkpoint, oldest first, a few at a time (each holds every case's head)."""
    query = sa.select(CHECKPOINTS).order_by(CHECKPOINTS.c.seq).execution_options(yield_per=20)
    for row in s.execute(query).mappings():
        yield checkpoint_from_row(row)


def last_checkpoint(s: Connection) -> Checkpoint | None:
    row = s.execute(sa.select(CHECKPOINTS).order_by(CHECKPOINTS.c.seq.desc()).limit(1)).mappings().first()
    return None if row is None else checkpoint_from_row(row)


def heads(s: Connection) -> list[Head]:
    """Each case's last record, sorted by ref in Python (collations differ between back-ends)."""
    top = sa.select(LOG.c.case_ref, sa.func.max(LOG.c.case_seq).label("n")).group_by(LOG.c.case_ref).subquery()
    query = sa.select(LOG.c.case_ref, LOG.c.case_seq, LOG.c.hash).join(
        top, sa.and_(LOG.c.case_ref == top.c.case_ref, LOG.c.case_seq == top.c.n)
    )
    return sorted((str(r.case_ref), int(r.case_seq), str(r.hash)) for r in s.execute(query))


def log_totals(s: Connection) -> tuple[int, int]:
    """(number of records, highest seq)."""
    row = s.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(LOG.c.seq), 0)).select_from(LOG)).one()
    return int(row[0]), int(row[1])


def insert_checkpoint(s: Connection, cp: Checkpoint) -> int:
    values = {**cp.hashed_content(), "heads": heads_json(cp.heads), "digest": cp.digest}
    return int(s.execute(sa.insert(CHECKPOINTS).values(**values).returning(CHECKPOINTS.c.seq)).scalar_one())


def log_filter(*, since: str | None, until: str | None, case_ref: str | None) -> list[sa.ColumnElement[bool]]:
    """``since``/``until`` are UTC ``at`` bounds (inclusive, exclusive)."""
    where: list[sa.ColumnElement[bool]] = []
    if since is not None:
        where.append(LOG.c.at >= since)
    if until is not None:
        where.append(LOG.c.at < until)
    if case_ref is not None:
        where.append(LOG.c.case_ref == case_ref)
    return where


def count_records(s: Connection, where: Sequence[sa.ColumnElement[bool]]) -> int:
    return int(s.execute(sa.select(sa.func.count()).select_from(LOG).where(*where)).scalar_one())


def page(s: Connection, where: Sequence[sa.ColumnElement[bool]], after: int, limit: int) -> list[LogRecord]:
    """The next ``limit`` records after ``seq`` ``after`` (keyset pagination: constant memory)."""
    query = sa.select(LOG).where(LOG.c.seq > after, *where).order_by(LOG.c.seq).limit(limit)
    return [record_from_row(r) for r in s.execute(query).mappings()]


def protected_secrets(s: Connection, case_ref: str | None = None) -> dict[str, tuple[str, ...]]:
    """For each case of a protected organisation: its contact and address values, to mask."""
    cols = (ORGS.c.contact_name, ORGS.c.contact_email, ORGS.c.contact_phone, ORGS.c.address)
    query = (
        sa.select(CASES.c.ref, *cols).join(ORGS, ORGS.c.id == CASES.c.organisation_id).where(ORGS.c.protected.is_(True))
    )
    if case_ref is not None:
        query = query.where(CASES.c.ref == case_ref)
    out: dict[str, tuple[str, ...]] = {}
    for row in s.execute(query):
        values: Any = row[1:]
        out[str(row[0])] = tuple(str(v) for v in values if v)
    return out


AUTHENTICATED = frozenset({"oidc", "token", "system"})  # established by the service, not a local claim


def unauthenticated(s: Connection, since: str, case_ref: str | None = None) -> Iterator[dict[str, Any]]:
    """Records at or after ``since`` (UTC ISO) whose actor the server did not authenticate, in seq order."""
    query = (
        sa.select(LOG.c.seq, LOG.c.case_ref, LOG.c.case_seq, LOG.c.at, LOG.c.actor, LOG.c.trigger, LOG.c.auth)
        .where(LOG.c.at >= since)
        .order_by(LOG.c.seq)
        .execution_options(yield_per=2000)
    )
    if case_ref is not None:
        query = query.where(LOG.c.case_ref == case_ref)
    for row in s.execute(query).mappings():
        auth = json.loads(row["auth"]) if row["auth"] is not None else None
        method = auth["method"] if auth else None
        if method not in AUTHENTICATED:
            yield {
                "seq": row["seq"],
                "case_ref": row["case_ref"],
                "case_seq": row["case_seq"],
                "at": row["at"],
                "actor": row["actor"],
                "trigger": row["trigger"],
                "method": method or "(format 1: not recorded)",
                "os_user": auth.get("subject") if auth else None,
            }
