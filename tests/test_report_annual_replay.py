"""The yearly report's arithmetic on plain rows (no database): month ends in Stockholm time, the year's
edges, review deadlines, contributions, guideline statuses, and escaping in the renderers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from iop_workflow.domain.guidelines import DECIDING, Guideline, GuidelineStatus, Provenance
from iop_workflow.report.annual import ContributionFact, ReviewFact, Tally, Transition, Window
from iop_workflow.report.annual_html import _scale_top, annual_html
from iop_workflow.report.annual_render import annual_csv, annual_markdown
from iop_workflow.report.annual_summary import summary
from tests.annual_helpers import RULES, move, report_from
from tests.conftest import STOCKHOLM


def signed_and_active(ref: str, signed: str, active: str) -> list[Transition]:
    return [
        move(ref, signed, "open", "initiative"),
        move(ref, signed, "start_dialogue", "dialogue"),
        move(ref, signed, "submit_for_assessment", "assessment"),
        move(ref, signed, "sign", "signed"),
        move(ref, active, "activate", "active"),
    ]


def test_month_ends_and_the_year_are_local_time() -> None:
    rows = [
        move("A", "2025-12-31 23:59", "open", "initiative"),  # 2025: at the year's start already
        move("B", "2026-01-01 00:01", "open", "initiative"),  # 2026, though still 2025 in UTC
        move("B", "2026-01-31 23:59", "start_dialogue", "dialogue"),  # January
        move("A", "2026-02-01 00:30", "start_dialogue", "dialogue"),  # February, though January in UTC
        move("B", "2026-12-31 23:30", "decline", "ended", "declined"),  # still 2026
        move("A", "2027-01-01 00:30", "decline", "ended", "declined"),  # 2027, though 2026 in UTC: not fed
    ]
    report = report_from(2026, rows)
    jan, feb = (report["monthly"][i]["counts"] for i in (0, 1))
    assert (jan["initiative"], jan["dialogue"], feb["initiative"], feb["dialogue"]) == (1, 1, 0, 2)
    assert report["at_year_start"]["initiative"] == 1
    assert report["events"]["opened"] == 1 and report["end_reasons"]["declined"] == 1
    assert report["at_year_end"] == {**dict.fromkeys(report["at_year_end"], 0), "dialogue": 1, "ended": 1}
    assert [(c["ref"], c["state_at_start"], c["state"]) for c in report["cases"]] == [
        ("A", "initiative", "dialogue"),
        ("B", None, "ended"),
    ]


def test_a_case_ended_before_the_year_is_not_part_of_it() -> None:
    rows = [
        move("A", "2025-05-05 09:00", "open", "initiative"),
        move("A", "2025-06-02 09:00", "decline", "ended", "declined"),
    ]
    report = report_from(2026, rows)
    assert report["cases"] == [] and set(report["at_year_end"].values()) == {0}
    assert report_from(2025, rows)["end_reasons"]["declined"] == 1


def review_round(ref: str, started: str, left: str | None = None, via: str = "continue") -> list[Transition]:
    rows = [
        *signed_and_active(ref, "2025-01-10 09:00", "2025-02-01 09:00"),
        move(ref, started, "start_review", "review"),
    ]
    if left is not None:
        rows.append(
            move(
                ref,
                left,
                via,
                "ended" if via == "terminate" else "active",
                "terminated" if via == "terminate" else None,
            )
        )
    return rows


@pytest.mark.parametrize(
    ("started", "left", "via", "held_on", "expected"),
    [
        # begun 2026-04-01: + 30 days is 1 May, a holiday; the deadline moves to Monday 2026-05-04
        ("2026-04-01 09:00", None, "", None, (1, 0, 1)),  # nobody held it: overdue
        ("2026-04-01 09:00", "2026-05-04 15:00", "continue", "2026-05-04", (1, 1, 0)),  # held on the deadline
        ("2026-04-01 09:00", "2026-06-01 09:00", "continue", "2026-05-05", (1, 1, 1)),  # held a day late
        ("2026-04-01 09:00", "2026-04-20 09:00", "terminate", None, (1, 0, 0)),  # ended before the deadline
        ("2026-04-01 09:00", "2026-05-05 09:00", "terminate", None, (1, 0, 1)),  # ended after it
        ("2025-12-10 09:00", None, "", None, (0, 0, 1)),  # begun in 2025, deadline 2026-01-09: overdue in 2026
        ("2026-12-10 09:00", None, "", None, (1, 0, 0)),  # deadline in 2027: not (yet) overdue in 2026
    ],
)
def test_review_deadlines(
    started: str, left: str | None, via: str, held_on: str | None, expected: tuple[int, int, int]
) -> None:
    reviews = (
        []
        if held_on is None
        else [ReviewFact(case_ref="A", round=1, held_on=date.fromisoformat(held_on), report_received=True)]
    )
    got = report_from(2026, review_round("A", started, left, via), reviews)["reviews"]
    assert (got["due"], got["held"], got["overdue"]) == expected


def test_contributions_agreed_and_running() -> None:
    rows = [
        *signed_and_active("A", "2025-03-03 09:00", "2025-04-01 09:00"),  # period 1 agreed in 2025, runs in 2026
        move("A", "2026-09-01 09:00", "start_review", "review"),
        move("A", "2026-10-01 09:00", "renew", "renewed"),  # period 2 agreed in 2026, starts in 2027
        *signed_and_active("B", "2026-03-03 09:00", "2027-01-01 09:00"),  # agreed in 2026, runs from 2027
    ]

    def money(ref: str, period: int, amount: str, unit: str = "SEK") -> ContributionFact:
        return ContributionFact(
            case_ref=ref, period=period, party="municipality", kind="money", unit=unit, amount=Decimal(amount)
        )

    facts = [money("A", 1, "100"), money("A", 2, "250.5"), money("B", 1, "1000"), money("A", 2, "7", "EUR")]
    assert report_from(2026, rows, contributions=facts)["contributions"] == [
        {"party": "municipality", "kind": "money", "unit": "EUR", "agreed": "7.00", "running": "0.00"},
        {"party": "municipality", "kind": "money", "unit": "SEK", "agreed": "1250.50", "running": "100.00"},
    ]
    assert report_from(2027, rows, contributions=facts)["contributions"] == [
        {"party": "municipality", "kind": "money", "unit": "SEK", "agreed": "0.00", "running": "1000.00"},
    ]  # A's renewed period is not active before 2027's end here (no activate), B's is


def test_guideline_statuses_at_the_edges_of_the_year() -> None:
    def g(
        ref: str,
        start: str,
        end: str | None,
        *,
        verified: bool = True,
        status: GuidelineStatus = GuidelineStatus.ADOPTED,
    ) -> Guideline:
        proof = Provenance(source="protokoll", quote="KS § 1/2020", verified=verified)
        return Guideline(
            ref=ref,
            municipality="Mark",
            title=ref,
            status=status,
            valid_from=date.fromisoformat(start),
            valid_until=date.fromisoformat(end) if end else None,
            decided_on=date(2019, 12, 1),
            decided_by="KS",
            minutes_ref="§ 1/2020",
            follow_up_months=None,
            owner="KS",
            source="",
            note="",
            criteria=(),
            provenance=tuple((f, proof) for f in DECIDING),
        )

    rows = [
        g("ended-2025", "2020-01-01", "2025-12-31"),
        g("starts-2027", "2027-01-01", None),
        g("last-day-2026-12-30", "2020-01-01", "2026-12-30"),
        g("last-day-2026-12-31", "2020-01-01", "2026-12-31"),
        g("until-2027-12-31", "2026-06-01", "2027-12-31"),
        g("until-2028-01-01", "2020-01-01", "2028-01-01"),
        g("open-ended", "2026-12-31", None),
        g("unverified", "2020-01-01", None, verified=False),
        g("proposal", "2020-01-01", None, status=GuidelineStatus.PROPOSAL),
    ]
    got = {r["ref"]: r["status"] for r in report_from(2026, [], guidelines=rows)["guidelines"]}
    assert got == {
        "last-day-2026-12-30": "expired",
        "last-day-2026-12-31": "expiring",
        "until-2027-12-31": "expiring",
        "until-2028-01-01": "in_force",
        "open-ended": "in_force",
    }


def test_summary_needs_a_finished_tally() -> None:
    with pytest.raises(ValueError, match="finished"):
        summary(Tally(Window(2026, STOCKHOLM), RULES), ["active"], [])


def test_text_is_escaped_and_the_page_is_self_contained() -> None:
    nasty = '<script>alert("x")</script> & <img src=x onerror=y>'
    report = report_from(2026, signed_and_active("A|B", "2026-01-10 09:00", "2026-02-01 09:00"), titles={"A|B": nasty})
    page = annual_html(report, "sv")
    assert nasty not in page and "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=y&gt;" in page
    assert "default-src 'none'" in page and "<svg" in page
    assert "<svg" not in annual_html(report, "sv", chart=False)
    assert "A\\|B" in annual_markdown(report, "en")  # a pipe would break the Markdown table
    assert '"<script>alert(""x"")</script> & <img src=x onerror=y>"' in annual_csv(report)


@pytest.mark.parametrize(
    ("highest", "expected"),
    [(0, (1, 1)), (7, (7, 1)), (10, (10, 1)), (11, (15, 5)), (23, (25, 5)), (180, (200, 50)), (999, (1000, 200))],
)
def test_the_chart_axis_has_round_steps(highest: int, expected: tuple[int, int]) -> None:
    top, step = _scale_top(highest)
    assert (top, step) == expected and top >= highest and top % step == 0
