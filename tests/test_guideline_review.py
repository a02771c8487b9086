"""A guideline's own follow-up (Kungälv: "följs upp årligen"): a yearly alert to its owner, not the agreements'
review interval. Pure date rule, then the real sweep with a fake clock, and the plan."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from iop_workflow import FakeClock, Iop
from iop_workflow.domain.guidelines import review_due
from tests.helpers import adopted_guideline_toml

GUIDELINE = Path(__file__).resolve().parent.parent / "config" / "guidelines" / "kungalv.toml"


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2025, 3, 10), None),  # the decision day itself
        (date(2026, 3, 9), None),  # a day before the first follow-up
        (date(2026, 3, 10), date(2026, 3, 10)),
        (date(2027, 3, 9), date(2026, 3, 10)),
        (date(2027, 3, 10), date(2027, 3, 10)),
    ],
)
def test_the_follow_up_falls_a_whole_number_of_intervals_after_the_decision(today: date, expected: date) -> None:
    assert review_due(date(2025, 3, 10), 12, None, today) == expected


def test_no_follow_up_without_an_interval_or_after_the_last_valid_day() -> None:
    assert review_due(date(2025, 3, 10), None, None, date(2027, 1, 1)) is None
    assert review_due(None, 12, None, date(2027, 1, 1)) is None
    assert review_due(date(2025, 3, 10), 12, date(2026, 12, 31), date(2027, 3, 10)) is None
    assert review_due(date(2024, 2, 29), 12, None, date(2025, 2, 28)) == date(2025, 2, 28)  # clamped, not skipped


def test_the_owner_is_alerted_once_a_year(iop: Iop, clock: FakeClock, tmp_path: Path) -> None:
    text = adopted_guideline_toml(GUIDELINE.read_text(encoding="utf-8"), ref="KS 2025/7", valid_from="2025-03-10")
    text = text.replace('owner = "Kommunstyrelsen"\n', 'owner = "Kommunstyrelsen"\nguideline_review_months = 12\n')
    path = tmp_path / "yearly.toml"
    path.write_text(text, encoding="utf-8")
    iop.load_guideline_file(path, actor="kim")
    iop.tick()  # the shipped guidelines' own alerts, whatever they are today

    def reviews() -> list[tuple[str, str, str]]:
        return [(a["kind"], a["due_on"], a["recipient"]) for a in iop.alerts() if a["guideline_ref"] == "KS 2025/7"]

    clock.set_date(date(2026, 3, 9))
    assert iop.sweep_guidelines()["alerts"] == 0 and reviews() == []
    plan = [
        (r["due_on"], r["action"], r["who"])
        for r in iop.upcoming(date(2027, 12, 31))
        if r["guideline_ref"] == "KS 2025/7"
    ]
    assert plan == [
        ("2026-03-10", "alert:guideline_review_due", "Kommunstyrelsen"),
        ("2027-03-10", "alert:guideline_review_due", "Kommunstyrelsen"),
    ]
    clock.set_date(date(2026, 3, 10))
    assert iop.sweep_guidelines()["alerts"] == 1
    assert iop.sweep_guidelines()["alerts"] == 0  # once
    clock.set_date(date(2026, 11, 1))
    assert iop.sweep_guidelines()["alerts"] == 0
    clock.set_date(date(2027, 3, 12))  # a sweep missed on the day still raises it
    assert iop.sweep_guidelines()["alerts"] == 1
    assert reviews() == [
        ("guideline_review_due", "2026-03-10", "Kommunstyrelsen"),
        ("guideline_review_due", "2027-03-10", "Kommunstyrelsen"),
    ]
    message = next(a["message"] for a in iop.alerts() if a["guideline_ref"] == "KS 2025/7")
    assert "ska följas upp" in message and "KS 2025/7" in message
    assert iop.verify().ok
