"""Municipal IOP guidelines as dated data (``config/guidelines/*.toml``)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from typing import Any

from iop_workflow.domain.calendar import EARLIEST, LATEST
from iop_workflow.domain.values import CriterionKind
from iop_workflow.errors import DefinitionError

_GUIDELINE_KEYS = {
    "ref", "municipality", "title", "decided_on", "decided_by", "valid_from",
    "valid_until", "follow_up_months", "owner", "source", "note", "allows_municipal_initiative",
}  # fmt: skip
_GUIDELINE_REQUIRED = {"ref", "municipality", "title", "decided_on", "decided_by", "valid_from", "owner"}
_CRITERION_KEYS = {"code", "kind", "text_sv", "text_en"}
# The longest text each field may hold (the widths of the database columns).
_MAX_LEN = {"ref": 100, "municipality": 100, "title": 500, "decided_by": 300, "owner": 300, "source": 500, "code": 80}
_MAX_TEXT = 10_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and newlines are text


@dataclass(frozen=True, slots=True, kw_only=True)
class Criterion:
    code: str
    kind: CriterionKind
    text_sv: str
    text_en: str

    def text(self, lang: str) -> str:
        return self.text_en if lang == "en" and self.text_en else self.text_sv


@dataclass(frozen=True, slots=True, kw_only=True)
class Guideline:
    ref: str
    municipality: str
    title: str
    decided_on: date
    decided_by: str
    valid_from: date
    valid_until: date | None
    follow_up_months: int
    owner: str
    source: str
    note: str
    criteria: tuple[Criterion, ...]
    # Whether a partnership the municipality initiated may be signed under it (guard
    # initiative_from_org); false when the file does not say so.
    allows_municipal_initiative: bool = False

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_until is None or on <= self.valid_until)

    def gating(self) -> tuple[Criterion, ...]:
        """The criteria that must all be assessed ``met`` before signing."""
        return tuple(c for c in self.criteria if c.kind is not CriterionKind.CONSIDERATION)

    def criterion(self, code: str) -> Criterion | None:
        return next((c for c in self.criteria if c.code == code), None)


def in_force_for(guidelines: tuple[Guideline, ...], municipality: str, on: date) -> Guideline | None:
    """The guideline in force for ``municipality`` on ``on`` (the latest decided one if several)."""
    candidates = [g for g in guidelines if g.municipality == municipality and g.in_force(on)]
    return max(candidates, key=lambda g: (g.valid_from, g.decided_on), default=None)


def parse_guideline(text: str, *, file: str) -> Guideline:
    """Parse and validate one guideline file; raise DefinitionError naming file and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(file=file, key="(syntax)", problem=f"not valid TOML: {exc}") from exc
    except RecursionError:
        raise DefinitionError(file=file, key="(syntax)", problem="not valid TOML: nested too deeply") from None
    return _GuidelineReader(file).build(data)


class _GuidelineReader:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, problem: str) -> DefinitionError:
        return DefinitionError(file=self.file, key=key, problem=problem)

    def build(self, data: dict[str, Any]) -> Guideline:
        for k in data:
            if k not in {"guideline", "criteria"}:
                raise self.fail(k, "unknown key")
        head = data.get("guideline")
        if not isinstance(head, dict):
            raise self.fail("guideline", "missing table [guideline]")
        for k in head:
            if k not in _GUIDELINE_KEYS:
                raise self.fail(f"guideline.{k}", "unknown key")
        for k in sorted(_GUIDELINE_REQUIRED - set(head)):
            raise self.fail(f"guideline.{k}", "missing")
        valid_from = self.date(head, "valid_from")
        valid_until = self.date(head, "valid_until") if "valid_until" in head else None
        if valid_until is not None and valid_until < valid_from:
            raise self.fail("guideline.valid_until", f"{valid_until} is before valid_from {valid_from}")
        decided_on = self.date(head, "decided_on")
        if decided_on > valid_from:
            raise self.fail("guideline.decided_on", f"{decided_on} is after valid_from {valid_from}")
        months = head.get("follow_up_months", 12)
        if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 60:
            raise self.fail("guideline.follow_up_months", "must be a whole number of months, 1 to 60")
        return Guideline(
            ref=self.text(head, "ref"),
            municipality=self.text(head, "municipality"),
            title=self.text(head, "title"),
            decided_on=decided_on,
            decided_by=self.text(head, "decided_by"),
            valid_from=valid_from,
            valid_until=valid_until,
            follow_up_months=months,
            owner=self.text(head, "owner"),
            source=self.text(head, "source", required=False),
            note=self.text(head, "note", required=False),
            criteria=self.criteria(data.get("criteria")),
            allows_municipal_initiative=self.flag(head, "allows_municipal_initiative"),
        )

    def flag(self, table: dict[str, Any], name: str) -> bool:
        value = table.get(name, False)
        if not isinstance(value, bool):
            raise self.fail(f"guideline.{name}", "must be true or false")
        return value

    def text(self, table: dict[str, Any], name: str, prefix: str = "guideline", *, required: bool = True) -> str:
        value = table.get(name, None if required else "")
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{prefix}.{name}", "must be a non-empty string" if required else "must be a string")
        limit = _MAX_LEN.get(name, _MAX_TEXT)
        if len(value.strip()) > limit:
            raise self.fail(f"{prefix}.{name}", f"is {len(value.strip())} characters long; at most {limit} are allowed")
        if _CONTROL.search(value):
            raise self.fail(f"{prefix}.{name}", "contains control characters")
        return value.strip() if required else value  # optional texts are kept as written

    def date(self, table: dict[str, Any], name: str) -> date:
        value = table.get(name)
        # tomllib gives datetime for date-times; a guideline's dates are plain dates.
        if not isinstance(value, date) or hasattr(value, "hour"):
            raise self.fail(f"guideline.{name}", "must be a TOML date (YYYY-MM-DD)")
        if not EARLIEST <= value <= LATEST:
            raise self.fail(f"guideline.{name}", f"is outside the accepted range {EARLIEST} to {LATEST}")
        return value

    def criteria(self, raw: Any) -> tuple[Criterion, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail("criteria", "must be a non-empty array of tables [[criteria]]")
        seen: set[str] = set()
        out = []
        for i, spec in enumerate(raw):
            key = f"criteria[{i}]"
            if not isinstance(spec, dict):
                raise self.fail(key, "must be a table")
            for k in spec:
                if k not in _CRITERION_KEYS:
                    raise self.fail(f"{key}.{k}", "unknown key")
            code = self.text(spec, "code", key)
            if not code.isidentifier() or not code.islower():
                raise self.fail(f"{key}.code", f"{code!r} is not a lower-case snake_case code")
            if code in seen:
                raise self.fail(f"{key}.code", f"duplicate criterion code {code!r}")
            seen.add(code)
            kind = spec.get("kind")
            if not isinstance(kind, str) or kind not in {k.value for k in CriterionKind}:
                raise self.fail(f"{key}.kind", f"unknown kind {kind!r} (eligibility, required, consideration)")
            out.append(
                Criterion(
                    code=code,
                    kind=CriterionKind(kind),
                    text_sv=self.text(spec, "text_sv", key),
                    text_en=self.text(spec, "text_en", key, required=False),
                )
            )
        return tuple(out)
