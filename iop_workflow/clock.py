"""The injected clock. Only :class:`SystemClock` reads the real time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Clock(Protocol):
    """Gives the current instant (aware, UTC) and the local date of the municipality."""

    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """The real clock: UTC instants, local dates in the configured time zone."""

    def __init__(self, tz: ZoneInfo = STOCKHOLM) -> None:
        self._tz = tz

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return datetime.now(self._tz).date()


class ClockWentBackwards(ValueError):
    """A FakeClock was asked to go back in time."""


class FakeClock:
    """A clock for tests and simulations: set or advanced by hand, never backwards."""

    def __init__(self, start: datetime, tz: ZoneInfo = STOCKHOLM) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._tz = tz

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.astimezone(self._tz).date()

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ClockWentBackwards(f"cannot advance by a negative {delta}")
        self._now += delta

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        when = when.astimezone(UTC)
        if when < self._now:
            raise ClockWentBackwards(f"{when.isoformat()} is before {self._now.isoformat()}")
        self._now = when

    def set_date(self, day: date) -> None:
        """Move to 09:00 local time on ``day``."""
        self.set(datetime(day.year, day.month, day.day, 9, 0, tzinfo=self._tz))


class ShiftedClock:
    """Another clock moved by a fixed number of days: ``iop scheduler tick --at DATE``.

    Time still runs (instants stay ordered); only the date is moved, so a sweep
    "as of" a later date behaves as it will on that day.
    """

    def __init__(self, base: Clock, days: int) -> None:
        self._base = base
        self._shift = timedelta(days=days)

    def now(self) -> datetime:
        return self._base.now() + self._shift

    def today(self) -> date:
        return self._base.today() + self._shift
