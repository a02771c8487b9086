"""A yearly report built from plain rows with the pure functions only (no database)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from iop_workflow.domain.guidelines import Guideline
from iop_workflow.report.annual import ContributionFact, ReviewFact, Transition, Window, tally
from iop_workflow.report.annual_summary import case_states, end_reasons_of, report, rules_of, states_of
from iop_workflow.resources import shipped_definition
from iop_workflow.settings import Settings
from tests.conftest import STOCKHOLM

DEFINITION = shipped_definition()
RULES = rules_of(DEFINITION, grace_days=Settings().lead_times.review_grace_days)


def local(when: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` Stockholm time, as an aware datetime."""
    return datetime.fromisoformat(when).replace(tzinfo=STOCKHOLM)


def move(ref: str, when: str, trigger: str, to_state: str, end_reason: str | None = None) -> Transition:
    return Transition(case_ref=ref, at=local(when), trigger=trigger, to_state=to_state, end_reason=end_reason)


def report_from(
    year: int,
    transitions: Iterable[Transition],
    reviews: Iterable[ReviewFact] = (),
    contributions: Iterable[ContributionFact] = (),
    guidelines: Sequence[Guideline] = (),
    *,
    titles: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The report dict as the service builds it, from plain rows (cases named by their ref)."""
    t = tally(Window(year, STOCKHOLM), RULES, transitions, reviews, contributions)
    cases = [
        {
            "ref": ref,
            "municipality": "Stenungsund",
            "title": (titles or {}).get(ref, "Läxhjälp"),
            "organisation": "Föreningen",
            "org_number": "802479-1322",
            "protected": False,
            "state_at_start": start,
            "state": end,
            "end_reason": reason,
            "contact_name": None,
            "contact_email": None,
            "contact_phone": None,
            "address": None,
        }
        for ref, (start, end, reason) in case_states(t).items()
    ]
    return report(
        t,
        municipality="Stenungsund",
        states=states_of(DEFINITION),
        end_reasons=end_reasons_of(DEFINITION),
        guidelines=guidelines,
        cases=cases,
        preliminary=False,
        include_protected=False,
    )
