"""Frozen snapshots the guards and the timer planner read.

The store assembles a :class:`CaseFacts` from its rows; the domain never sees a row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn, Protocol, TypeVar

from iop_workflow.domain.guidelines import Guideline
from iop_workflow.domain.values import (
    ContributionKind,
    DecisionSubject,
    Initiator,
    LegalForm,
    Party,
    StateAidBasis,
    Verdict,
)

# What a CaseFacts holds beyond the case row itself. Each rule (guard, timer anchor, effect,
# log snapshot) declares the kinds it reads (see domain/reads.py), and a transition makes the
# store read only the kinds its rules declare; the others are left "not loaded".
FACT_KINDS = frozenset(
    {
        "organisation",  # the organisation's legal form, profit motive, name
        "guideline",  # the guideline the case is bound to
        "municipal_guidelines",  # every guideline of the case's municipality
        "meetings",
        "assessments",
        "legal_checks",
        "agreements",
        "contributions",
        "decisions",
        "reviews",
    }
)


class FactNotLoaded(RuntimeError):
    """A rule read a kind of fact it did not declare, so the store did not read it (a bug)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the {kind!r} facts were not loaded: declare them in the reads of the rule that uses them")
        self.kind = kind


class NotLoaded(tuple):  # type: ignore[type-arg]
    """A fact collection the store did not read: touching its contents raises FactNotLoaded."""

    kind: str

    def __new__(cls, kind: str) -> NotLoaded:
        obj = super().__new__(cls)
        obj.kind = kind
        return obj

    def _fail(self, *_args: Any) -> NoReturn:
        raise FactNotLoaded(self.kind)

    __iter__ = __len__ = __getitem__ = __contains__ = __reversed__ = __bool__ = _fail
    count = index = _fail

    def __repr__(self) -> str:
        return f"<{self.kind} not loaded>"


class _OfAPeriod(Protocol):
    @property
    def period(self) -> int: ...


_P = TypeVar("_P", bound=_OfAPeriod)


def _latest(items: Sequence[_P], period: int) -> _P | None:
    """The last of ``items`` for ``period``. A plain loop: the timer anchors ask for the agreement
    several times per transition, and a sweep plans thousands of transitions."""
    for item in reversed(items):
        if item.period == period:
            return item
    return None


def preparing_period(state: str, period: int, preparing: Collection[str]) -> int:
    """The agreement period that new facts and a signing/renewal decision are for: in the definition's
    ``preparing`` states the first period's facts are gathered; in the others, the next period's (a renewal)."""
    return period if state in preparing else period + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganisationFacts:
    name: str
    org_number: str
    legal_form: LegalForm
    non_profit: bool
    protected: bool = False
    # Lag (2022:900) om registrering av idéburna organisationer: in Kammarkollegiet's register from, until.
    idea_based_registered_on: date | None = None
    idea_based_removed_on: date | None = None

    def registered_idea_based(self, on: date) -> bool:
        """Whether the organisation is in the register of idea-based organisations on ``on``."""
        registered, removed = self.idea_based_registered_on, self.idea_based_removed_on
        return registered is not None and registered <= on and (removed is None or on < removed)


class OrganisationNotLoaded(OrganisationFacts):
    """Stands in for the organisation when no rule of the transition reads it."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> NoReturn:
        raise FactNotLoaded("organisation")

    def __repr__(self) -> str:
        return "<organisation not loaded>"


ORGANISATION_NOT_LOADED: OrganisationFacts = object.__new__(OrganisationNotLoaded)


class GuidelineNotLoaded(Guideline):
    """Stands in for the bound guideline when no rule of the transition reads it."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> NoReturn:
        raise FactNotLoaded("guideline")

    def __repr__(self) -> str:
        return "<guideline not loaded>"


