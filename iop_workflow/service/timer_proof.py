"""Open timers against the log: ``audit verify``'s check of the ``timers`` table.

Every record that plans a case's timers holds the plan in ``data["timers"]`` (a list of
``kind``, ``due_on``, ``action``): a case's opening and each transition (the destination
state's timers; the earlier open ones are cancelled), and a correction or retraction (the
case's open timers once the deadlines it moved are planned anew). The latest such record of a case
therefore says which timers the case has, and :class:`Planned` picks it out while the
chains stream past. :func:`check` then holds the table to it:

- every open timer row is one the record planned (kind, due day and action), once;
- every timer the record planned is open, or was closed on or after its due day and
  after the record (as the sweep closes a due timer: fired, failed, refused or skipped).

A case whose latest planning record was written before records held their plan is not
checked; one warning says how many such cases have open timers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord
from iop_workflow.service.changes import utc_iso
from iop_workflow.store import cases as repo

FIELD = "timer"
REPLANNING = frozenset({"record:correction", "record:retraction"})  # records that re-plan open deadlines
_CHUNK = 2000

Key = tuple[str, str, str]  # kind, due day (ISO), action


@dataclass(frozen=True, slots=True)
class Plan:
    case_seq: int
    seq: int | None
    at: str
    timers: tuple[Key, ...] | None  # None: written before records held their plan


def plans(rec: LogRecord) -> bool:
    """Whether ``rec`` (re)plans its case's timers."""
    if rec.case_ref.startswith("@"):  # the administration and guideline chains plan no timers
        return False
    return not rec.trigger.startswith("record:") or rec.trigger in REPLANNING


class Planned:
    """While records stream past, the latest planning record of each case."""

    def __init__(self) -> None:
        self.latest: dict[str, Plan] = {}

    def watch(self, records: Iterable[LogRecord]) -> Iterator[LogRecord]:
        for rec in records:
            if plans(rec):
                logged = rec.data.get("timers")
                timers = None if not isinstance(logged, list) else tuple(_key(t) for t in logged)
                self.latest[rec.case_ref] = Plan(case_seq=rec.case_seq, seq=rec.seq, at=rec.at, timers=timers)
            yield rec


def _key(timer: Any) -> Key:
    if not isinstance(timer, dict):
        return ("?", "?", "?")
    return (str(timer.get("kind")), str(timer.get("due_on")), str(timer.get("action")))


Found = list[dict[str, Any]]


def check(s: Connection, planned: Planned, *, case_ref: str | None = None) -> tuple[Found, Found]:
    """(problems, warnings): each timer row that differs from its case's latest plan, each planned timer missing."""
    problems: list[dict[str, Any]] = []
    unprovable: list[str] = []
    seen: set[str] = set()
    for ref, rows in groupby(_rows(s, case_ref), key=lambda r: str(r["ref"])):
        seen.add(ref)
        plan = planned.latest.get(ref)
        case_rows = list(rows)
        if plan is None:
            problems.extend(
                _problem(ref, None, "timer_not_planned", _describe(r) + ": the case has no record that plans timers")
                for r in case_rows
                if _open(r)
            )
        elif plan.timers is None:
            if any(_open(r) for r in case_rows):
                unprovable.append(ref)
        else:
            problems.extend(_compare(ref, plan, case_rows))
    for ref, plan in planned.latest.items():  # cases with a plan and no timer rows at all
        if ref not in seen and plan.timers:
            problems.extend(
                _problem(ref, plan, "planned_timer_missing", f"{k[0]} due {k[1]} ({k[2]}): no such timer")
                for k in plan.timers
            )
    warnings = []
    if unprovable:
        warnings.append(
            {
                "case_ref": unprovable[0],
                "case_seq": planned.latest[unprovable[0]].case_seq,
                "field": FIELD,
                "problem": "timers_not_provable",
                "detail": f"the open timers of {len(unprovable)} case(s) were planned by records written "
                "before records held their plan: not checked",
            }
        )
    return problems, warnings


def _compare(ref: str, plan: Plan, rows: list[sa.RowMapping]) -> Iterator[dict[str, Any]]:
    assert plan.timers is not None
    left = Counter(plan.timers)
    for row in rows:
        if not _open(row):
            continue
        key = _row_key(row)
        if left[key] > 0:
            left[key] -= 1
        else:
            yield _problem(
                ref, plan, "timer_not_planned", f"{_describe(row)} is open but record #{plan.case_seq} did not plan it"
            )
    for key, count in left.items():
        closed = [r for r in rows if not _open(r) and _row_key(r) == key and _closed_when_due(r, plan)]
        for _ in range(count - len(closed)):
            yield _problem(
                ref,
                plan,
                "planned_timer_missing",
                f"{key[0]} due {key[1]} ({key[2]}), planned by record "
                f"#{plan.case_seq}, is neither open nor closed on or after its due day",
            )


def _closed_when_due(row: sa.RowMapping, plan: Plan) -> bool:
    closed = row["fired_at"] or row["cancelled_at"]
    return closed is not None and utc_iso(closed) >= plan.at and utc_iso(closed)[:10] >= _iso(row["due_on"])


def _open(row: sa.RowMapping) -> bool:
    return row["fired_at"] is None and row["cancelled_at"] is None


def _row_key(row: sa.RowMapping) -> Key:
    return (str(row["kind"]), _iso(row["due_on"]), str(row["action"]))


def _iso(day: date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()


def _describe(row: sa.RowMapping) -> str:
    return f"timer {row['id']} ({row['kind']} due {_iso(row['due_on'])}, {row['action']})"


def _problem(ref: str, plan: Plan | None, code: str, detail: str) -> dict[str, Any]:
    return {
        "case_ref": ref,
        "case_seq": plan.case_seq if plan else None,
        "seq": plan.seq if plan else None,
        "field": FIELD,
        "problem": code,
        "detail": detail,
    }


def _rows(s: Connection, case_ref: str | None) -> Iterator[sa.RowMapping]:
    t = repo.TIMERS
    query = (
        sa.select(repo.CASES.c.ref, t.c.id, t.c.kind, t.c.due_on, t.c.action, t.c.fired_at, t.c.cancelled_at)
        .join(repo.CASES, repo.CASES.c.id == t.c.case_id)
        .order_by(repo.CASES.c.ref, t.c.id)
    )
    if case_ref is not None:
        query = query.where(repo.CASES.c.ref == case_ref)
    yield from s.execute(query.execution_options(yield_per=_CHUNK)).mappings()
