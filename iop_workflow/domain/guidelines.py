"""Municipal IOP guidelines as dated data (``config/guidelines/*.toml``)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from iop_workflow.domain import tomldoc
from iop_workflow.domain.calendar import EARLIEST, LATEST, add_months
from iop_workflow.domain.values import CriterionKind
from iop_workflow.errors import DefinitionError

_GUIDELINE_KEYS = {
    "ref",
    "municipality",
    "title",
    "status",
    "decided_on",
    "decided_by",
    "minutes_ref",
    "valid_from",
    "valid_until",
    "follow_up_months",
    "guideline_review_months",
    "owner",
    "source",
    "note",
    "provenance",
    "allows_municipal_initiative",
}
_GUIDELINE_REQUIRED = {"ref", "municipality", "title", "status", "owner"}
_CRITERION_KEYS = {"code", "kind", "text_sv", "text_en"}
_PROVENANCE_KEYS = {"source", "quote", "verified"}
# The longest text each field may hold (the widths of the database columns).
_MAX_LEN = {
    "ref": 100,
    "municipality": 100,
    "title": 500,
    "decided_by": 300,
    "minutes_ref": 300,
    "owner": 300,
    "source": 500,
    "code": 80,
}
_MAX_TEXT = 10_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and newlines are text


class GuidelineStatus(StrEnum):
    """Where a guideline stands: only an adopted one can bind a case to a signature."""

    ADOPTED = "adopted"
    PROPOSAL = "proposal"
    REPEALED = "repealed"
    SUPERSEDED = "superseded"


# The facts that decide whether a guideline binds: each needs a provenance when it is given, and
# all of them (valid_until only when given) must be known and verified for the guideline to be in force.
DECIDING = ("status", "decided_on", "decided_by", "minutes_ref", "valid_from", "valid_until")
# Other fields a file may give a provenance for.
_ALSO_SOURCED = ("owner", "guideline_review_months", "follow_up_months")
SOURCED = (*DECIDING, *_ALSO_SOURCED)  # every field a provenance may be given for, in display order


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Where a fact comes from: the source, the words quoted from it, and whether a person has
    checked it against the decision itself (the adopted document or its minutes)."""

    source: str
    quote: str = ""
    verified: bool = False


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
    """One guideline version. ``None`` is an unknown fact (the source does not give it)."""

    ref: str
    municipality: str
    title: str
    decided_on: date | None
    decided_by: str | None
    valid_from: date | None
    valid_until: date | None
    follow_up_months: int | None  # each agreement's review interval; None: the configured default
    owner: str
    source: str
    note: str
    criteria: tuple[Criterion, ...]
    # Whether a partnership the municipality initiated may be signed under it (guard
    # initiative_from_org); false when the file does not say so.
    allows_municipal_initiative: bool = False
    status: GuidelineStatus = GuidelineStatus.ADOPTED
    minutes_ref: str | None = None
    guideline_review_months: int | None = None  # the guideline's own follow-up, alerted to its owner
    provenance: tuple[tuple[str, Provenance], ...] = ()  # (field, provenance), in DECIDING order first

    def sourced(self, name: str) -> Provenance | None:
        return next((p for f, p in self.provenance if f == name), None)

    def value(self, name: str) -> object:
        return getattr(self, name)

    def unverified(self) -> tuple[str, ...]:
        """The deciding facts that are unknown or not verified (valid_until only when it is given)."""
        out = []
        for name in DECIDING:
            value = self.value(name)
            if name == "valid_until" and value is None:
                continue
            p = self.sourced(name)
            if value is None or p is None or not p.verified:
                out.append(name)
        return tuple(out)

    def covers(self, on: date) -> bool:
        """Whether the known dates leave ``on`` inside the guideline's validity (unknown ones exclude nothing)."""
        after_start = self.valid_from is None or self.valid_from <= on
        return after_start and (self.valid_until is None or on <= self.valid_until)

    def in_force(self, on: date) -> bool:
        """THE definition of in force: adopted, every deciding fact verified, and ``on`` within its dates."""
        return self.status is GuidelineStatus.ADOPTED and not self.unverified() and self.covers(on)

    def gating(self) -> tuple[Criterion, ...]:
        """The criteria that must all be assessed ``met`` before signing."""
        return tuple(c for c in self.criteria if c.kind is not CriterionKind.CONSIDERATION)

    def criterion(self, code: str) -> Criterion | None:
        return next((c for c in self.criteria if c.code == code), None)


def in_force_for(guidelines: tuple[Guideline, ...], municipality: str, on: date) -> Guideline | None:
    """The guideline in force for ``municipality`` on ``on`` (the latest decided one if several)."""
    candidates = [g for g in guidelines if g.municipality == municipality and g.in_force(on)]
    return max(candidates, key=_recency, default=None)


def governing_for(guidelines: tuple[Guideline, ...], municipality: str, on: date) -> Guideline | None:
    """The guideline a case of ``municipality`` is assessed under on ``on``: the one in force, else an
    adopted or proposed one whose known dates cover ``on`` (so signing can say what is missing)."""
    found = in_force_for(guidelines, municipality, on)
    if found is not None:
        return found
    live = (GuidelineStatus.ADOPTED, GuidelineStatus.PROPOSAL)
    candidates = [g for g in guidelines if g.municipality == municipality and g.status in live and g.covers(on)]
    return max(candidates, key=lambda g: (g.status is GuidelineStatus.ADOPTED, *_recency(g)), default=None)


