"""Sweeps on real databases: due timers fire once, in due order, across outages and races."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from iop_workflow import FakeClock, Iop
from iop_workflow.settings import Settings
from tests.helpers import add_orgs, adopted_guideline_toml, open_case, prepare_signing, to_assessment, to_signed

GUIDELINE = Path(__file__).resolve().parents[1] / "config" / "guidelines" / "stenungsund.toml"


def scalar(iop: Iop, sql: str, **params: object) -> int:
    with iop.app.db.engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def scheduler_records(iop: Iop, ref: str) -> list[tuple[str, str]]:
    return [(r["trigger"], r["to_state"]) for r in iop.history(ref) if r["source"] == "scheduler"]


def test_signed_case_activates_on_its_start_date_once(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = to_signed(iop)  # agreement 2026-02-01 .. 2028-01-31
    assert iop.tick()["fired"] == 0
    clock.set_date(date(2026, 1, 31))
    assert iop.sweep_timers()["fired"] == 0
    assert iop.case(ref)["state"] == "signed"
    clock.set_date(date(2026, 2, 1))  # a Sunday: the start date is not moved
    report = iop.sweep_timers()
    assert (report["fired"], report["failed"]) == (1, 0)
    assert iop.case(ref)["state"] == "active"
    last = iop.history(ref)[-1]
    assert (last["trigger"], last["actor"], last["source"], last["roles"]) == (
        "activate",
        "system",
        "scheduler",
        ["system"],
    )
    assert iop.sweep_timers()["due"] == 0  # idempotent: nothing left to fire
    assert [t["kind"] for t in iop.case(ref)["timers"]] == [
        "review_reminder",
        "review_due",
        "renewal_review",
        "agreement_end",
    ]
    assert iop.verify().ok


def test_outage_fires_each_missed_timer_once_in_due_order(iop: Iop, clock: FakeClock) -> None:
    """After a year and a half without a scheduler, one tick catches up, each timer once."""
    add_orgs(iop)
    ref = to_assessment(iop)
    prepare_signing(iop, ref, start="2026-02-01", end="2027-01-31")
    iop.fire(ref, "sign", actor="eva")
    clock.set_date(date(2027, 6, 1))
    report = iop.sweep_timers()
    # activate (2026-02-01) plans the renewal review (2026-08-03: end - 3 months notice - 90 days,
    # then the next working day) and expiry (2027-02-01); start_review in its turn plans expiry again.
    assert scheduler_records(iop, ref) == [("activate", "active"), ("start_review", "review"), ("expire", "ended")]
    assert iop.case(ref)["state"] == "ended"
    assert iop.case(ref)["end_reason"] == "expired"
    fired = [(i["kind"], i["outcome"]) for i in report["items"]]
    # The first pass's expiry timer belongs to 'active', which start_review left: it is skipped,
    # and the one 'review' planned fires in the next pass.
    assert fired == [
        ("agreement_start", "fired"),
        ("review_reminder", "alert"),
        ("renewal_review", "fired"),
        ("agreement_end", "skipped"),
        ("agreement_end", "fired"),
    ]
    assert iop.sweep_timers()["due"] == 0
    assert scalar(iop, "SELECT count(*) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL") == 0
    assert iop.verify().ok


def test_idle_alert_and_overdue_review_escalates(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    idle = open_case(iop)
    ref = to_signed(iop)
    clock.set_date(date(2026, 3, 13))  # opened 2026-01-12 + 60 days
    report = iop.sweep_timers()
    assert report["alerts"] == 1
    [alert] = [a for a in iop.alerts() if a["case_ref"] == idle]
    assert (alert["kind"], alert["recipient"], alert["due_on"]) == ("case_idle", "anna", "2026-03-13")
    assert idle in alert["message"]
    clock.set_date(date(2027, 2, 1))
    iop.sweep_timers()  # review_due -> start_review
    assert iop.case(ref)["state"] == "review"
    clock.set_date(date(2027, 3, 3))  # started 2027-02-01 + 30 days grace
    assert iop.sweep_timers()["alerts"] == 1
    overdue = [a for a in iop.alerts(lang="en") if a["kind"] == "review_overdue"]
    assert [(a["case_ref"], a["recipient"]) for a in overdue] == [(ref, "role:coordinator")]
    assert "overdue" in overdue[0]["message"]
    acked = iop.acknowledge_alert(overdue[0]["id"], actor="kim")
    assert acked["acknowledged"] and acked["acknowledged_by"] == "kim"
    assert all(a["id"] != overdue[0]["id"] for a in iop.alerts())
    assert any(a["id"] == overdue[0]["id"] for a in iop.alerts(include_acknowledged=True))


def test_refused_timer_is_closed_and_handed_to_a_person(iop: Iop, clock: FakeClock) -> None:
    """A due trigger the guards refuse never passes silently: the officer gets an alert."""
    add_orgs(iop)
    ref = to_signed(iop)
    with iop.app.db.engine.begin() as conn:  # the activation moved before the agreement starts
        conn.execute(sa.text("UPDATE timers SET due_on = :d WHERE action = 'fire:activate'"), {"d": date(2026, 1, 20)})
    clock.set_date(date(2026, 1, 20))
    before = len(iop.history(ref))
    report = iop.sweep_timers()
    assert (report["refused"], report["fired"], report["alerts"]) == (1, 0, 1)
    assert len(iop.history(ref)) == before  # a refusal writes no log record
    assert iop.case(ref)["state"] == "signed"
    [alert] = [a for a in iop.alerts(lang="en") if a["kind"] == "timer_refused"]
    assert alert["case_ref"] == ref and "activate" in alert["message"] and "2026-02-01" in alert["message"]
    assert scalar(iop, "SELECT count(*) FROM timers WHERE outcome LIKE 'refused: %' AND fired_at IS NOT NULL") == 1
    assert iop.sweep_timers()["due"] == 0


def test_a_failing_timer_rolls_back_alone_and_is_retried(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    bad, good = open_case(iop), open_case(iop)
    with iop.app.db.engine.begin() as conn:  # a timer from a definition that no longer has its trigger
        conn.execute(
            sa.text(
                "UPDATE timers SET action = 'fire:no_such_trigger' WHERE case_id = "
                "(SELECT id FROM cases WHERE ref = :r)"
            ),
            {"r": bad},
        )
    clock.set_date(date(2026, 3, 20))
    report = iop.sweep_timers()
    assert (report["failed"], report["alerts"]) == (1, 1)
    assert [a["case_ref"] for a in iop.alerts()] == [good]
    outcome = scalar(iop, "SELECT count(*) FROM timers WHERE outcome LIKE 'failed: %' AND fired_at IS NULL")
    assert outcome == 1  # left open, with the reason, for the next sweep
    assert iop.sweep_timers()["failed"] == 1
    assert len(iop.history(bad)) == 1


def test_timer_of_a_state_the_case_has_left_is_skipped(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    with iop.app.db.engine.begin() as conn:  # a stray open timer of another state (a hand edit, a race)
        conn.execute(sa.text("UPDATE timers SET state = 'dialogue'"))
    clock.set_date(date(2026, 3, 20))
    report = iop.sweep_timers()
    assert (report["skipped"], report["alerts"]) == (1, 0)
    assert iop.alerts() == [] and len(iop.history(ref)) == 1


def test_dry_run_lists_and_writes_nothing(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    clock.set_date(date(2026, 2, 2))
    report = iop.tick(dry_run=True)
    timers = next(s for s in report["sweeps"] if s["kind"] == "timers")
    assert [(i["case_ref"], i["action"], i["outcome"]) for i in timers["items"]] == [
        (ref, "fire:activate", "would_fire")
    ]
    assert report["dry_run"] and report["fired"] == 0
    assert iop.case(ref)["state"] == "signed"
    assert iop.alerts() == []  # not even the expired Kungälv guideline's alert


def test_guideline_warning_then_expiry_flags_bound_cases_once(iop: Iop, clock: FakeClock, tmp_path: Path) -> None:
    text = GUIDELINE.read_text(encoding="utf-8")
    short = tmp_path / "short.toml"
    short.write_text(
        adopted_guideline_toml(text, ref="KS 2026/1", valid_from="2026-01-01", valid_until="2026-09-30"),
        encoding="utf-8",
    )
    iop.load_guideline_file(short)
    add_orgs(iop)
    ref = to_assessment(iop)
    assert iop.case(ref)["guideline"]["ref"] == "KS 2026/1"  # the newest in force binds
    iop.tick()  # Kungälv's long-expired guideline is flagged at once
    clock.set_date(date(2026, 4, 2))  # 181 days before 2026-09-30
    assert iop.sweep_guidelines()["alerts"] == 0
    clock.set_date(date(2026, 4, 3))

    def planned() -> list[tuple[str, str]]:
        return [(r["due_on"], r["kind"]) for r in iop.upcoming(date(2026, 12, 31)) if r["guideline_ref"] == "KS 2026/1"]

    assert planned() == [("2026-04-03", "guideline_expiring"), ("2026-10-01", "guideline_expired")]
    assert iop.sweep_guidelines()["alerts"] == 1
    assert planned() == [("2026-10-01", "guideline_expired")]  # the warning is raised: no longer coming
    assert iop.sweep_guidelines()["alerts"] == 0
    clock.set_date(date(2026, 9, 30))  # still valid on its last day
    assert iop.sweep_guidelines()["alerts"] == 0
    clock.set_date(date(2026, 10, 1))
    assert iop.sweep_guidelines()["alerts"] == 2  # the owner, and the officer of the bound case
    assert iop.sweep_guidelines()["alerts"] == 0
    kinds = {(a["kind"], a["case_ref"], a["recipient"]) for a in iop.alerts() if a["guideline_ref"] == "KS 2026/1"}
    assert kinds == {
        ("guideline_expiring", None, "Kommunstyrelsen"),
        ("guideline_expired", None, "Kommunstyrelsen"),
        ("case_guideline_expired", ref, "anna"),
    }
    assert scalar(iop, "SELECT count(*) FROM guidelines WHERE expired_flagged_on IS NOT NULL") == 2


def test_upcoming_lists_timers_and_guideline_deadlines(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    rows = iop.upcoming(date(2026, 12, 31))
    assert [(r["due_on"], r["case_ref"] or r["guideline_ref"], r["action"]) for r in rows] == [
        ("2024-01-01", "KS2019/2069", "alert:guideline_expired"),  # overdue: not yet flagged by a sweep
        ("2026-02-01", ref, "fire:activate"),
    ]
    iop.tick()
    rows = iop.upcoming(date(2026, 12, 31))
    assert [(r["due_on"], r["case_ref"], r["action"], r["who"]) for r in rows] == [
        ("2026-02-01", ref, "fire:activate", "anna")
    ]


def open_many(iop: Iop, n: int) -> None:
    for _ in range(n):
        open_case(iop)


def test_two_sweepers_at_once_fire_each_timer_exactly_once_sqlite(
    tmp_path: Path, clock: FakeClock, settings: Settings
) -> None:
    """Threads, each with its own engine, over 1,000 due alert timers and due transitions."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        signed = [to_signed(iop) for _ in range(3)]
        open_many(iop, 1000)
    clock.set_date(date(2026, 3, 14))
    results: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def sweeper() -> None:
        try:
            with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as mine:
                results.append(mine.sweep_timers(batch_size=50))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as iop:
        assert sum(int(r["alerts"]) for r in results) == 1000  # idle alerts of the open cases only
        assert sum(int(r["fired"]) for r in results) == 3
        assert scalar(iop, "SELECT count(*) FROM alerts WHERE kind = 'case_idle'") == 1000
        assert scalar(iop, "SELECT count(*) FROM transition_log WHERE source = 'scheduler'") == 3
        assert all(iop.case(ref)["state"] == "active" for ref in signed)
        assert iop.verify().ok


