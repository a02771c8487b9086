"""The injected clock. Only :class:`SystemClock` reads the real time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")

# A database's clock (DESIGN.md "Timers"): the system clock, or an instant stored in the database.
REAL = "real"
SIMULATED = "simulated"


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
        self.set(morning(day, self._tz))


def morning(day: date, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """09:00 local time on ``day``: where a simulated clock (and ``FakeClock.set_date``) lands on a new day."""
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=tz)