def _recency(g: Guideline) -> tuple[date, date]:
    return (g.valid_from or EARLIEST, g.decided_on or EARLIEST)


def parse_guideline(text: str, *, file: str) -> Guideline:
    """Parse and validate one guideline file; raise DefinitionError naming file and key."""
    return _GuidelineReader(file).build(tomldoc.parse(text, file=file))


class _GuidelineReader:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, problem: str) -> DefinitionError:
        return DefinitionError(file=self.file, key=key, problem=problem)

    def build(self, data: dict[str, Any]) -> Guideline:
        tomldoc.check_keys(data, file=self.file, key="", allowed={"guideline", "criteria"})
        head = data.get("guideline")
        if not isinstance(head, dict):
            raise self.fail("guideline", "missing table [guideline]")
        tomldoc.check_keys(head, file=self.file, key="guideline", allowed=_GUIDELINE_KEYS, required=_GUIDELINE_REQUIRED)
        status = head["status"]
        if not isinstance(status, str) or status not in {s.value for s in GuidelineStatus}:
            raise self.fail("guideline.status", f"unknown status {status!r} (adopted, proposal, repealed, superseded)")
        valid_from = self.date(head, "valid_from") if "valid_from" in head else None
        valid_until = self.date(head, "valid_until") if "valid_until" in head else None
        if valid_until is not None and valid_from is not None and valid_until < valid_from:
            raise self.fail("guideline.valid_until", f"{valid_until} is before valid_from {valid_from}")
        decided_on = self.date(head, "decided_on") if "decided_on" in head else None
        if decided_on is not None and valid_from is not None and decided_on > valid_from:
            raise self.fail("guideline.decided_on", f"{decided_on} is after valid_from {valid_from}")
        g = Guideline(
            ref=self.text(head, "ref"),
            municipality=self.text(head, "municipality"),
            title=self.text(head, "title"),
            status=GuidelineStatus(status),
            decided_on=decided_on,
            decided_by=self.text(head, "decided_by") if "decided_by" in head else None,
            minutes_ref=self.text(head, "minutes_ref") if "minutes_ref" in head else None,
            valid_from=valid_from,
            valid_until=valid_until,
            follow_up_months=self.months(head, "follow_up_months"),
            guideline_review_months=self.months(head, "guideline_review_months"),
            owner=self.text(head, "owner"),
            source=self.text(head, "source", required=False),
            note=self.text(head, "note", required=False),
            criteria=self.criteria(data.get("criteria")),
            allows_municipal_initiative=self.flag(head, "allows_municipal_initiative"),
        )
        return dataclasses.replace(g, provenance=self.provenance(head.get("provenance", {}), g))

    def months(self, table: dict[str, Any], name: str) -> int | None:
        if name not in table:
            return None
        months = table[name]
        if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 60:
            raise self.fail(f"guideline.{name}", "must be a whole number of months, 1 to 60")
        return months

    def provenance(self, raw: Any, g: Guideline) -> tuple[tuple[str, Provenance], ...]:
        """``[guideline.provenance.<field>]`` tables: each given deciding fact needs one."""
        if not isinstance(raw, dict):
            raise self.fail("guideline.provenance", "must be a table of [guideline.provenance.<field>] tables")
        known = SOURCED
        found: dict[str, Provenance] = {}
        for name, spec in raw.items():
            if name not in known:
                raise self.fail(
                    f"guideline.provenance.{name}",
                    f"unknown key (a provenance is given for one of: {', '.join(known)})",
                )
            found[name] = self.one_provenance(name, spec, g)
        for name in DECIDING:
            if g.value(name) is not None and name not in found:
                raise self.fail(
                    f"guideline.provenance.{name}",
                    f"missing: guideline.{name} is given without its source (source, quote, verified)",
                )
        return tuple((name, found[name]) for name in known if name in found)

    def one_provenance(self, name: str, spec: Any, g: Guideline) -> Provenance:
        key = f"guideline.provenance.{name}"
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table with source, quote and verified")
        tomldoc.check_keys(spec, file=self.file, key=key, allowed=_PROVENANCE_KEYS)
        verified = spec.get("verified")
        if not isinstance(verified, bool):
            raise self.fail(f"{key}.verified", "must be true or false")
        if verified and g.value(name) is None:
            raise self.fail(f"{key}.verified", f"is true, but guideline.{name} is not given")
        quote = self.text(spec, "quote", key, required=False)
        return Provenance(source=self.text(spec, "source", key), quote=quote, verified=verified)

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
            tomldoc.check_keys(spec, file=self.file, key=key, allowed=_CRITERION_KEYS)
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


def review_due(start: date | None, months: int | None, valid_until: date | None, today: date) -> date | None:
    """The guideline's own follow-up most recently due on or before ``today``: ``start`` plus a whole
    number (at least one) of ``months``; None before the first, without a start or an interval, and
    after the guideline's last valid day (an expired guideline is followed up by a new one)."""
    if start is None or not months or (valid_until is not None and today > valid_until) or today <= start:
        return None
    steps = ((today.year - start.year) * 12 + today.month - start.month) // months
    while steps > 0 and add_months(start, steps * months) > today:
        steps -= 1
    return add_months(start, steps * months) if steps > 0 else None
