"""The service on real databases (SQLite file and PostgreSQL): one transaction per command."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from iop_workflow import ConcurrentUpdate, FakeClock, Iop, NotFound, TransitionNotAllowed
from iop_workflow.errors import InvalidInput, UsageError
from iop_workflow.settings import Settings
from iop_workflow.store import cases as repo
from iop_workflow.store.orgs import insert_org
from tests.helpers import COMPANY, SHELTER, add_orgs, open_case, prepare_signing, to_assessment, to_signed


def counts(iop: Iop) -> dict[str, int]:
    with iop.app.db.engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("cases", "transition_log", "timers", "assessments", "agreements")
        }


def test_whole_life_cycle_with_renewal(iop: Iop, clock: FakeClock, tmp_path: Path) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    assert iop.case(ref)["state"] == "signed"
    clock.set_date(date(2026, 2, 2))
    iop.fire(ref, "activate", actor="system")
    clock.set_date(date(2027, 2, 1))
    iop.fire(ref, "start_review", actor="kim")
    with pytest.raises(TransitionNotAllowed) as info:
        iop.fire(ref, "continue", actor="kim")
    assert [r.code for r in info.value.reasons] == ["review_missing"]
    iop.record_review(ref, actor="kim", held_on="2027-02-01", report_received=True, summary="Bra år")
    iop.fire(ref, "continue", actor="kim")
    clock.set_date(date(2027, 8, 2))
    iop.fire(ref, "start_review", actor="system")
    clock.set_date(date(2027, 8, 20))  # the review is recorded once held
    iop.record_review(ref, actor="kim", held_on="2027-08-20", report_received=True)
    prepare_signing(iop, ref, start="2028-02-01", end="2030-01-31")
    rec = iop.fire(ref, "renew", actor="eva")
    assert rec["data"]["agreement"] == {"period": 2, "start_on": "2028-02-01", "end_on": "2030-01-31"}
    case = iop.case(ref)
    assert (case["state"], case["period"]) == ("renewed", 2)
    assert case["timers"] == [{"kind": "agreement_start", "due_on": "2028-02-01", "action": "fire:activate"}]
    clock.set_date(date(2028, 2, 1))
    iop.fire(ref, "activate", actor="system")
    # Ending before the end date needs a decision to end the running agreement.
    iop.record_decision(
        ref, actor="eva", body="Socialnämnden", decided_on="2028-02-01", minutes_ref="SN § 3/2028", subject="ending"
    )
    iop.fire(ref, "end", actor="anna", reason="Verksamheten upphör", end_reason="completed")
    case = iop.case(ref)
    assert (case["state"], case["end_reason"], case["timers"]) == ("ended", "completed", [])
    history = iop.history(ref)
    moves = [(r["trigger"], r["from_state"], r["to_state"]) for r in history if not r["trigger"].startswith("record:")]
    assert moves == [
        ("open", None, "initiative"),
        ("start_dialogue", "initiative", "dialogue"),
        ("submit_for_assessment", "dialogue", "assessment"),
        ("sign", "assessment", "signed"),
        ("activate", "signed", "active"),
        ("start_review", "active", "review"),
        ("continue", "review", "active"),
        ("start_review", "active", "review"),
        ("renew", "review", "renewed"),
        ("activate", "renewed", "active"),
        ("end", "active", "ended"),
    ]
    assert [r["case_seq"] for r in history] == list(range(1, len(history) + 1))
    report = iop.verify()
    outside = sum(1 for r in iop.export() if r["case_ref"].startswith("@"))  # the @admin and @guideline chains
    assert report.ok and report.records == len(history) + outside
    lines = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    case_lines = [json.loads(line) for line in lines if json.loads(line)["case_ref"] == ref]
    assert [line["hash"] for line in case_lines] == [r["hash"] for r in history]


def test_terminal_state_is_never_left(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    iop.fire(ref, "withdraw", actor="anna", reason="Föreningen avstår")
    for trigger in ("start_dialogue", "decline", "withdraw", "activate"):
        with pytest.raises(TransitionNotAllowed) as info:
            iop.fire(ref, trigger, actor="anna", reason="x")
        assert info.value.reasons[0].code == "wrong_state"
    assert iop.case(ref)["end_reason"] == "withdrawn"


def test_a_refusal_writes_nothing(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    before, version = counts(iop), iop.case(ref)["version"]
    with pytest.raises(TransitionNotAllowed) as info:
        iop.fire(ref, "sign", actor="eva")
    assert "criterion_unassessed" in [r.code for r in info.value.reasons]
    assert info.value.exit_status == 3
    with pytest.raises(UsageError):
        iop.fire(ref, "teleport", actor="anna")
    with pytest.raises(InvalidInput):
        iop.fire(ref, "return_to_dialogue", actor="anna")  # needs a reason
    with pytest.raises(NotFound):
        iop.fire("IOP-1999-0001", "sign", actor="eva")
    assert counts(iop) == before and iop.case(ref)["version"] == version


def test_company_is_refused_at_open(iop: Iop) -> None:
    add_orgs(iop)
    before = counts(iop)
    with pytest.raises(TransitionNotAllowed) as info:
        open_case(iop, org=COMPANY)
    assert [r.code for r in info.value.reasons] == ["org_not_idea_based", "org_profit_motive"]
    assert "Vinst & Co AB (556036-0793)" in info.value.message("sv")
    assert counts(iop) == before


def test_kungalv_case_cannot_reach_assessment_today(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = open_case(iop, municipality="Kungälv", org=SHELTER)
    iop.fire(ref, "start_dialogue", actor="anna")
    iop.record_meeting(ref, actor="anna", held_on=clock.today(), joint_challenge="Hemlöshet")
    with pytest.raises(TransitionNotAllowed) as info:
        iop.fire(ref, "submit_for_assessment", actor="anna")
    assert "KS2019/2069 (Kungälv) gällde till och med 2023-12-31" in info.value.message("sv")


def test_expected_version_guards_against_lost_updates(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    with pytest.raises(ConcurrentUpdate) as info:
        iop.fire(ref, "start_dialogue", actor="anna", if_version=7)
    assert (info.value.expected_version, info.value.found_version, info.value.exit_status) == (7, 1, 5)
    iop.fire(ref, "start_dialogue", actor="anna", if_version=1)
    assert iop.case(ref)["version"] == 2


def test_threads_racing_on_one_case_one_wins(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def racer() -> None:
        barrier.wait()
        try:
            iop.fire(ref, "start_dialogue", actor="anna", if_version=1)
            results.append("ok")
        except ConcurrentUpdate:
            results.append("conflict")

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 3 + ["ok"]
    assert [r["trigger"] for r in iop.history(ref)] == ["open", "start_dialogue"]


@pytest.mark.postgres
def test_postgres_stale_read_loses_with_concurrent_update(
    pg_schema_url: str, clock: FakeClock, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Connection A reads, B fires and commits, A's version-checked UPDATE finds nothing."""
    with Iop.connect(pg_schema_url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        ref = open_case(iop)
        with iop.app.db.write() as s:
            stale = repo.case_row(s, ref)
            iop.fire(ref, "start_dialogue", actor="anna")  # another connection, committed
            with pytest.raises(ConcurrentUpdate) as info:
                repo.update_case(s, stale, {"state": "dialogue"})
            assert (info.value.expected_version, info.value.found_version) == (1, 2)
        assert [r["trigger"] for r in iop.history(ref)] == ["open", "start_dialogue"]


@pytest.mark.parametrize("statement", ["UPDATE transition_log SET actor = 'mallory'", "DELETE FROM transition_log"])
def test_the_database_refuses_to_change_the_log(iop: Iop, statement: str) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    with pytest.raises(sa.exc.DBAPIError) as info, iop.app.db.engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert "append-only" in str(info.value)
    assert iop.history(ref)[0]["actor"] == "anna"


def test_verify_names_a_tampered_record(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    with iop.app.db.engine.begin() as conn:
        if iop.app.db.dialect == "sqlite":
            conn.execute(sa.text("DROP TRIGGER transition_log_no_update"))
        else:
            conn.execute(sa.text("DROP TRIGGER transition_log_no_change ON transition_log"))
        conn.execute(
            sa.text("UPDATE transition_log SET actor = 'mallory' WHERE case_ref = :r AND case_seq = 2"), {"r": ref}
        )
    report = iop.verify()
    assert not report.ok
    assert report.problems[0] == {
        "case_ref": ref,
        "seq": report.problems[0]["seq"],
        "case_seq": 2,
        "field": "hash",
        "problem": "content does not match its hash",
    }


def test_timers_are_planned_on_entry_and_cancelled_on_exit(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    assert iop.case(ref)["timers"] == [
        {"kind": "idle", "due_on": (clock.today() + timedelta(days=60)).isoformat(), "action": "alert:case_idle"}
    ]
    iop.fire(ref, "decline", actor="anna", reason="Inte aktuellt")
    assert iop.case(ref)["timers"] == []
    with iop.app.db.engine.connect() as conn:
        cancelled = conn.execute(sa.text("SELECT count(*) FROM timers WHERE cancelled_at IS NOT NULL")).scalar_one()
    assert cancelled == 1


def test_four_eyes_blocks_the_assessor_from_signing(iop: Iop, settings) -> None:  # type: ignore[no-untyped-def]
    add_orgs(iop)
    ref = to_assessment(iop)
    prepare_signing(iop, ref)
    boss = iop.actor("anna")
    both = type(boss)(name="anna", roles=frozenset({"officer", "signatory"}), source="api")
    with pytest.raises(TransitionNotAllowed) as info:
        iop.fire(ref, "sign", actor=both)
    assert [r.code for r in info.value.reasons] == ["four_eyes"]


ORG = {"name": "Föreningen Samtidig", "org_number": "802479-1322", "legal_form": "ideell_forening"}


def test_an_organisation_added_twice_is_refused(iop: Iop) -> None:
    iop.add_organisation(**ORG)
    with pytest.raises(InvalidInput) as info:
        iop.add_organisation(**ORG)
    assert info.value.exit_status == 6 and "already registered" in info.value.message("en")
    assert [o["org_number"] for o in iop.organisations()] == ["802479-1322"]


@pytest.mark.postgres
@pytest.mark.slow
def test_an_add_that_meets_a_concurrent_add_of_the_same_organisation_is_refused(
    pg_schema_url: str, clock: FakeClock, settings: Settings
) -> None:
    """PostgreSQL: another transaction has added the number but not committed, so this add finds it free and
    its insert waits on the unique index; when the other commits, the add is refused (exit 6), not a
    database error, and its transaction is left usable."""
    with Iop.connect(pg_schema_url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        outcome: list[object] = []
        with iop.app.db.engine.connect() as other, iop.app.db.engine.connect() as watch:
            tx = other.begin()
            insert_org(other, {**ORG, "legal_form": "ideell_forening"}, clock.now())
            pid = watch.execute(sa.text("SELECT pg_backend_pid()")).scalar()

            def add() -> None:
                try:
                    outcome.append(iop.add_organisation(**ORG))
                except Exception as exc:  # the thread's ending, judged below
                    outcome.append(exc)

            thread = threading.Thread(target=add)
            thread.start()
            waiting = sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> :pid"
                " AND datname = current_database() AND query LIKE 'INSERT INTO organisations%'"
            )
            deadline = time.monotonic() + 20
            while not watch.execute(waiting, {"pid": pid}).scalar() and time.monotonic() < deadline:
                watch.rollback()  # a fresh snapshot of pg_stat_activity each time
            tx.commit()
            thread.join()
        assert len(outcome) == 1 and isinstance(outcome[0], InvalidInput), outcome
        assert outcome[0].exit_status == 6 and "already registered" in outcome[0].message("en")
        assert [o["org_number"] for o in iop.organisations()] == ["802479-1322"]
