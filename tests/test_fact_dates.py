"""What happened happened within the case's time: from its opening to today (issue #14, item 2).

A meeting held, a decision taken and a review held are dated between the case's opening and
today; an agreement's period is the one recorded date that may lie ahead (or begin earlier).
Each refusal names both bounds and writes nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from iop_workflow import FakeClock, Iop
from iop_workflow.errors import InvalidInput
from tests.helpers import add_orgs, open_case, to_assessment

OPENED = date(2026, 1, 12)  # the clock's day when the fixtures open a case
LATER = date(2026, 1, 30)


def meeting(iop: Iop, ref: str, day: str) -> Any:
    return iop.record_meeting(ref, actor="anna", held_on=day, joint_challenge="Skydd och stöd")


def decision(iop: Iop, ref: str, day: str) -> Any:
    return iop.record_decision(ref, actor="eva", body="Socialnämnden", decided_on=day, minutes_ref="SN § 1")


KINDS = {"meeting": (meeting, "held_on"), "decision": (decision, "decided_on")}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize(
    ("day", "bound"), [("2026-01-11", "2026-01-12"), ("2026-01-31", "2026-01-30")], ids=["before-opening", "tomorrow"]
)
def test_a_day_outside_the_cases_time_is_refused_naming_its_bounds(
    iop: Iop, clock: FakeClock, kind: str, day: str, bound: str
) -> None:
    record, field = KINDS[kind]
    add_orgs(iop)
    ref = to_assessment(iop)  # dialogue's meeting and assessment's decision may both be recorded here
    clock.set_date(LATER)
    before = iop.history(ref)
    with pytest.raises(InvalidInput) as refused:
        record(iop, ref, day)
    assert refused.value.field == field and refused.value.exit_status == 6
    message = refused.value.message("en")
    assert f"opening ({OPENED})" in message and f"today ({LATER})" in message and bound in message
    assert iop.history(ref) == before


def test_the_opening_day_and_today_are_within(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    clock.set_date(LATER)
    assert decision(iop, ref, OPENED.isoformat())["trigger"] == "record:decision"
    assert decision(iop, ref, LATER.isoformat())["trigger"] == "record:decision"


def test_a_meeting_cannot_be_held_tomorrow_and_an_agreement_may_lie_ahead(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    iop.fire(ref, "start_dialogue", actor="anna")
    record = iop.record_agreement(ref, actor="anna", start_on="2027-01-01", end_on="2029-12-31")
    assert record["data"]["agreement"]["start_on"] == "2027-01-01"
    with pytest.raises(InvalidInput, match="today"):
        meeting(iop, ref, "2026-01-13")
