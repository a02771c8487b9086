"""Open timers against the log: ``audit verify``'s check of the ``timers`` table.

Every record that plans a case's timers holds the plan in ``data["timers"]`` (a list of
``kind``, ``due_on``, ``action``): a case's opening and each transition (the destination
state's timers; the earlier open ones are cancelled), and a correction or retraction (the
case's open timers once the deadlines it moved are planned anew). The latest such record of a case
therefore says which timers the case has, and :class:`Planned` picks it out while the
chains stream past and, as each chain ends, holds the table's rows of that case to it (the
rows streamed in the same ref order and merged, like a merge join: nothing is kept per case):

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
from iop_workflow.store import ledger

FIELD = "timer"
REPLANNING = frozenset({"record:correction", "record:retraction"})  # records that re-plan open deadlines

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
    """While records stream past, the latest planning record of each case, checked against the case's
    timer rows (``rows``: :func:`timer_rows`, in the records' ref order) when its chain ends."""

    def __init__(self, rows: Iterable[sa.RowMapping] = ()) -> None:
        self._groups = groupby(rows, key=lambda r: str(r["ref"]))
        self._group: tuple[str, list[sa.RowMapping]] | None = self._take()
        self._ref: str | None = None
        self._plan: Plan | None = None
        self.problems: list[dict[str, Any]] = []
        self._unprovable: tuple[str, int] | None = None  # the first case not checked (ref, case_seq)
        self._unprovable_count = 0

    def _take(self) -> tuple[str, list[sa.RowMapping]] | None:
        found = next(self._groups, None)
        return None if found is None else (found[0], list(found[1]))

    def watch(self, records: Iterable[LogRecord]) -> Iterator[LogRecord]:
        for rec in records:
            if rec.case_ref != self._ref:
                self._settle()
                self._ref, self._plan = rec.case_ref, None
            if plans(rec):
                logged = rec.data.get("timers")
                timers = None if not isinstance(logged, list) else tuple(_key(t) for t in logged)
                self._plan = Plan(case_seq=rec.case_seq, seq=rec.seq, at=rec.at, timers=timers)
            yield rec
        self._settle()
        self._ref, self._plan = None, None
        while self._group is not None:  # cases with timer rows and no records after the last chain
            self._check(*self._group, None)
            self._group = self._take()

    def _settle(self) -> None:
        """The chain streaming past ended: the timer rows of the cases before it have no plan; its own
        rows are held to its plan."""
        if self._ref is None:
            return
        while self._group is not None and self._group[0] < self._ref:
            self._check(*self._group, None)
            self._group = self._take()
        if self._group is not None and self._group[0] == self._ref:
            self._check(*self._group, self._plan)
            self._group = self._take()
        elif self._plan is not None and self._plan.timers:  # a plan and no timer rows at all
            self.problems.extend(
                _problem(self._ref, self._plan, "planned_timer_missing", f"{k[0]} due {k[1]} ({k[2]}): no such timer")
                for k in self._plan.timers
            )

    def _check(self, ref: str, case_rows: list[sa.RowMapping], plan: Plan | None) -> None:
        if plan is None:
            self.problems.extend(
                _problem(ref, None, "timer_not_planned", _describe(r) + ": the case has no record that plans timers")
                for r in case_rows
                if _open(r)
            )
        elif plan.timers is None:
            if any(_open(r) for r in case_rows):
                self._unprovable = self._unprovable or (ref, plan.case_seq)
                self._unprovable_count += 1
        else:
            self.problems.extend(_compare(ref, plan, case_rows))

    def warnings(self) -> list[dict[str, Any]]:
        """One warning for the cases whose open timers were planned before records held their plan."""
        if self._unprovable is None:
            return []
        ref, case_seq = self._unprovable
        return [
            {
                "case_ref": ref,
                "case_seq": case_seq,
                "field": FIELD,
                "problem": "timers_not_provable",
                "detail": f"the open timers of {self._unprovable_count} case(s) were planned by records written "
                "before records held their plan: not checked",
            }
        ]


def _key(timer: Any) -> Key:
    if not isinstance(timer, dict):
        return ("?", "?", "?")
    return (str(timer.get("kind")), str(timer.get("due_on")), str(timer.get("action")))


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


def timer_rows(s: Connection, case_ref: str | None = None) -> Iterator[sa.RowMapping]:
    """Every timer row (of ``case_ref``) with its case's ref, grouped by case in the order of
    ``ledger.chain_records``, streamed."""
    t = repo.TIMERS
    query = (
        sa.select(repo.CASES.c.ref, t.c.id, t.c.kind, t.c.due_on, t.c.action, t.c.fired_at, t.c.cancelled_at)
        .join(repo.CASES, repo.CASES.c.id == t.c.case_id)
        .order_by(ledger.by_ref(s, repo.CASES.c.ref), t.c.id)
    )
    if case_ref is not None:
        query = query.where(repo.CASES.c.ref == case_ref)
    yield from s.execute(query.execution_options(yield_per=repo.READ_CHUNK)).mappings()
