"""Decisions that bind (issue #16, items 3 and 4), each "Why" bullet as a test, on both back-ends.

- a decision's body is one the settings name for the case's municipality ("Fritidsgården" is not);
- a running agreement ends at its end date, or earlier only by a recorded decision to end it;
- the legal check is recorded by role ``legal`` only, never by whoever assessed the criteria;
- ``terminate`` (uppsägning) gives notice: the case runs on until the notice period has run, when
  the sweep ends it; ``rescind`` (hävning) ends it at once, with a written cause and a decision;
- a partnership the municipality initiated is registered, and stopped at signing.
(A decision dated before the case was opened, or in the future: tests/test_fact_dates.py.)
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from iop_workflow import FakeClock, Iop, TransitionNotAllowed
from iop_workflow.errors import DefinitionError, InvalidInput
from iop_workflow.resources import shipped_guidelines
from iop_workflow.settings import DecisionBodies, Settings, load_settings
from tests.helpers import ORG, add_orgs, open_case, prepare_signing, to_assessment, to_signed


def history_len(iop: Iop, ref: str) -> int:
    return len(iop.history(ref))


def decide(iop: Iop, ref: str, body: str = "Socialnämnden", **extra: object) -> dict[str, object]:
    return iop.record_decision(
        ref, actor="eva", body=body, decided_on=iop.app.clock.today(), minutes_ref="SN § 7/2026", **extra
    )


def active(iop: Iop, clock: FakeClock) -> str:
    """A case signed 2026-01-12 for 2026-02-01..2028-01-31 (notice 3 months), active since 2026-02-01."""
    ref = to_signed(iop)
    clock.set_date(date(2026, 2, 1))
    iop.fire(ref, "activate", actor="system")
    return ref


# -- decision bodies ------------------------------------------------------------------------------
def test_a_body_that_is_not_the_municipalitys_is_refused_naming_the_allowed_ones(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    before = history_len(iop, ref)
    with pytest.raises(InvalidInput) as refused:
        decide(iop, ref, body="Fritidsgården")
    error = refused.value
    assert error.exit_status == 6 and error.field == "body"
    assert "Fritidsgården" in error.message("sv")
    assert "välj ett av: Kommunfullmäktige, Kommunstyrelsen, Socialnämnden" in error.message("sv")
    assert "is not a decision body of Stenungsund" in error.message("en")
    assert history_len(iop, ref) == before
    # Any case and spacing of a configured body; stored as the settings spell it.
    assert decide(iop, ref, body="  socialNÄMNDEN ")["data"]["decision"]["body"] == "Socialnämnden"  # type: ignore[index]


def test_a_delegates_decision_needs_its_point_of_the_delegation_order(
    db_url: str, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    bodies = {"Stenungsund": DecisionBodies(bodies=("Socialnämnden",), delegation_order="SN 2025/17")}
    with Iop.connect(
        db_url, clock=clock, settings=dataclasses.replace(settings, decision_bodies=bodies), audit_log=False
    ) as iop:
        iop.init()
        add_orgs(iop)
        ref = to_assessment(iop)
        with pytest.raises(InvalidInput) as refused:
            decide(iop, ref, body="Kommunstyrelsen")
        assert "choose one of: Socialnämnden, Delegat" in refused.value.message("en")
        with pytest.raises(InvalidInput) as missing:
            decide(iop, ref, body="delegat")
        assert missing.value.field == "delegation_ref" and "SN 2025/17" in missing.value.message("sv")
        done = decide(iop, ref, body="delegat", delegation_ref="punkt 4.2")
        assert done["data"]["decision"]["body"] == "Delegat"  # type: ignore[index]
        assert done["data"]["decision"]["delegation_ref"] == "punkt 4.2"  # type: ignore[index]


def test_the_shipped_settings_name_bodies_for_the_five_seed_municipalities() -> None:
    shipped = load_settings(environ={}).decision_bodies
    assert set(shipped) == {"Kungälv", "Jönköping", "Stenungsund", "Mark", "Eksjö"}
    assert all(b.bodies[:2] == ("Kommunfullmäktige", "Kommunstyrelsen") for b in shipped.values())
    assert all(not b.delegation_order for b in shipped.values())  # no seed gives a delegationsordning
    assert Settings().decision_bodies == shipped
    # Looked up by the place, however --municipality names it.
    assert Settings().bodies_of("1482") is Settings().bodies_of("kungälv") is not None


def test_settings_refuse_a_malformed_decision_bodies_table(tmp_path: Path) -> None:
    cases = {
        '[decision_bodies.Mark]\nbodys = ["KS"]\n': ("decision_bodies.Mark.bodys", "did you mean"),
        "[decision_bodies.Mark]\nbodies = []\n": ("decision_bodies.Mark.bodies", "non-empty"),
        '[decision_bodies.Mark]\nbodies = ["KS", "ks"]\n': ("decision_bodies.Mark.bodies", "distinct"),
        '[decision_bodies.Mark]\nbodies = ["Delegat"]\n': ("decision_bodies.Mark.bodies", "delegation_order"),
        # Mark by name and by its SCB code: which table would a decision in Mark be held to?
        '[decision_bodies.Mark]\nbodies = ["KS"]\n[decision_bodies."1463"]\nbodies = ["KF"]\n': (
            "decision_bodies.1463",
            "'Mark' names too",
        ),
    }
    for text, (key, problem) in cases.items():
        path = tmp_path / "iop.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(DefinitionError) as refused:
            load_settings(path, environ={})
        assert refused.value.key == key and problem in str(refused.value.problem)


# -- ending a running agreement -------------------------------------------------------------------
def test_ending_a_running_agreement_as_completed_needs_a_decision(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = active(iop, clock)
    clock.set_date(date(2026, 3, 2))
    before = history_len(iop, ref)
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.fire(ref, "end", actor="anna", reason="Klart", end_reason="completed")
    assert [r.code for r in refused.value.reasons] == ["ending_before_end_date"]
    assert "gäller till och med 2028-01-31" in refused.value.reasons[0].sv
    assert history_len(iop, ref) == before and iop.case(ref)["state"] == "active"
    # A decision to enter or renew does not end anything; one to end does.
    with pytest.raises(TransitionNotAllowed) as wrong_state:
        decide(iop, ref)
    assert [r.code for r in wrong_state.value.reasons] == ["wrong_state_for_record"]
    decide(iop, ref, subject="ending")
    record = iop.fire(ref, "end", actor="anna", reason="Klart", end_reason="completed")
    assert record["data"]["decision"]["subject"] == "ending"
    assert (iop.case(ref)["state"], iop.case(ref)["end_reason"]) == ("ended", "completed")
    assert iop.verify().ok


def test_ending_on_the_end_date_needs_no_decision(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = active(iop, clock)
    clock.set_date(date(2028, 1, 31))  # the agreement's last day
    iop.fire(ref, "end", actor="anna", reason="Avtalstiden är slut", end_reason="not_renewed")
    assert (iop.case(ref)["state"], iop.case(ref)["end_reason"]) == ("ended", "not_renewed")


# -- the legal check ------------------------------------------------------------------------------
@pytest.fixture
def jurists(settings: Settings) -> Settings:
    """lena is an officer and a jurist; lars only a jurist."""
    return dataclasses.replace(settings, actors={**settings.actors, "lena": frozenset({"officer", "legal"})})


def check_law(iop: Iop, ref: str, who: str) -> dict[str, object]:
    return iop.record_legal_check(
        ref,
        actor=who,
        competence=True,
        procurement_not_required=True,
        no_competition_distortion=True,
        state_aid_basis="non_economic",
        rationale="Icke-ekonomisk verksamhet",
    )


def test_the_legal_check_by_an_officer_or_by_the_cases_assessor_is_refused(
    db_url: str, clock: FakeClock, jurists: Settings
) -> None:
    with Iop.connect(db_url, clock=clock, settings=jurists, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        ref = to_assessment(iop)
        iop.assess(ref, "not_a_company", "met", note="Bedömt", actor="lena")
        before = history_len(iop, ref)
        with pytest.raises(TransitionNotAllowed) as officer:
            check_law(iop, ref, "anna")
        assert [r.code for r in officer.value.reasons] == ["role_not_allowed"]
        assert "det kräver behörigheten Jurist (`iop role grant anna legal`)" in officer.value.reasons[0].sv
        with pytest.raises(TransitionNotAllowed) as assessor:
            check_law(iop, ref, "lena")  # holds legal, but assessed the criteria
        assert [r.code for r in assessor.value.reasons] == ["legal_check_by_assessor"]
        assert "fyraögonprincipen" in assessor.value.reasons[0].sv
        assert history_len(iop, ref) == before
        assert check_law(iop, ref, "lars")["actor"] == "lars"


def test_a_legal_check_by_who_later_assessed_does_not_count_at_signing(
    db_url: str, clock: FakeClock, jurists: Settings
) -> None:
    with Iop.connect(db_url, clock=clock, settings=jurists, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        ref = to_assessment(iop)
        prepare_signing(iop, ref)  # lars checks the law, anna assesses
        iop.assess(ref, "not_a_company", "met", note="Bedömt igen", actor="lars")  # then lars assesses too
        with pytest.raises(TransitionNotAllowed) as refused:
            iop.fire(ref, "sign", actor="eva")
        assert [r.code for r in refused.value.reasons] == ["legal_check_by_assessor"]


# -- early ends: uppsägning and hävning -----------------------------------------------------------
def test_terminate_gives_notice_and_the_sweep_ends_the_case_when_it_has_run(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = active(iop, clock)
    clock.set_date(date(2026, 3, 20))
    record = iop.fire(ref, "terminate", actor="eva", reason="Föreningen avvecklas", notice_on="2026-03-16")
    assert record["data"]["notice"] == {"given_on": "2026-03-16", "ends_on": "2026-06-16"}
    case = iop.case(ref)
    assert case["state"] == "active"
    assert {t["kind"]: t["due_on"] for t in case["timers"]}["notice_end"] == "2026-06-17"
    assert "renewal_review" not in {t["kind"] for t in case["timers"]}  # nothing to renew after notice
    with pytest.raises(TransitionNotAllowed) as twice:
        iop.fire(ref, "terminate", actor="eva", reason="Igen")
    assert [r.code for r in twice.value.reasons] == ["notice_given"]
    clock.set_date(date(2026, 6, 16))  # the notice period's last day: still running
    assert iop.sweep_timers()["fired"] == 0 and iop.case(ref)["state"] == "active"
    clock.set_date(date(2026, 6, 17))
    assert iop.sweep_timers()["fired"] == 1
    ended = iop.case(ref)
    assert (ended["state"], ended["end_reason"]) == ("ended", "terminated")
    last = iop.history(ref)[-1]
    assert (last["trigger"], last["actor"]) == ("end_by_notice", "system")
    assert iop.verify().ok


def test_notice_that_runs_past_the_end_date_or_predates_the_case_is_refused(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = active(iop, clock)
    clock.set_date(date(2027, 12, 1))
    before = history_len(iop, ref)
    with pytest.raises(InvalidInput) as late:  # 2027-12-01 + 3 months is after 2028-01-31
        iop.fire(ref, "terminate", actor="eva", reason="Sent")
    assert late.value.field == "notice_on" and "2028-01-31" in late.value.message("sv")
    with pytest.raises(InvalidInput) as early:
        iop.fire(ref, "terminate", actor="eva", reason="Tidigt", notice_on="2025-12-01")
    assert "ärendets öppnande (2026-01-12)" in early.value.message("sv")
    with pytest.raises(InvalidInput):  # only terminate takes a notice date
        iop.fire(ref, "start_review", actor="kim", notice_on="2027-12-01")
    assert history_len(iop, ref) == before


def test_rescind_needs_a_written_cause_and_a_decision_and_ends_at_once(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = active(iop, clock)
    clock.set_date(date(2026, 4, 1))
    with pytest.raises(InvalidInput) as no_cause:
        iop.fire(ref, "rescind", actor="eva")
    assert no_cause.value.field == "reason"
    with pytest.raises(TransitionNotAllowed) as no_decision:
        iop.fire(ref, "rescind", actor="eva", reason="Väsentligt avtalsbrott: medlen har använts till annat")
    assert [r.code for r in no_decision.value.reasons] == ["ending_decision_missing"]
    decide(iop, ref, subject="ending")
    iop.fire(ref, "rescind", actor="eva", reason="Väsentligt avtalsbrott: medlen har använts till annat")
    case = iop.case(ref)
    assert (case["state"], case["end_reason"], case["timers"]) == ("ended", "rescinded", [])
    assert iop.verify().ok


# -- a municipality's initiative ------------------------------------------------------------------
def test_a_municipalitys_initiative_is_registered_and_stopped_at_signing(iop: Iop) -> None:
    add_orgs(iop)
    ref = iop.open_case(
        org_number=ORG,
        municipality="Stenungsund",
        title="Stöd till våldsutsatta",
        challenge="Kommunen vill samverka",
        initiated_by="municipality",
        actor="anna",
    )
    iop.fire(ref, "start_dialogue", actor="anna")
    iop.record_meeting(ref, actor="anna", held_on=iop.app.clock.today(), joint_challenge="Skydd och stöd")
    iop.fire(ref, "submit_for_assessment", actor="anna")
    prepare_signing(iop, ref)
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.fire(ref, "sign", actor="eva")
    assert [r.code for r in refused.value.reasons] == ["initiative_not_from_org"]
    assert "allows_municipal_initiative" in refused.value.reasons[0].en
    blocked = next(o for o in iop.options(ref, actor="eva") if o["trigger"] == "sign")
    assert [r["code"] for r in blocked["reasons"]] == ["initiative_not_from_org"]
    assert open_case(iop)  # an organisation's initiative in the same municipality is not affected


def test_a_guideline_that_allows_municipal_initiative_lets_it_be_signed(iop: Iop, tmp_path: Path) -> None:
    source = next(g for g in shipped_guidelines() if g.municipality == "Stenungsund")
    assert not any(g.allows_municipal_initiative for g in shipped_guidelines())  # false for the five seeds
    text = (Path(__file__).parents[1] / "config" / "guidelines" / "stenungsund.toml").read_text(encoding="utf-8")
    allowing = tmp_path / "stenungsund.toml"
    allowing.write_text(
        text.replace("[guideline]\n", "[guideline]\nallows_municipal_initiative = true\n", 1), encoding="utf-8"
    )
    iop.load_guideline_file(allowing, actor="kim")
    assert iop.guideline(source.ref).allows_municipal_initiative
    add_orgs(iop)
    ref = iop.open_case(
        org_number=ORG,
        municipality="Stenungsund",
        title="Stöd",
        challenge="Kommunen vill samverka",
        initiated_by="municipality",
        actor="anna",
    )
    iop.fire(ref, "start_dialogue", actor="anna")
    iop.record_meeting(ref, actor="anna", held_on=iop.app.clock.today(), joint_challenge="Skydd och stöd")
    iop.fire(ref, "submit_for_assessment", actor="anna")
    prepare_signing(iop, ref)
    assert iop.fire(ref, "sign", actor="eva")["to_state"] == "signed"
    assert iop.verify().ok


# -- the migration ---------------------------------------------------------------------------------
def test_0010_keeps_cases_logs_and_digests_and_comes_back(iop: Iop, clock: FakeClock) -> None:
    from alembic import command

    from iop_workflow.store.migrate import alembic_config, current_revision, head_revision, upgrade

    add_orgs(iop)
    ref = active(iop, clock)
    with iop.app.db.engine.connect() as conn:
        log = conn.execute(sa.text("SELECT seq, hash FROM transition_log ORDER BY seq")).all()
    with iop.app.db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0006")
    with iop.app.db.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("decisions")}
        assert "subject" not in columns
    upgrade(iop.app.db)
    assert current_revision(iop.app.db) == head_revision()
    with iop.app.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT seq, hash FROM transition_log ORDER BY seq")).all() == log
        command.check(alembic_config(conn))
    iop.init()  # records the guideline rows 0011's downgrade unlinked (docs/guidelines.md)
    assert iop.verify().ok
    assert iop.case(ref)["state"] == "active"


def test_an_agreement_given_notice_is_not_renewed(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = active(iop, clock)
    clock.set_date(date(2026, 3, 2))
    iop.fire(ref, "terminate", actor="eva", reason="Föreningen avvecklas")
    iop.fire(ref, "start_review", actor="kim")
    iop.record_review(ref, actor="kim", held_on="2026-03-02", report_received=True)
    prepare_signing(iop, ref, start="2028-02-01", end="2030-01-31")
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.fire(ref, "renew", actor="eva")
    assert [r.code for r in refused.value.reasons] == ["notice_given"]
    assert "2026-06-02" in refused.value.reasons[0].sv
