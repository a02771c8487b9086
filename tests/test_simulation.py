"""A year and a bit of a municipality's life, one scheduler tick a day, on a FakeClock.

Three partnerships signed on different dates go active on their start dates, enter
review on their review dates, escalate when the review is overdue and expire at the
end of their agreement without renewal. Every date below is worked out by hand from
DOMAIN.md's deadlines and the Swedish calendar, not read back from the program.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from iop_workflow import FakeClock, Iop
from tests.helpers import add_orgs, prepare_signing, to_assessment

START, STOP = date(2026, 1, 12), date(2027, 4, 30)


def sign(iop: Iop, start: str, end: str) -> str:
    ref = to_assessment(iop)
    prepare_signing(iop, ref, start=start, end=end)
    iop.fire(ref, "sign", actor="eva")
    return ref


def transitions_by_scheduler(iop: Iop, ref: str) -> list[tuple[str, str, str]]:
    return [(r["at"][:10], r["trigger"], r["to_state"]) for r in iop.history(ref) if r["source"] == "scheduler"]


def test_one_year_of_deadlines_enforce_themselves(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    refs: dict[str, str] = {}
    officer_work: dict[date, Callable[[], None]] = {
        # A: a one-year agreement that nobody renews.
        START: lambda: refs.setdefault("A", sign(iop, "2026-02-01", "2027-01-31")),
        # B: a two-year agreement; its first yearly review is held and the partnership continues.
        date(2026, 3, 10): lambda: refs.setdefault("B", sign(iop, "2026-04-01", "2028-03-31")),
        # C: starts on midsummer eve; a start date is not a deadline, so it is not moved.
        date(2026, 6, 15): lambda: refs.setdefault("C", sign(iop, "2026-06-19", "2027-06-18")),
        date(2027, 4, 12): lambda: (
            iop.record_review(refs["B"], actor="kim", held_on="2027-04-12", report_received=True),
            iop.fire(refs["B"], "continue", actor="kim"),
        ),
    }
    day = START
    while day <= STOP:
        clock.set_date(day)
        if day in officer_work:
            officer_work[day]()
        report = iop.tick()
        assert report["failed"] == 0 and report["refused"] == 0, (day, report)
        day += timedelta(days=1)

    assert transitions_by_scheduler(iop, refs["A"]) == [
        ("2026-02-01", "activate", "active"),
        # end 2027-01-31 - 3 months notice = 2026-10-31, - 90 days = Sunday 2026-08-02 -> Monday
        ("2026-08-03", "start_review", "review"),
        ("2027-02-01", "expire", "ended"),  # the day after the last day of the agreement
    ]
    assert transitions_by_scheduler(iop, refs["B"]) == [
        ("2026-04-01", "activate", "active"),
        ("2027-04-01", "start_review", "review"),  # yearly from the start date
    ]
    assert transitions_by_scheduler(iop, refs["C"]) == [
        ("2026-06-19", "activate", "active"),
        # a one-year agreement: its renewal review (2027-06-18 - 3 months - 90 days) comes
        # before any yearly review
        ("2026-12-18", "start_review", "review"),
    ]
    assert iop.case(refs["A"])["end_reason"] == "expired"
    assert [iop.case(refs[k])["state"] for k in "ABC"] == ["ended", "active", "review"]

    alerts = {(a["case_ref"], a["kind"], a["due_on"], a["recipient"]) for a in iop.alerts() if a["case_ref"]}
    assert alerts == {
        (refs["A"], "review_due_soon", "2026-07-03", "anna"),  # 30 days before 2026-08-02, a Friday
        (refs["A"], "review_overdue", "2026-09-02", "role:coordinator"),  # review began 2026-08-03 + 30 days
        (refs["B"], "review_due_soon", "2027-03-02", "anna"),
        (refs["C"], "review_due_soon", "2026-11-18", "anna"),  # 2026-12-18 - 30 days, a Wednesday
        (refs["C"], "review_overdue", "2027-01-18", "role:coordinator"),  # Sunday 2027-01-17 -> Monday
    }
    # B continues: its renewal review comes before a second yearly review, and then it expires.
    assert [(t["kind"], t["due_on"]) for t in iop.case(refs["B"])["timers"]] == [
        ("review_reminder", "2027-09-02"),  # 2027-10-02 - 30 days
        ("renewal_review", "2027-10-04"),  # 2028-03-31 - 3 months - 90 days = Saturday 2027-10-02 -> Monday
        ("agreement_end", "2028-04-01"),
    ]
    assert [(t["kind"], t["due_on"]) for t in iop.case(refs["C"])["timers"]] == [("agreement_end", "2027-06-19")]
    history = [r for ref in refs.values() for r in iop.history(ref) if r["source"] == "scheduler"]
    assert {(r["actor"], tuple(r["roles"])) for r in history} == {("system", ("system",))}
    assert iop.verify().ok
