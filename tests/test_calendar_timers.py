"""Deadline maths on the Swedish calendar, and which timers each state plans."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from iop_workflow.domain.calendar import add_months, is_working_day, months_between, next_working_day
from iop_workflow.domain.facts import AgreementFacts, CaseFacts, OrganisationFacts
from iop_workflow.domain.timers import LeadTimes, plan
from iop_workflow.domain.values import Initiator, LegalForm
from iop_workflow.resources import shipped_definition


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 6, 19), date(2026, 6, 22)),  # midsommarafton (Fri) -> Monday
        (date(2026, 12, 24), date(2026, 12, 28)),  # julafton, juldagen, annandag, weekend
        (date(2026, 4, 3), date(2026, 4, 7)),  # långfredag -> past Easter Monday
        (date(2027, 1, 2), date(2027, 1, 4)),  # a Saturday
        (date(2026, 6, 6), date(2026, 6, 8)),  # national day on a Saturday
        (date(2026, 11, 23), date(2026, 11, 23)),  # an ordinary Monday stays
    ],
)
def test_next_working_day(day: date, expected: date) -> None:
    assert next_working_day(day) == expected


def test_working_days() -> None:
    assert not is_working_day(date(2026, 12, 31))  # nyårsafton (de facto)
    assert is_working_day(date(2026, 12, 30))


def test_month_arithmetic() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), -3) == date(2027, 10, 31)
    assert months_between(date(2026, 2, 1), date(2027, 1, 31)) == 12
    assert months_between(date(2026, 2, 1), date(2027, 1, 30)) == 11


def facts(state: str, **kw: object) -> CaseFacts:
    base = CaseFacts(
        ref="IOP-2026-0001",
        state=state,
        municipality="Stenungsund",
        initiated_by=Initiator.ORGANISATION,
        preparing_states=frozenset(shipped_definition().states_in("preparing")),
        opened_on=date(2026, 1, 12),
        state_entered_on=date(2026, 2, 2),
        organisation=OrganisationFacts(
            name="F", org_number="802479-1322", legal_form=LegalForm.IDEELL_FORENING, non_profit=True
        ),
        agreements=(AgreementFacts(period=1, start_on=date(2026, 2, 1), end_on=date(2028, 1, 31), notice_months=3),),
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def planned(state: str, **kw: object) -> dict[str, tuple[date, str]]:
    d = shipped_definition()
    return {t.kind: (t.due_on, t.action) for t in plan(d.state(state), facts(state, **kw), LeadTimes())}


def test_active_plans_review_renewal_and_expiry() -> None:
    assert planned("active") == {
        "review_reminder": (date(2027, 1, 4), "alert:review_due_soon"),  # 2027-01-02 is a Saturday
        "review_due": (date(2027, 2, 1), "fire:start_review"),
        "renewal_review": (date(2027, 8, 2), "fire:start_review"),  # end - 3 months - 90 days
        "agreement_end": (date(2028, 2, 1), "fire:expire"),  # the day after the last day, not moved
    }


def test_after_the_yearly_review_the_renewal_review_comes_next() -> None:
    after = planned("active", review_rounds_in_period=1, review_started_on=date(2027, 2, 1))
    assert "review_due" not in after  # the second yearly review would fall after the renewal review
    assert after["renewal_review"] == (date(2027, 8, 2), "fire:start_review")
    assert after["review_reminder"][0] == date(2027, 7, 5)  # 2027-07-03 is a Saturday


def test_after_the_renewal_review_no_review_timer_loops() -> None:
    after = planned("active", review_rounds_in_period=2, review_started_on=date(2027, 8, 2))
    assert set(after) == {"agreement_end"}


def test_signed_activates_on_the_start_date_and_idle_alerts() -> None:
    assert planned("signed") == {"agreement_start": (date(2026, 2, 1), "fire:activate")}  # a Sunday: not moved
    assert planned("initiative") == {"idle": (date(2026, 4, 3), "alert:case_idle")}
    assert planned("review", review_started_on=date(2027, 2, 1))["review_overdue"] == (
        date(2027, 3, 3),
        "alert:review_overdue",
    )
