"""Timer planning: which deadlines a state sets, computed from the facts.

Anchors are pure functions of the facts (after the transition), the date the
state was entered and the configured lead times. Their arithmetic never raises
(``calendar.shift``, ``calendar.add_months`` clamp at the ends of the calendar). An anchor returns ``None``
when it does not apply (no agreement yet, no yearly review left in the period).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from iop_workflow.domain.calendar import add_months, next_working_day, shift
from iop_workflow.domain.definition import StateSpec
from iop_workflow.domain.facts import FACT_KINDS, CaseFacts


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadTimes:
    """Configurable lead times, in days (DOMAIN.md "Deadlines")."""

    idle_days: int = 60
    review_reminder_days: int = 30
    review_grace_days: int = 30
    renewal_lead_days: int = 90
    guideline_warning_days: int = 180
    default_follow_up_months: int = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedTimer:
    kind: str
    due_on: date
    action: str


def logged(timers: Iterable[PlannedTimer]) -> list[dict[str, str]]:
    """The timers as a record's ``data["timers"]`` holds them: what ``audit verify`` holds the table to."""
    return [{"kind": t.kind, "due_on": t.due_on.isoformat(), "action": t.action} for t in timers]


Anchor = Callable[[CaseFacts, LeadTimes], date | None]
ANCHORS: dict[str, Anchor] = {}
# The kinds of facts (domain.facts.FACT_KINDS) each anchor reads beyond the case row.
ANCHOR_READS: dict[str, frozenset[str]] = {}


def anchor(name: str, *, reads: Iterable[str] = ()) -> Callable[[Anchor], Anchor]:
    kinds = frozenset(reads)
    if not kinds <= FACT_KINDS:
        raise ValueError(f"anchor {name!r} reads unknown fact kinds: {sorted(kinds - FACT_KINDS)}")

    def register(fn: Anchor) -> Anchor:
        ANCHORS[name] = fn
        ANCHOR_READS[name] = kinds
        return fn

    return register


def _interval(facts: CaseFacts, lead: LeadTimes) -> int:
    months = facts.guideline.follow_up_months if facts.guideline else None
    return months if months is not None else lead.default_follow_up_months


@anchor("idle_deadline")
def idle_deadline(facts: CaseFacts, lead: LeadTimes) -> date | None:
    return shift(facts.state_entered_on, lead.idle_days)


@anchor("agreement_start", reads={"agreements"})
def agreement_start(facts: CaseFacts, lead: LeadTimes) -> date | None:
    a = facts.agreement()
    return a.start_on if a else None


@anchor("agreement_expiry", reads={"agreements"})
def agreement_expiry(facts: CaseFacts, lead: LeadTimes) -> date | None:
    """The day after the agreement's last day: from then on it has expired."""
    a = facts.agreement()
    return shift(a.end_on, 1) if a else None


@anchor("renewal_review", reads={"agreements"})
def renewal_review(facts: CaseFacts, lead: LeadTimes) -> date | None:
    """End minus the notice period and the renewal lead: time to decide on renewal."""
    a = facts.agreement()
    if a is None or facts.notice_given_on is not None:  # notice given: no renewal to prepare
        return None
    due = shift(add_months(a.end_on, -a.notice_months), -lead.renewal_lead_days)
    if due <= a.start_on:
        return None
    started = facts.review_started_on
    if started is not None and started >= due and facts.review_rounds_in_period > 0:
        return None  # the renewal review of this period has been held
    return due


@anchor("review_due", reads={"agreements", "guideline"})
def review_due(facts: CaseFacts, lead: LeadTimes) -> date | None:
    """The next yearly follow-up, unless the renewal review comes first."""
    a = facts.agreement()
    if a is None:
        return None
    due = add_months(a.start_on, _interval(facts, lead) * (facts.review_rounds_in_period + 1))
    renewal = renewal_review(facts, lead)
    if due > a.end_on or (renewal is not None and due >= renewal):
        return None
    if facts.notice_ends_on is not None and due > facts.notice_ends_on:
        return None
    return due


@anchor("notice_expiry")
def notice_expiry(facts: CaseFacts, lead: LeadTimes) -> date | None:
    """The day after the notice period's last day (an uppsägning given): from then on it has ended."""
    return shift(facts.notice_ends_on, 1) if facts.notice_ends_on is not None else None


@anchor("review_reminder", reads={"agreements", "guideline"})
def review_reminder(facts: CaseFacts, lead: LeadTimes) -> date | None:
    due = review_due(facts, lead) or renewal_review(facts, lead)
    return shift(due, -lead.review_reminder_days) if due else None


@anchor("review_overdue")
def review_overdue(facts: CaseFacts, lead: LeadTimes) -> date | None:
    started = facts.review_started_on or facts.state_entered_on
    return shift(started, lead.review_grace_days)


def plan(state: StateSpec, facts: CaseFacts, lead: LeadTimes) -> tuple[PlannedTimer, ...]:
    """The timers ``state`` plans for ``facts``; deadlines move to the next working day."""
    out = []
    for spec in state.timers:
        due = ANCHORS[spec.anchor](facts, lead)
        if due is None:
            continue
        if spec.working_day:
            due = next_working_day(due)
        out.append(PlannedTimer(kind=spec.kind, due_on=due, action=spec.action))
    return tuple(out)