def test_catch_up_after_thirty_days_fires_once(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    refs = [to_signed(iop) for _ in range(3)]
    clock.set_date(date(2026, 2, 1) + timedelta(days=30))  # the scheduler was down all of February
    first = iop.tick()
    assert first["fired"] == 3
    assert iop.tick()["fired"] == 0
    assert all(scheduler_records(iop, r) == [("activate", "active")] for r in refs)


def test_report_lists_a_bounded_number_of_timers(iop: Iop, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A catch-up over many timers keeps counting but stops listing (constant memory)."""
    from iop_workflow.service import sweep_common

    monkeypatch.setattr(sweep_common, "MAX_ITEMS", 2)
    add_orgs(iop)
    open_many(iop, 3)
    clock.set_date(date(2026, 3, 20))
    report = iop.sweep_timers()
    assert (report["alerts"], len(report["items"]), report["items_omitted"]) == (3, 2, 1)


def test_a_timer_that_breaks_on_an_unexpected_error_is_isolated_closed_and_reported(iop: Iop, clock: FakeClock) -> None:
    """A poisoned timer (its case holds a row the code cannot read: a ValueError, not an IopError)
    among healthy ones: the healthy ones fire, it is closed as failed with the reason, an
    administrator is alerted, and the next sweep does not try it again."""
    from iop_workflow.service import sweep

    add_orgs(iop)
    refs = [to_signed(iop) for _ in range(3)]
    poisoned = refs[1]
    with iop.app.db.engine.begin() as conn:  # a correction written by hand whose value is no date
        conn.execute(
            sa.text(
                "INSERT INTO corrections (case_id, case_ref, fact_kind, fact_id, corrects_case_seq, field, old_value,"
                " new_value, reason, log_seq, corrected_by, corrected_at) SELECT c.id, c.ref, 'agreement', a.id, 1,"
                " 'start_on', '\"2026-02-01\"', '\"1 februari\"', 'för hand', 0, 'mallory', c.created_at"
                " FROM cases c JOIN agreements a ON a.case_id = c.id WHERE c.ref = :r"
            ),
            {"r": poisoned},
        )
    clock.set_date(date(2026, 2, 1))
    report = sweep.sweep_timers(iop.app).as_dict()
    assert (report["fired"], report["failed"]) == (2, 1)
    assert [iop.case(r)["state"] for r in refs] == ["active", "signed", "active"]
    (failed,) = [i for i in report["items"] if i["outcome"] == "failed"]
    assert failed["case_ref"] == poisoned
    outcome = scalar(
        iop, "SELECT count(*) FROM timers WHERE outcome LIKE 'failed: ValueError%' AND fired_at IS NOT NULL"
    )
    assert outcome == 1  # closed, with the reason
    (alert,) = [a for a in iop.alerts(lang="en", recipient="role:admin") if a["kind"] == "timer_failed"]
    assert alert["case_ref"] == poisoned and "ValueError" in alert["message"]
    again = sweep.sweep_timers(iop.app).as_dict()
    assert (again["due"], again["failed"]) == (0, 0)


def test_a_batch_reads_its_cases_in_one_statement(iop: Iop, clock: FakeClock) -> None:
    """The claimed timers' cases are read once per batch (under the claim's lock), not once per timer."""
    from tests.test_write_path import statements

    add_orgs(iop)
    refs = [to_signed(iop) for _ in range(3)]
    clock.set_date(date(2026, 2, 1))
    with statements(iop) as seen:
        report = iop.sweep_timers()
    assert (report["fired"], report["failed"]) == (3, 0)
    case_reads = [s for s in seen if s.startswith("SELECT") and s.partition(" FROM ")[2].startswith("cases")]
    assert len(case_reads) == 1, case_reads
    assert [iop.case(ref)["state"] for ref in refs] == ["active"] * 3
    assert iop.verify().ok
