"""Swedish working days and month arithmetic, as pure functions."""

from __future__ import annotations

import calendar as _cal
from datetime import date, timedelta
from functools import lru_cache


@lru_cache(maxsize=64)
def _swedish_holidays(year: int) -> frozenset[date]:
    # The SE calendar can list every Sunday as a holiday; weekends are handled
    # by is_working_day, so keep that off. Midsummer, Christmas and New Year's
    # eves are "de facto" holidays: not public by law, but offices are closed.
    # holidays exports its country classes lazily, which mypy cannot see. It is
    # imported here: reading a case (`iop case show`) never needs the calendar.
    import holidays  # noqa: PLC0415

    table = holidays.SE(years=year, categories=("public", "de_facto"), include_sundays=False)  # type: ignore[attr-defined]
    return frozenset(table.keys())


def load_years(*years: int) -> None:
    """Build the holiday tables of ``years`` now (a long-running process, before its first sweep)."""
    for year in years:
        _swedish_holidays(year)


def is_working_day(day: date) -> bool:
    """False on Saturdays, Sundays, Swedish public holidays and de facto holidays."""
    return day.weekday() < 5 and day not in _swedish_holidays(day.year)


@lru_cache(maxsize=8192)  # pure, and a sweep plans many timers on the same few dates
def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


@lru_cache(maxsize=8192)
def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic; the 31st becomes the last day of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = _cal.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def months_between(start: date, end: date) -> int:
    """Whole calendar months a period covers, ``end`` being its last day (inclusive)."""
    after = end + timedelta(days=1)
    months = (end.year - start.year) * 12 + (end.month - start.month) + 1
    while months > 0 and add_months(start, months) > after:
        months -= 1
    return months
