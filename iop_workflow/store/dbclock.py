"""The ``db_clock`` row: the database's clock mode, its stored instant and the time-order cut-over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.store import cases as repo
from iop_workflow.store.audit_tables import DB_CLOCK
from iop_workflow.store.cases import LOG

_ROW = sa.select(DB_CLOCK.c.mode, DB_CLOCK.c.now, DB_CLOCK.c.ordered_from_seq).where(DB_CLOCK.c.id == 1)


class ClockState(NamedTuple):
    mode: str
    now: str | None  # UTC ISO (``changes.utc_iso``); a simulated database's instant
    ordered_from_seq: int


def read(s: Connection) -> ClockState | None:
    """The row, or None before schema 0012."""
    row = s.execute(_ROW).first()
    return None if row is None else ClockState(str(row[0]), row[1], int(row[2]))


def read_if_present(s: Connection) -> ClockState | None:
    """The row, or None before schema 0012 (asked of the catalogue first: a failed statement would
    abort the open PostgreSQL transaction)."""
    return read(s) if sa.inspect(s).has_table(DB_CLOCK.name) else None


def ordered_from(s: Connection) -> int | None:
    """The time-order cut-over (the first ``seq`` written under the rule), None before schema 0012."""
    state = read_if_present(s)
    return None if state is None else state.ordered_from_seq


def write(s: Connection, *, mode: str, now: str | None) -> None:
    s.execute(sa.update(DB_CLOCK).where(DB_CLOCK.c.id == 1).values(mode=mode, now=now))


def last_at(s: Connection) -> str | None:
    """The ``at`` of the last record in the global order (highest ``seq``)."""
    found = s.execute(repo.LOG_LAST_AT).scalar()
    return None if found is None else str(found)


def order(s: Connection) -> Iterator[tuple[int | None, str, int, str]]:
    """(seq, case_ref, case_seq, at) of every record in the global order, streamed."""
    query = sa.select(LOG.c.seq, LOG.c.case_ref, LOG.c.case_seq, LOG.c.at).order_by(LOG.c.seq)
    for seq, ref, case_seq, at in s.execute(query.execution_options(yield_per=repo.READ_CHUNK)):
        yield int(seq), str(ref), int(case_seq), str(at)
