"""A database's clock: *real* (the system clock) or *simulated* (an instant stored in the database).

DESIGN.md "Timers". The mode is set when the database is created (``iop init --simulation``;
``iop db copy FILE --simulation``, on PostgreSQL ``iop db copy --simulation --to URL``, makes a
simulated copy) and never changes. On a real database
every record is dated by the system clock and ``tick --at`` takes only today (any date with
``--dry-run``). On a simulated one :class:`DatabaseClock` reads the stored instant, so every
command (CLI, ``Iop``, ``iop serve``) dates by it, and ``tick --at`` moves it forward, never back.

An injected clock (``Iop.connect(clock=...)``, as the tests' FakeClock) wins: the process dates
by it on either kind of database, and the stored clock is neither read nor moved by it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from iop_workflow.clock import REAL, SIMULATED, Clock, FakeClock, SystemClock, morning
from iop_workflow.errors import DatabaseUnavailable, UsageError
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.context import App, simulated_audit_path
from iop_workflow.settings import Settings
from iop_workflow.store import dbclock
from iop_workflow.store.engine import Database


class DatabaseClock:
    """The clock of the database ``db``: its mode is read once, a simulated instant at every call.

    The instant is read in the unit of work that is open (``Database.read`` joins it), so a
    command dates its records by the clock as that transaction sees it.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._tz = settings.tz
        self._system = SystemClock(settings.tz)
        self._mode: str | None = None

    @property
    def mode(self) -> str:
        """``real`` or ``simulated``; ``real`` (not remembered) before the schema has a clock."""
        if self._mode is None:
            found = _probe(self._db)
            if found is None:
                return REAL
            self._mode = found
        return self._mode

    def stream_of(self, db_url: str) -> Callable[[Path], Path | None]:
        """The audit sink's ``divert``: a simulated database's own file beside a shared stream, the
        shared one on a real database; None (not known yet) while the database cannot say."""

        def divert(path: Path) -> Path | None:
            try:
                found = _probe(self._db)
            except DatabaseUnavailable:
                return None
            if found is None:
                return None
            return simulated_audit_path(path, db_url) if found == SIMULATED else path

        return divert

    def forget(self) -> None:
        """Read the mode again at the next call (``iop init --simulation`` has just set it)."""
        self._mode = None

    def now(self) -> datetime:
        if self.mode == REAL:
            return self._system.now()
        with self._db.read() as s:
            state = dbclock.read(s)
        if state is None or state.now is None:  # a simulated database always stores its instant
            raise UsageError(
                problem="the simulated clock has no stored instant; run `iop init`",
                problem_sv="den simulerade klockan saknar lagrad tidpunkt; kör `iop init`",
            )
        return datetime.fromisoformat(state.now)

    def today(self) -> date:
        return self.now().astimezone(self._tz).date()


def _probe(db: Database) -> str | None:
    """The stored mode, or None when there is no database or no clock table yet."""
    name = db.engine.url.database or ""
    if db.dialect == "sqlite" and (not name or not Path(name).expanduser().exists()):
        return None  # no database yet: a probe must not create the file
    with db.read() as s:
        state = dbclock.read_if_present(s)
    return None if state is None else state.mode


def mode(app: App) -> str:
    """The database's clock mode (``real`` before schema 0012)."""
    with app.db.read() as s:
        state = dbclock.read_if_present(s)
    return REAL if state is None else state.mode


def settle(app: App, *, simulation: bool, start: date | None = None) -> str:
    """At ``iop init`` (after the migrations): make a database without records simulated when asked.

    Its clock starts at ``start`` (09:00 local), else at this process's now.

    A database that holds records keeps its mode: a real one cannot become simulated (its log
    is dated by the system clock), so ``simulation`` on it is refused (exit 2, nothing written).
    """
    with app.db.write() as s:
        state = dbclock.read(s)
        assert state is not None  # the migrations have just created it
        if not simulation or state.mode == SIMULATED:
            return state.mode
        if dbclock.last_at(s) is not None:
            raise UsageError(
                problem="this database holds records dated by the system clock and stays real; make a simulated "
                "copy with `iop db copy FILE --simulation`",
                problem_sv="databasen har poster daterade med systemklockan och förblir verklig; gör en simulerad "
                "kopia med `iop db copy FIL --simulation`",
            )
        first = morning(start, app.settings.tz) if start is not None else app.clock.now()
        dbclock.write(s, mode=SIMULATED, now=utc_iso(first))
    if isinstance(app.clock, DatabaseClock):
        app.clock.forget()
    return SIMULATED


