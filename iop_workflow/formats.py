"""How people read money, numbers, dates and times (Babel, CLDR data): the one place that formats them.

Swedish (``sv_SE``) by default, English (``en_GB``) with ``lang="en"``: ``470 000,00 kr`` /
``SEK 470,000.00``. Times are shown in local time (the settings' ``tz``, Europe/Stockholm
by default). Machine output (``--json``, HTTP, logs, audit export) keeps UTC ISO 8601 and
plain decimals, and never comes here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

LOCALES = {"sv": "sv_SE", "en": "en_GB"}
STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Units of a contribution that are money (formatted as currency); other units are numbers with the unit.
MONEY_UNITS = frozenset({"SEK", "kr"})


def locale(lang: str) -> str:
    return LOCALES["en" if lang == "en" else "sv"]


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value: object, lang: str, currency: str = "SEK") -> str:
    """``470 000,00 kr`` (sv), ``470,000.00 SEK`` (en); a value that is no number is shown as it is."""
    from babel.numbers import format_currency  # noqa: PLC0415

    amount = _decimal(value)
    if amount is None:
        return str(value)
    if lang == "en":
        return _plain(format_currency(amount, currency, format="#,##0.00 ¤¤", locale=locale(lang)))
    return _plain(format_currency(amount, currency, locale=locale(lang)))


def _plain(text: str) -> str:
    """Babel's no-break spaces as plain ones: terminal output and pasted examples compare as typed."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def number(value: object, lang: str) -> str:
    """``3 000`` or ``3 000,5`` (sv): thousands grouped, no decimals that are zero."""
    from babel.numbers import format_decimal  # noqa: PLC0415

    amount = _decimal(value)
    if amount is None:
        return str(value)
    shown = amount.quantize(Decimal(1)) if amount == amount.to_integral() else amount.normalize()
    return _plain(format_decimal(shown, locale=locale(lang)))


def amount(value: object, unit: str, lang: str) -> str:
    """A contribution's amount with its unit: money as currency, anything else as a number and the unit."""
    if unit in MONEY_UNITS:
        return money(value, lang)
    return f"{number(value, lang)} {unit}".strip()


def day(value: date | str | None, lang: str = "sv") -> str:
    """A business date: Swedish CLDR short form ``2024-04-01`` (as case files write it); ISO in English too."""
    from babel.dates import format_date  # noqa: PLC0415

    if value is None or value == "":
        return ""
    when = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return when.isoformat() if lang == "en" else format_date(when, "short", locale=locale(lang))


def local_time(value: datetime | str | None, tz: ZoneInfo = STOCKHOLM) -> str:
    """A stored UTC instant in local time, to the second: ``2024-04-01 11:00:00``."""
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
