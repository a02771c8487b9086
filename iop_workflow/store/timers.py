"""Due timers for the sweep: claimed through the partial index, marked exactly once."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.store.cases import CASES, TIMER_IS_OPEN, TIMERS

_COLUMNS = (
    TIMERS.c.id,
    TIMERS.c.case_id,
    TIMERS.c.kind,
    TIMERS.c.state,
    TIMERS.c.due_on,
    TIMERS.c.action,
)


def _due_query(today: date, limit: int) -> sa.Select[Any]:
    """Open timers due on or before ``today`` with their case ref, in (due, id) order."""
    return (
        sa.select(*_COLUMNS, CASES.c.ref.label("case_ref"))
        .join(CASES, CASES.c.id == TIMERS.c.case_id)
        .where(TIMERS.c.due_on <= today, TIMER_IS_OPEN)
        .order_by(TIMERS.c.due_on, TIMERS.c.id)
        .limit(limit)
    )


def claim_due(s: Connection, today: date, *, limit: int, exclude: Collection[int] = ()) -> list[sa.RowMapping]:
    """The next ``limit`` open timers due on or before ``today``, earliest first.

    On PostgreSQL the timers and their cases are locked ``FOR UPDATE SKIP
    LOCKED``: a second sweeper takes other cases instead of waiting, and two
    timers of one case are never fired by two sweepers at once. On SQLite the
    caller's ``BEGIN IMMEDIATE`` already serialises sweepers.
    """
    query = _due_query(today, limit)
    if exclude:
        query = query.where(TIMERS.c.id.not_in(list(exclude)))
    if s.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=[TIMERS, CASES])
    return list(s.execute(query).mappings())


# The per-timer statements are built once: the sweep runs them for every timer.
_ANY_DUE = sa.select(TIMERS.c.id).where(TIMERS.c.due_on <= sa.bindparam("today"), TIMER_IS_OPEN).limit(1)
CLOSE = {
    column: sa.update(TIMERS)
    .where(TIMERS.c.id == sa.bindparam("timer_id"), TIMER_IS_OPEN)
    .values({column: sa.bindparam("now"), "outcome": sa.bindparam("outcome")})
    for column in ("fired_at", "cancelled_at")
}
_NOTE = (
    sa.update(TIMERS)
    .where(TIMERS.c.id == sa.bindparam("timer_id"), TIMER_IS_OPEN)
    .values(outcome=sa.bindparam("outcome"))
)


def any_due(s: Connection, today: date) -> bool:
    """Whether any open timer is due on or before ``today`` (one probe of the partial index)."""
    return s.execute(_ANY_DUE, {"today": today}).first() is not None


def due(s: Connection, today: date, *, batch: int = 1000) -> Iterator[sa.RowMapping]:
    """Every open timer due on or before ``today``, streamed in (due, id) order."""
    after: tuple[date, int] | None = None
    while True:
        query = _due_query(today, batch)
        if after is not None:
            query = query.where(sa.tuple_(TIMERS.c.due_on, TIMERS.c.id) > sa.tuple_(*after))
        rows = list(s.execute(query).mappings())
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1]["due_on"], rows[-1]["id"])


def upcoming(s: Connection, until: date, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Open timers due on or before ``until``, with their case, earliest first."""
    query = (
        sa.select(*_COLUMNS, CASES.c.ref.label("case_ref"), CASES.c.officer)
        .join(CASES, CASES.c.id == TIMERS.c.case_id)
        .where(TIMERS.c.due_on <= until, TIMER_IS_OPEN)
        .order_by(TIMERS.c.due_on, TIMERS.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [dict(r) for r in s.execute(query).mappings()]


def mark(s: Connection, timer_id: int, now: datetime, *, outcome: str, cancelled: bool = False) -> bool:
    """Close an open timer as fired (or cancelled); False if someone else closed it first."""
    statement = CLOSE["cancelled_at" if cancelled else "fired_at"]
    return s.execute(statement, {"timer_id": timer_id, "now": now, "outcome": outcome[:200]}).rowcount == 1


def note_failure(s: Connection, timer_id: int, outcome: str) -> None:
    """Leave an open timer open (it is retried) but say why the last attempt failed."""
    s.execute(_NOTE, {"timer_id": timer_id, "outcome": outcome[:200]})


def open_for_case(s: Connection, case_id: int) -> list[sa.RowMapping]:
    """The case's open timers (id, kind, due date, action)."""
    query = sa.select(*_COLUMNS).where(TIMERS.c.case_id == case_id, TIMER_IS_OPEN).order_by(TIMERS.c.id)
    return list(s.execute(query).mappings())