GUIDELINE_NOT_LOADED: Guideline = object.__new__(GuidelineNotLoaded)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingFacts:
    held_on: date
    joint_challenge: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AssessmentFacts:
    criterion: str
    guideline_ref: str
    period: int
    verdict: Verdict
    assessed_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegalCheckFacts:
    period: int
    competence: bool
    procurement_not_required: bool
    state_aid_basis: StateAidBasis
    no_competition_distortion: bool
    rationale: str
    checked_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContributionFacts:
    party: Party
    kind: ContributionKind
    amount: Decimal
    unit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementFacts:
    period: int
    start_on: date
    end_on: date
    notice_months: int
    contributions: tuple[ContributionFacts, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionFacts:
    period: int
    body: str
    decided_on: date
    minutes_ref: str
    subject: DecisionSubject = DecisionSubject.AGREEMENT


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewFacts:
    period: int
    round: int
    held_on: date
    report_received: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseFacts:
    """Everything the rules need to know about one case, as of one moment."""

    ref: str
    state: str
    municipality: str
    initiated_by: Initiator
    opened_on: date
    state_entered_on: date
    organisation: OrganisationFacts
    history_from: date | None = None  # an imported case: where its history starts (its dates are bounded by it)
    period: int = 1
    review_round: int = 0
    review_started_on: date | None = None
    review_rounds_in_period: int = 0
    # An uppsägning given (trigger terminate): on which day, and the last day of its notice period.
    notice_given_on: date | None = None
    notice_ends_on: date | None = None
    guideline: Guideline | None = None
    # Guidelines of the case's municipality, so rules can find the one in force.
    municipal_guidelines: tuple[Guideline, ...] = ()
    meetings: tuple[MeetingFacts, ...] = ()
    assessments: tuple[AssessmentFacts, ...] = ()
    legal_checks: tuple[LegalCheckFacts, ...] = ()
    agreements: tuple[AgreementFacts, ...] = ()
    decisions: tuple[DecisionFacts, ...] = ()
    reviews: tuple[ReviewFacts, ...] = ()
    # The definition's ``preparing`` group of states (see preparing_period).
    preparing_states: frozenset[str] = frozenset()

    @property
    def preparing_period(self) -> int:
        return preparing_period(self.state, self.period, self.preparing_states)

    def agreement(self, period: int | None = None) -> AgreementFacts | None:
        return _latest(self.agreements, self.period if period is None else period)

    def decision(self, period: int) -> DecisionFacts | None:
        """The latest decision to enter or renew the agreement of ``period``."""
        for d in reversed(self.decisions):
            if d.period == period and d.subject is DecisionSubject.AGREEMENT:
                return d
        return None

    def ending_decision(self) -> DecisionFacts | None:
        """The latest decision to end the agreement of the current period."""
        for d in reversed(self.decisions):
            if d.period == self.period and d.subject is DecisionSubject.ENDING:
                return d
        return None

    def legal_check(self, period: int) -> LegalCheckFacts | None:
        return _latest(self.legal_checks, period)

    def verdicts(self, period: int, guideline_ref: str) -> dict[str, AssessmentFacts]:
        """Latest verdict per criterion for a period under one guideline."""
        out: dict[str, AssessmentFacts] = {}
        for a in self.assessments:
            if a.period == period and a.guideline_ref == guideline_ref:
                out[a.criterion] = a
        return out


# The shortest agreement period that counts as long-term (DOMAIN.md): the default of the
# ``min_agreement_months`` setting.
MIN_AGREEMENT_MONTHS = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardContext:
    """Who acts, with which roles, on which local date."""

    today: date
    actor: str
    roles: frozenset[str]
    min_agreement_months: int = MIN_AGREEMENT_MONTHS


# What stands in for each kind a CaseFacts was built without ("contributions" live inside the
# agreements: AgreementFacts.contributions).
NOT_LOADED: Mapping[str, Any] = {
    "organisation": ORGANISATION_NOT_LOADED,
    "guideline": GUIDELINE_NOT_LOADED,
    **{kind: NotLoaded(kind) for kind in FACT_KINDS - {"organisation", "guideline", "contributions"}},
}


def keeping_only(facts: CaseFacts, kinds: Collection[str]) -> CaseFacts:
    """``facts`` with every kind not in ``kinds`` replaced by its not-loaded stand-in."""
    unloaded: dict[str, Any] = {name: value for name, value in NOT_LOADED.items() if name not in kinds}
    if "contributions" not in kinds and "agreements" in kinds:
        unloaded["agreements"] = tuple(replace(a, contributions=NotLoaded("contributions")) for a in facts.agreements)
    return replace(facts, **unloaded)
