"""Swedish working days and month arithmetic, as pure functions.

Every date a person or a file gives lies in :data:`EARLIEST` .. :data:`LATEST`
(``service/validate.py``, the guideline loader). The arithmetic here never raises:
a sum beyond ``date.min`` or ``date.max`` (only reachable from rows written before
the range was enforced) is clamped to it, so a sweep cannot fail on a date.
"""

from __future__ import annotations

import calendar as _cal
from datetime import date, timedelta
from functools import lru_cache

EARLIEST = date(1900, 1, 1)  # the documented range of every date given as input
LATEST = date(2200, 12, 31)


@lru_cache(maxsize=1)
def _calendar() -> type:
    """The library's Swedish calendar over the whole input range (by default it stops at 1953..2100).

    Imported here: reading a case (`iop case show`) never needs the calendar.
    """
    from holidays.countries.sweden import Sweden  # noqa: PLC0415

    class _Sweden(Sweden):
        start_year, end_year = EARLIEST.year, LATEST.year + 1

    return _Sweden


@lru_cache(maxsize=64)
def _swedish_holidays(year: int) -> frozenset[date]:
    # The SE calendar can list every Sunday as a holiday; weekends are handled
    # by is_working_day, so keep that off. Midsummer, Christmas and New Year's
    # eves are "de facto" holidays: not public by law, but offices are closed.
    table = _calendar()(years=year, categories=("public", "de_facto"), include_sundays=False)
    return frozenset(table.keys())


def load_years(*years: int) -> None:
    """Build the holiday tables of ``years`` now (a long-running process, before its first sweep)."""
    for year in years:
        _swedish_holidays(year)


def is_working_day(day: date) -> bool:
    """False on Saturdays, Sundays, Swedish public holidays and de facto holidays."""
    return day.weekday() < 5 and day not in _swedish_holidays(day.year)


def shift(day: date, days: int) -> date:
    """``day`` plus ``days`` (negative: minus), clamped to ``date.min`` .. ``date.max``."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


@lru_cache(maxsize=8192)  # pure, and a sweep plans many timers on the same few dates
def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the first working day after it (``date.max`` at most)."""
    while day < date.max and not is_working_day(day):
        day += timedelta(days=1)
    return day


@lru_cache(maxsize=8192)
def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic; the 31st becomes the last day of a shorter month (clamped like :func:`shift`)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if year > date.max.year:
        return date.max
    if year < date.min.year:
        return date.min
    last = _cal.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def months_between(start: date, end: date) -> int:
    """Whole calendar months a period covers, ``end`` being its last day (inclusive)."""
    after = shift(end, 1)
    months = (end.year - start.year) * 12 + (end.month - start.month) + 1
    while months > 0 and add_months(start, months) > after:
        months -= 1
    return months
