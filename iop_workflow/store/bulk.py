"""Many cases at once: the sweep's batch path reads and writes a batch in a few statements.

Each function here is the set-wise twin of a one-case function in ``store/cases.py``
and ``store/timers.py``, with the same checks: a write that does not touch exactly
the rows it expects raises, so the caller can roll the batch back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import GENESIS
from iop_workflow.domain.facts import FACT_KINDS, CaseFacts
from iop_workflow.domain.guidelines import Guideline
from iop_workflow.store import corrections
from iop_workflow.store.cases import (
    CASES,
    INSERT_TIMER,
    LOG,
    ORGS,
    TIMER_IS_OPEN,
    TIMERS,
    UPDATE_CASE,
    log_values,
    update_params,
)
from iop_workflow.store.facts import NEEDS_GUIDELINES, assemble_facts, fact_rows_query, fact_tables, with_corrections
from iop_workflow.store.guidelines import GuidelineCache


class BulkMismatch(Exception):
    """A set-wise write touched other rows than it expected (a race the locks should prevent)."""


_IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
_CASES_BY_ID = sa.select(CASES).where(CASES.c.id.in_(_IDS))
_ORGS_BY_ID = sa.select(ORGS).where(ORGS.c.id.in_(_IDS))
_FACT_ROWS = {table: fact_rows_query(table) for table in fact_tables(FACT_KINDS)}
_HEADS = (
    sa.select(LOG.c.case_ref, sa.func.max(LOG.c.case_seq).label("case_seq"))
    .where(LOG.c.case_ref.in_(sa.bindparam("refs", expanding=True)))
    .group_by(LOG.c.case_ref)
    .subquery("heads")
)
_CHAIN_HEADS = sa.select(LOG.c.case_ref, LOG.c.case_seq, LOG.c.hash).join(
    _HEADS, sa.and_(LOG.c.case_ref == _HEADS.c.case_ref, LOG.c.case_seq == _HEADS.c.case_seq)
)
# Multi-row VALUES with RETURNING (SQLAlchemy's "insertmanyvalues"); the rows come back in no promised
# order, so each names its case: a batch holds one record per case.
_INSERT_LOG = sa.insert(LOG).returning(LOG.c.case_ref, LOG.c.seq)
# Closing timers names them in one expanding IN list: one statement for the batch.
_FIRE_TIMERS = (
    sa.update(TIMERS)
    .where(TIMERS.c.id.in_(_IDS), TIMER_IS_OPEN)
    .values(fired_at=sa.bindparam("now"), outcome=TIMERS.c.action)  # a fired timer's outcome is its action
)
_CANCEL_TIMERS = (
    sa.update(TIMERS).where(TIMERS.c.case_id.in_(_IDS), TIMER_IS_OPEN).values(cancelled_at=sa.bindparam("now"))
)


def cases_by_id(s: Connection, ids: Collection[int]) -> dict[int, sa.RowMapping]:
    return {row["id"]: row for row in s.execute(_CASES_BY_ID, {"ids": list(ids)}).mappings()}


def build_facts_many(
    s: Connection, cases: Sequence[sa.RowMapping], cache: GuidelineCache, kinds: Collection[str]
) -> dict[int, CaseFacts]:
    """``store.facts.build_facts`` for many cases: one query per fact table, not per case."""
    want = frozenset(kinds)
    ids = [case["id"] for case in cases]
    rows: dict[str, dict[int, list[sa.RowMapping]]] = {}
    for table in fact_tables(want):
        by_case: dict[int, list[sa.RowMapping]] = defaultdict(list)
        for row in s.execute(_FACT_ROWS[table], {"case_ids": ids}).mappings():
            by_case[row["case_id"]].append(row)
        rows[table] = by_case
    orgs: dict[int, sa.RowMapping] = {}
    if "organisation" in want:
        org_ids = list({case["organisation_id"] for case in cases})
        orgs = {row["id"]: row for row in s.execute(_ORGS_BY_ID, {"ids": org_ids}).mappings()}
    municipal: dict[str, dict[int, Guideline]] = {}
    if want & NEEDS_GUIDELINES:
        for name in {case["municipality"] for case in cases}:
            municipal[name] = cache.for_municipality(s, name)
    fixes = corrections.fixes_for(s, ids) if rows else {}
    out = {}
    for case in cases:
        mine = {table: by_case.get(case["id"], ()) for table, by_case in rows.items()}
        out[case["id"]] = assemble_facts(
            s, case, cache, want,
            org=orgs[case["organisation_id"]] if orgs else None,
            rows=with_corrections(mine, fixes),
            municipal=municipal.get(case["municipality"]) if municipal else None,
        )  # fmt: skip
    return out


def chain_heads(s: Connection, refs: Collection[str]) -> dict[str, tuple[int, str]]:
    """Each case's last (case_seq, hash); a case without records starts at (0, genesis)."""
    found = {row.case_ref: (int(row.case_seq), str(row.hash)) for row in s.execute(_CHAIN_HEADS, {"refs": list(refs)})}
    return {ref: found.get(ref, (0, GENESIS)) for ref in refs}


def _expect(result: sa.CursorResult[Any], expected: int, what: str) -> None:
    if result.rowcount != expected:
        raise BulkMismatch(f"{what}: {result.rowcount} rows changed, {expected} expected")


def mark_fired(s: Connection, timer_ids: Sequence[int], now: datetime) -> None:
    """Close the open timers ``timer_ids`` as fired (outcome: their action); every one must still be open."""
    if timer_ids:
        _expect(s.execute(_FIRE_TIMERS, {"ids": list(timer_ids), "now": now}), len(timer_ids), "marking timers fired")


def update_cases(s: Connection, updates: Sequence[tuple[sa.RowMapping, Mapping[str, Any]]]) -> None:
    """Write each case's new values if it still has the version read; bump the version.

    One executemany per set of columns (the statement's SET clause follows the parameters).
    """
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for case, values in updates:
        params = update_params(case, values)
        groups[tuple(sorted(params))].append(params)
    for params_list in groups.values():
        _expect(s.execute(UPDATE_CASE, params_list), len(params_list), "updating cases")


def insert_logs(s: Connection, records: Sequence[tuple[Mapping[str, Any], str]]) -> list[int]:
    """Insert records given as (hashed content, hash), at most one per case; their seqs, in order."""
    if not records:
        return []
    rows = [log_values(content, digest) for content, digest in records]
    seqs = {row.case_ref: int(row.seq) for row in s.execute(_INSERT_LOG, rows)}
    if len(seqs) != len(rows):
        raise BulkMismatch(f"inserting log records: {len(seqs)} seqs for {len(rows)} records (one per case)")
    return [seqs[row["case_ref"]] for row in rows]


def replace_timers(s: Connection, case_ids: Collection[int], new: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """Cancel the open timers of ``case_ids`` and insert the ``new`` timer rows."""
    if case_ids:
        s.execute(_CANCEL_TIMERS, {"ids": list(case_ids), "now": now})
    if new:
        s.execute(INSERT_TIMER, list(new))