def tick_clock(app: App, day: date, *, dry_run: bool) -> Clock | None:
    """Prepare ``tick --at DAY``: a clock for a dry run, else None once the database's clock is at ``day``.

    Dry run: any date, nothing written (a FakeClock at 09:00 local on ``day``). Real database:
    only today. Simulated database: the stored clock moves forward to ``day`` (:func:`advance`).
    An injected clock: only its date (the stored clock is neither read nor moved).
    """
    if dry_run:
        return FakeClock(morning(day, app.settings.tz), app.settings.tz)
    injected = not isinstance(app.clock, DatabaseClock)  # it wins: the stored clock is not moved by it
    if not injected and mode(app) == SIMULATED:
        advance(app, day)
        return None
    today = app.clock.today()
    if day != today and injected:
        raise UsageError(
            problem=f"--at {day} is not the injected clock's date {today}; move that clock instead",
            problem_sv=f"--at {day} är inte den injicerade klockans datum {today}; flytta den klockan",
        )
    if day != today:
        raise UsageError(
            problem=f"--at {day} is not today ({today}): this database's clock is real, so records are dated by "
            "the system clock; use --dry-run to look at another date, or a simulated copy "
            "(`iop db copy FILE --simulation`)",
            problem_sv=f"--at {day} är inte i dag ({today}): databasens klocka är verklig och poster dateras med "
            "systemklockan; använd --dry-run för att titta på ett annat datum, eller en simulerad kopia "
            "(`iop db copy FIL --simulation`)",
        )
    return None


def advance(app: App, day: date) -> None:
    """Move a simulated database's stored clock to 09:00 local on ``day`` (it stays when already on ``day``).

    An earlier date is refused naming the stored one (UsageError, exit 2, nothing written); so is a
    real database, whose clock is the system's.
    """
    tz = app.settings.tz
    with app.db.write() as s:
        state = dbclock.read_if_present(s)
        if state is None or state.mode != SIMULATED or state.now is None:
            raise UsageError(
                problem="this database's clock is real: only a simulated database's clock moves",
                problem_sv="databasens klocka är verklig: bara en simulerad databas klocka flyttas",
            )
        stored_day = datetime.fromisoformat(state.now).astimezone(tz).date()
        if day < stored_day:
            raise UsageError(
                problem=f"--at {day} is before the simulated clock's date {stored_day}: time only moves forward",
                problem_sv=f"--at {day} ligger före den simulerade klockans datum {stored_day}: tiden går bara framåt",
            )
        if day > stored_day:
            dbclock.write(s, mode=SIMULATED, now=utc_iso(morning(day, tz)))


def copy_starts_at(mode: str | None, stored: str | None, system_now: str) -> str:
    """The instant a simulated copy's clock starts at (UTC ISO): the source's now.

    A simulated source's now is its stored instant; a real source's (or one without a stored
    instant) is the system clock's ``system_now``. Both back-ends' copies start by this rule.
    """
    return stored if mode == SIMULATED and stored else system_now


def simulated_copy(app: App, target: Path, *, force: bool) -> dict[str, Any]:
    """``iop db copy FILE --simulation``: a consistent copy of the SQLite database, its clock simulated.

    The copy's clock starts at the source's now (:func:`copy_starts_at`). PostgreSQL copies into
    a new database: ``service/pg_copy.py``.
    """
    from iop_workflow.service import backup  # noqa: PLC0415

    start = utc_iso(SystemClock(app.settings.tz).now())
    copied: list[str] = []  # the copy's instant

    def simulate(copy: sqlite3.Connection) -> None:
        try:
            row = copy.execute("SELECT mode, now FROM db_clock WHERE id = 1").fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is None:
            raise UsageError(
                problem="the database's schema is older than this version: run `iop init` first",
                problem_sv="databasens schema är äldre än programmet: kör `iop init` först",
            )
        copied.append(copy_starts_at(row[0], row[1], start))
        copy.execute("UPDATE db_clock SET mode = ?, now = ? WHERE id = 1", (SIMULATED, copied[0]))
        copy.commit()

    result = backup.backup(app.db.url, target, force=force, mode=app.settings.files.bits, prepare=simulate)
    now = datetime.fromisoformat(copied[0])
    return {**result, "clock": SIMULATED, "now": copied[0], "today": now.astimezone(app.settings.tz).date()}
