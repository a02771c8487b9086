"""Which fields of which recorded facts can be corrected, and how their values are read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from iop_workflow.domain.definition import RECORD_TABLES
from iop_workflow.domain.values import ContributionKind, Party, StateAidBasis, Verdict
from iop_workflow.errors import InvalidInput
from iop_workflow.service import validate

_TRUE = {"true", "yes", "ja", "1"}
_FALSE = {"false", "no", "nej", "0"}


def _bool(field: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise InvalidInput(
        field=field, value=value, problem_sv="ja eller nej (true/false)", problem_en="yes or no (true/false)"
    )


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """``parse`` turns user input into the JSON value stored; ``load`` turns that into the column's type.

    ``in_case_time``: a business date of something that has happened (a meeting held, a decision
    taken, a review held): it lies within the case's time, from its opening to today (:func:`in_case_time`).
    """

    parse: Callable[[str, object], Any]
    load: Callable[[Any], Any] = lambda v: v
    in_case_time: bool = False


def in_case_time(field: str, day: date, *, opened_on: date, today: date, history_from: date | None = None) -> date:
    """``day`` when it lies within [the case's opening, today]; else InvalidInput naming both bounds.

    A case imported with its history (``iop case import``) starts at its declared ``history_from``
    instead of its opening. Agreement periods are the only recorded dates that may lie ahead (and
    before the start, for an agreement that runs on from an earlier one); what happened cannot have
    happened before the case (or the history it brought) began, nor tomorrow.
    """
    start = history_from or opened_on
    if start <= day <= today:
        return day
    since_sv = f"den importerade historikens början ({start})" if history_from else f"ärendets öppnande ({start})"
    since_en = f"the start of its imported history ({start})" if history_from else f"the case's opening ({start})"
    raise InvalidInput(
        field=field,
        value=day.isoformat(),
        problem_sv=f"måste ligga mellan {since_sv} och i dag ({today})",
        problem_en=f"must lie between {since_en} and today ({today})",
    )


def _text(required: bool = True, max_len: int = validate.MAX_TEXT) -> FieldSpec:
    def parse(field: str, value: object) -> Any:
        return (
            validate.text(field, value, max_len=max_len)
            if required
            else validate.optional_text(field, value, max_len=max_len)
        )

    return FieldSpec(parse)


def _choice(enum: type[StrEnum]) -> FieldSpec:
    return FieldSpec(lambda f, v: validate.choice(f, v, enum).value)


DAY = FieldSpec(lambda f, v: validate.day(f, v).isoformat(), date.fromisoformat)
HAPPENED = FieldSpec(DAY.parse, DAY.load, in_case_time=True)
AMOUNT = FieldSpec(lambda f, v: str(validate.amount(f, v)), Decimal)
BOOL = FieldSpec(_bool)

# kind -> its correctable fields: what `case correct KIND ENTRY --field F` may change, and how F is typed.
_FIELDS: Mapping[str, Mapping[str, FieldSpec]] = {
    "meeting": {
        "held_on": HAPPENED,
        "participants": _text(False, 2000),
        "joint_challenge": _text(),
        "notes": _text(False),
    },
    "assessment": {"verdict": _choice(Verdict), "note": _text()},
    "legal-check": {
        "competence": BOOL,
        "procurement_not_required": BOOL,
        "no_competition_distortion": BOOL,
        "state_aid_basis": _choice(StateAidBasis),
        "state_aid_amount_sek": AMOUNT,
        "rationale": _text(),
    },
    "agreement": {
        "start_on": DAY,
        "end_on": DAY,
        "notice_months": FieldSpec(lambda f, v: validate.whole(f, v, low=0, high=36)),
        "purpose": _text(False),
    },
    "contribution": {
        "party": _choice(Party),
        "kind": _choice(ContributionKind),
        "amount": AMOUNT,
        "unit": _text(True, 20),
        "description": _text(False, 2000),
    },
    "decision": {
        "body": _text(True, 200),
        "decided_on": HAPPENED,
        "minutes_ref": _text(True, 100),
        "delegation_ref": _text(False, 100),
    },
    "review": {"held_on": HAPPENED, "report_received": BOOL, "summary": _text(False)},
}
# kind -> (the table of its rows, its correctable fields); every kind of the definition has its fields.
FACTS: Mapping[str, tuple[str, Mapping[str, FieldSpec]]] = {k: (t, _FIELDS[k]) for k, t in RECORD_TABLES.items()}


def table(kind: str) -> str:
    """The table of ``kind``'s facts; :class:`InvalidInput` naming the choices for an unknown kind."""
    if kind not in FACTS:
        known = ", ".join(FACTS)
        raise InvalidInput(
            field="kind", value=kind, problem_sv=f"välj en av: {known}", problem_en=f"choose one of: {known}"
        )
    return FACTS[kind][0]


def spec(kind: str, field: str) -> FieldSpec:
    """The field's spec; :class:`InvalidInput` naming the choices for an unknown kind or field."""
    table(kind)
    fields = FACTS[kind][1]
    if field not in fields:
        known = ", ".join(fields)
        raise InvalidInput(
            field="field",
            value=field,
            problem_sv=f"för {kind}, välj en av: {known}",
            problem_en=f"for a {kind}, choose one of: {known}",
        )
    return fields[field]


def as_json(value: Any) -> Any:
    """A column value as the JSON value corrections store."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    return value


def corrected(kind: str, row: Any, fixes: Mapping[str, Any]) -> dict[str, Any]:
    """The fact row with its corrections (field -> JSON value, latest) applied, in column types."""
    fields = FACTS[kind][1]
    out = dict(row)
    for field, value in fixes.items():
        out[field] = None if value is None else fields[field].load(value)
    return out
