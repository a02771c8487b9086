"""Reading and writing cases: the facts snapshot, the version check, the log, timers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import GENESIS, LogRecord
from iop_workflow.domain.timers import PlannedTimer
from iop_workflow.errors import ConcurrentUpdate, NotFound
from iop_workflow.store.tables import (
    Agreement,
    Assessment,
    Case,
    CaseRefCounter,
    Contribution,
    Decision,
    LegalCheck,
    Meeting,
    Organisation,
    Review,
    Timer,
    TransitionLog,
    WorkflowVersion,
)

CASES = Case.__table__  # type: ignore[attr-defined]
ORGS = Organisation.__table__  # type: ignore[attr-defined]
LOG = TransitionLog.__table__  # type: ignore[attr-defined]
TIMERS = Timer.__table__  # type: ignore[attr-defined]
COUNTERS = CaseRefCounter.__table__  # type: ignore[attr-defined]
FACT_TABLES = {
    "meetings": Meeting.__table__,  # type: ignore[attr-defined]
    "assessments": Assessment.__table__,  # type: ignore[attr-defined]
    "legal_checks": LegalCheck.__table__,  # type: ignore[attr-defined]
    "agreements": Agreement.__table__,  # type: ignore[attr-defined]
    "contributions": Contribution.__table__,  # type: ignore[attr-defined]
    "decisions": Decision.__table__,  # type: ignore[attr-defined]
    "reviews": Review.__table__,  # type: ignore[attr-defined]
}


# The write path's statements, built once: each execution then only binds its parameters, and
# SQLAlchemy finds the compiled form in its cache without rebuilding or re-keying a statement.
_CASE_BY_REF = sa.select(CASES).where(CASES.c.ref == sa.bindparam("ref"))
_CASE_BY_REF_LOCKED = _CASE_BY_REF.with_for_update()
_CASE_BY_ID = sa.select(CASES).where(CASES.c.id == sa.bindparam("case_id"))
_CASES_BY_ID = sa.select(CASES).where(CASES.c.id.in_(sa.bindparam("case_ids", expanding=True)))
_ORG_BY_ID = sa.select(ORGS).where(ORGS.c.id == sa.bindparam("org_id"))
_ORG_BY_NUMBER = sa.select(ORGS).where(ORGS.c.org_number == sa.bindparam("org_number"))
# SET takes the columns named in the parameters; the WHERE names are no column's.
UPDATE_CASE = sa.update(CASES).where(CASES.c.id == sa.bindparam("w_id"), CASES.c.version == sa.bindparam("w_version"))
_CASE_VERSION = sa.select(CASES.c.version).where(CASES.c.id == sa.bindparam("case_id"))
_CHAIN_HEAD = (
    sa.select(LOG.c.case_seq, LOG.c.hash, LOG.c.at)
    .where(LOG.c.case_ref == sa.bindparam("ref"))
    .order_by(LOG.c.case_seq.desc())
    .limit(1)
)  # one probe of the unique (case_ref, case_seq) index
LOG_LAST_AT = sa.select(LOG.c.at).order_by(LOG.c.seq.desc()).limit(1)  # the last record's ``at`` in the log's order
_CHAIN = _CHAIN_HEAD.subquery()
_LOG_LAST = LOG_LAST_AT.subquery()
# The chain's head and the log's last ``at`` in one statement (an empty log: no row).
_APPEND_POINT = sa.select(_CHAIN.c.case_seq, _CHAIN.c.hash, _CHAIN.c.at, _LOG_LAST.c.at.label("log_at")).select_from(
    _LOG_LAST.outerjoin(_CHAIN, sa.true())
)
_INSERT_LOG = sa.insert(LOG).returning(LOG.c.seq)
# A timer neither fired nor cancelled (the predicate of the partial index ix_timers_open_due).
READ_CHUNK = 500  # rows a streamed read fetches at a time (yield_per: a server-side cursor on PostgreSQL)
TIMER_IS_OPEN = sa.and_(TIMERS.c.fired_at.is_(None), TIMERS.c.cancelled_at.is_(None))
CANCEL_TIMERS = sa.update(TIMERS).where(TIMERS.c.case_id == sa.bindparam("w_case_id"), TIMER_IS_OPEN)
INSERT_TIMER = sa.insert(TIMERS)
_BUMP_COUNTER = (
    sa.update(COUNTERS)
    .where(COUNTERS.c.year == sa.bindparam("w_year"))
    .values(last=COUNTERS.c.last + 1)
    .returning(COUNTERS.c.last)
)
_INSERT_COUNTER = sa.insert(COUNTERS)
_WORKFLOW_VERSIONS = WorkflowVersion.__table__  # type: ignore[attr-defined]
_WORKFLOW_VERSION = sa.select(_WORKFLOW_VERSIONS.c.version).where(
    _WORKFLOW_VERSIONS.c.version == sa.bindparam("w_version")
)
_INSERT_WORKFLOW_VERSION = sa.insert(_WORKFLOW_VERSIONS)


def case_row(s: Connection, ref: str, *, lock: bool = False) -> sa.RowMapping:
    """The case ``ref``; ``lock``: FOR UPDATE until commit on PostgreSQL (SQLite's write lock is already held)."""
    row = s.execute(_CASE_BY_REF_LOCKED if lock else _CASE_BY_REF, {"ref": ref}).first()
    if row is None:
        raise NotFound(kind="case", key=ref)
    return row._mapping


def case_row_by_id(s: Connection, case_id: int) -> sa.RowMapping:
    """The case a row refers to by id (a timer's case: it exists, the foreign key says so)."""
    return s.execute(_CASE_BY_ID, {"case_id": case_id}).mappings().one()


def case_rows_by_id(s: Connection, case_ids: Iterable[int]) -> dict[int, sa.RowMapping]:
    """The cases with these ids, by id, in one statement (the sweep's batch: each claimed timer's case)."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    return {int(row["id"]): row for row in s.execute(_CASES_BY_ID, {"case_ids": ids}).mappings()}


def org_row(s: Connection, *, org_id: int | None = None, org_number: str | None = None) -> sa.RowMapping:
    if org_id is not None:
        row = s.execute(_ORG_BY_ID, {"org_id": org_id}).mappings().first()
    else:
        row = s.execute(_ORG_BY_NUMBER, {"org_number": org_number}).mappings().first()
    if row is None:
        raise NotFound(kind="organisation", key=str(org_number if org_id is None else org_id))
    return row


def next_case_number(s: Connection, year: int) -> int:
    """The next number of ``year``'s counter (row-locked by the UPDATE until commit)."""
    bumped = s.execute(_BUMP_COUNTER, {"w_year": year}).scalar()
    if bumped is not None:
        return int(bumped)
    s.execute(_INSERT_COUNTER, {"year": year, "last": 1})
    return 1


def update_case(s: Connection, case: sa.RowMapping, values: dict[str, Any]) -> int:
    """Write ``values`` if the case still has the version we read; return the new version."""
    params = update_params(case, values)
    result = s.execute(UPDATE_CASE, params)
    if result.rowcount != 1:
        found = s.execute(_CASE_VERSION, {"case_id": case["id"]}).scalar()
        raise ConcurrentUpdate(case_ref=case["ref"], expected_version=case["version"], found_version=found)
    return int(params["version"])


def update_params(case: sa.RowMapping, values: Mapping[str, Any]) -> dict[str, Any]:
    """``UPDATE_CASE``'s parameters: the new values and version, if the case still has the version read."""
    return {**values, "version": int(case["version"]) + 1, "w_id": case["id"], "w_version": case["version"]}


def chain_head(s: Connection, ref: str) -> tuple[int, str, str | None]:
    """(case_seq, hash, at) of the chain's last record; (0, GENESIS, None) for a new chain."""
    row = s.execute(_CHAIN_HEAD, {"ref": ref}).first()
    return (0, GENESIS, None) if row is None else (int(row.case_seq), str(row.hash), str(row.at))


class AppendPoint(NamedTuple):
    """Where a new record goes: its chain's last (case_seq, hash, at), and the ``at`` of the log's last record."""

    case_seq: int  # 0 for a new chain
    hash: str  # GENESIS for a new chain
    chain_at: str | None
    log_at: str | None


def append_point(s: Connection, ref: str) -> AppendPoint:
    """The head of chain ``ref`` and the log's last ``at``, read together (two index probes, one statement)."""
    row = s.execute(_APPEND_POINT, {"ref": ref}).first()
    if row is None:
        return AppendPoint(0, GENESIS, None, None)
    if row.case_seq is None:
        return AppendPoint(0, GENESIS, None, str(row.log_at))
    return AppendPoint(int(row.case_seq), str(row.hash), str(row.at), str(row.log_at))


def insert_log(s: Connection, rec: LogRecord) -> int:
    return insert_log_content(s, rec.hashed_content(), rec.hash)


def insert_log_content(s: Connection, content: Mapping[str, Any], digest: str) -> int:
    """Insert a record given as its hashed content (``LogRecord.hashed_content``) and hash; its seq."""
    return int(s.execute(_INSERT_LOG, log_values(content, digest)).scalar_one())


def log_values(content: Mapping[str, Any], digest: str) -> dict[str, Any]:
    """A record's row: its hashed content with the JSON fields as text, and its hash."""
    values = dict(content)
    values["roles"] = json.dumps(values["roles"], ensure_ascii=False)
    values["data"] = json.dumps(values["data"], sort_keys=True, ensure_ascii=False, default=str)
    values["hash"] = digest
    # Format 1 records hash neither field; the columns hold NULL and 1 for them.
    auth = values.pop("auth", None)
    values["auth"] = None if auth is None else json.dumps(auth, sort_keys=True, ensure_ascii=False)
    values["record_format"] = values.pop("format", 1)
    return values


def cancel_open_timers(s: Connection, case_id: int, now: datetime) -> None:
    s.execute(CANCEL_TIMERS, {"cancelled_at": now, "w_case_id": case_id})


def insert_timers(s: Connection, case_id: int, state: str, timers: Iterable[PlannedTimer], now: datetime) -> None:
    rows = timer_rows(case_id, state, timers, now)
    if rows:
        s.execute(INSERT_TIMER, rows)


def timer_rows(case_id: int, state: str, timers: Iterable[PlannedTimer], now: datetime) -> list[dict[str, Any]]:
    """The rows of the timers ``state`` planned for case ``case_id``."""
    return [
        {"case_id": case_id, "kind": t.kind, "state": state, "due_on": t.due_on, "action": t.action, "planned_at": now}
        for t in timers
    ]


_OPEN_TIMERS = (
    sa.select(TIMERS.c.kind, TIMERS.c.due_on, TIMERS.c.action)
    .where(TIMERS.c.case_id == sa.bindparam("case_id"), TIMER_IS_OPEN)
    .order_by(TIMERS.c.due_on, TIMERS.c.id)
)


def open_timers(s: Connection, case_id: int) -> list[dict[str, Any]]:
    return [timer_view(r.kind, r.due_on, r.action) for r in s.execute(_OPEN_TIMERS, {"case_id": case_id})]


def timer_view(kind: str, due_on: date, action: str) -> dict[str, Any]:
    """An open timer as a case's view shows it."""
    return {"kind": kind, "due_on": due_on.isoformat(), "action": action}


def insert_fact(s: Connection, table: str, values: dict[str, Any]) -> int:
    t = FACT_TABLES[table]
    return int(s.execute(sa.insert(t).values(**values).returning(t.c.id)).scalar_one())


def ensure_workflow_version(s: Connection, version: str, name: str, content: str, now: datetime) -> None:
    if s.execute(_WORKFLOW_VERSION, {"w_version": version}).first() is None:
        s.execute(_INSERT_WORKFLOW_VERSION, {"version": version, "name": name, "content": content, "loaded_at": now})


def as_iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
