"""Checks of user-supplied values: each failure is an InvalidInput naming the field."""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from iop_workflow.domain.calendar import EARLIEST, LATEST
from iop_workflow.errors import InvalidInput

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_UTF8 = re.compile("[\ufffd\ud800-\udfff]")  # replacement characters, lone surrogates
E = TypeVar("E", bound=StrEnum)
MAX_TEXT = 10_000
MAX_AMOUNT = Decimal("999999999999.99")


def text(field: str, value: object, *, required: bool = True, max_len: int = MAX_TEXT) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(field=field, value=value, problem_sv="måste vara text", problem_en="must be text")
    value = value.strip()
    if required and not value:
        raise InvalidInput(field=field, value=value, problem_sv="får inte vara tomt", problem_en="must not be empty")
    if len(value) > max_len:
        raise InvalidInput(
            field=field,
            value=value,
            problem_sv=f"är {len(value)} tecken långt; högst {max_len} tillåts",
            problem_en=f"is {len(value)} characters long; at most {max_len} are allowed",
        )
    if _CONTROL.search(value):
        raise InvalidInput(
            field=field,
            value=value,
            problem_sv="innehåller styrtecken",
            problem_en="contains control characters",
        )
    if _NOT_UTF8.search(value):
        raise InvalidInput(
            field=field,
            value=value,
            problem_sv="innehåller tecken som inte är giltig UTF-8",
            problem_en="contains characters that are not valid UTF-8",
        )
    return value


def optional_text(field: str, value: object, *, max_len: int = MAX_TEXT) -> str | None:
    cleaned = text(field, value, required=False, max_len=max_len)
    return cleaned or None


def day(field: str, value: object) -> date:
    """A date given as input: ``YYYY-MM-DD`` (or a date), within EARLIEST..LATEST (1900-01-01..2200-12-31).

    The one gate every date from a person, a batch file or the HTTP API passes: so no
    deadline computed from it can leave the calendar (``domain/calendar.py``).
    """
    parsed: date | None = None
    if isinstance(value, date):
        parsed = value.date() if isinstance(value, datetime) else value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = date.fromisoformat(value.strip())
    if parsed is None:
        raise InvalidInput(
            field=field,
            value=value,
            problem_sv="är inget giltigt datum (ÅÅÅÅ-MM-DD)",
            problem_en="is not a valid date (YYYY-MM-DD)",
        )
    return in_range(field, parsed)


def in_range(field: str, value: date) -> date:
    """``value`` if it lies within the documented range of input dates, else InvalidInput naming the bounds."""
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput(
            field=field,
            value=value.isoformat(),
            problem_sv=f"ligger utanför det tillåtna intervallet {EARLIEST} – {LATEST}",
            problem_en=f"is outside the accepted range {EARLIEST} to {LATEST}",
        )
    return value


def choice(field: str, value: object, enum: type[E]) -> E:
    try:
        return enum(str(value))
    except ValueError:
        known = ", ".join(e.value for e in enum)
        raise InvalidInput(
            field=field, value=value, problem_sv=f"välj en av: {known}", problem_en=f"choose one of: {known}"
        ) from None


def amount(field: str, value: object) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(" ", "").replace(",", "."))
    except InvalidOperation:
        number = Decimal("NaN")
    # Checked after rounding to öre: 0.004 would otherwise be stored as a positive 0.00.
    if number.is_finite() and 0 < number <= MAX_AMOUNT:
        number = number.quantize(Decimal("0.01"))
    if not number.is_finite() or number <= 0 or number > MAX_AMOUNT:
        raise InvalidInput(
            field=field,
            value=value,
            problem_sv=f"måste vara ett positivt belopp, högst {MAX_AMOUNT}",
            problem_en=f"must be a positive amount, at most {MAX_AMOUNT}",
        )
    return number


def whole(field: str, value: object, *, low: int, high: int) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        number = low - 1
    if isinstance(value, bool) or not low <= number <= high:
        raise InvalidInput(
            field=field,
            value=value,
            problem_sv=f"måste vara ett heltal {low}–{high}",
            problem_en=f"must be a whole number {low} to {high}",
        )
    return number


def data(value: object) -> dict[str, Any]:
    """Free key/value data for a log record: identifier keys, short text values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(
            field="data", value=value, problem_sv="måste vara nyckel=värde", problem_en="must be key=value pairs"
        )
    if len(value) > 50:
        raise InvalidInput(field="data", value=value, problem_sv="högst 50 nycklar", problem_en="at most 50 keys")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}", key):
            raise InvalidInput(
                field="data",
                value=key,
                problem_sv="nycklar är bokstäver, siffror, _ . - (högst 64 tecken)",
                problem_en="keys are letters, digits, _ . - (at most 64 characters)",
            )
        out[key] = text(f"data.{key}", item if isinstance(item, str) else str(item), required=False, max_len=2000)
    return out
