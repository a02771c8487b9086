"""Guidelines with status and provenance (issue #16, item 1): refused until confirmed, then signed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from iop_workflow import Iop
from iop_workflow.errors import GuidelineNotAdopted, InvalidInput, NotPermitted, TransitionNotAllowed
from iop_workflow.resources import shipped_guidelines
from tests.cli_helpers import Backend, Cli, make_backend, sqlite_dump, to_assessment
from tests.helpers import TEST_DECISION, add_orgs, open_case


def _ready_to_sign(iop: Iop, municipality: str, org: str) -> str:
    """A case with every fact signing needs, its guideline left as shipped (not confirmed)."""
    ref = open_case(iop, municipality, org)
    iop.fire(ref, "start_dialogue", actor="anna")
    iop.record_meeting(ref, actor="anna", held_on=iop.app.clock.today(), joint_challenge="Skydd och stöd")
    iop.fire(ref, "submit_for_assessment", actor="anna")
    g = iop.guideline(iop.case(ref)["guideline"]["ref"])
    for crit in g.gating():
        iop.assess(ref, crit.code, "met", note="Bedömt i dialogen", actor="anna")
    iop.record_legal_check(
        ref,
        actor="lars",
        competence=True,
        procurement_not_required=True,
        no_competition_distortion=True,
        state_aid_basis="non_economic",
        rationale="Icke-ekonomisk verksamhet av allmänt intresse",
    )
    iop.record_agreement(ref, actor="anna", start_on="2026-02-01", end_on="2028-01-31", notice_months=3)
    iop.record_contribution(ref, actor="anna", party="municipality", kind="money", amount="340000", unit="SEK")
    iop.record_contribution(ref, actor="anna", party="organisation", kind="volunteer_hours", amount="2000", unit="h")
    iop.record_decision(
        ref, actor="eva", body="Kommunstyrelsen", decided_on=iop.app.clock.today(), minutes_ref="SN § 12/2026"
    )
    return ref


def _refusal(iop: Iop, ref: str) -> list[str]:
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.fire(ref, "sign", actor="eva")
    return [r.code for r in refused.value.reasons]


@pytest.mark.parametrize(("municipality", "guideline"), [("Stenungsund", "Stenungsund-IOP"), ("Mark", "Marks-IOP")])
def test_an_unverified_guideline_refuses_signing_until_confirmed(iop: Iop, municipality: str, guideline: str) -> None:
    add_orgs(iop)
    ref = _ready_to_sign(iop, municipality, "802479-1322")
    assert iop.case(ref)["guideline"]["ref"] == guideline
    assert _refusal(iop, ref) == ["guideline_unverified"] * 5
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.fire(ref, "sign", actor="eva")
    swedish = refused.value.message("sv")
    assert "beslutsdatum är okänt" in swedish and "`iop guideline confirm" in swedish
    for code in ("decided_on", "valid_from", "minutes_ref", "unverified"):
        assert code not in swedish.replace("--decided-on", "").replace("--minutes-ref", "")  # no English codes

    done = iop.confirm_guideline(guideline, actor="kim", **TEST_DECISION)
    assert done["in_force"] and done["unverified"] == []
    listed = {g["ref"]: g for g in iop.guideline_dicts()}[guideline]
    assert (listed["status"], listed["in_force"], listed["municipality"]) == ("adopted", True, municipality)
    iop.fire(ref, "sign", actor="eva")  # the case is bound to the version the confirmation amended
    assert iop.case(ref)["state"] == "signed"
    records = [r["trigger"] for r in iop.export(case=f"@guideline:{guideline}")]
    assert records == ["guideline:load", "guideline:confirm"]
    assert iop.verify().ok


def test_eksjo_is_a_proposal_never_in_force_and_never_signed(iop: Iop) -> None:
    add_orgs(iop)
    ref = _ready_to_sign(iop, "Eksjö", "802479-1322")
    assert _refusal(iop, ref) == ["guideline_not_adopted"]
    listed = {g["ref"]: g for g in iop.guideline_dicts()}["Eksjö-IOP"]
    assert (listed["status"], listed["in_force"]) == ("proposal", False)
    seq = iop.export(case="@guideline:Eksjö-IOP").count()
    with pytest.raises(GuidelineNotAdopted) as refused:
        iop.confirm_guideline("Eksjö-IOP", actor="kim", **TEST_DECISION)
    assert refused.value.exit_status == 3 and "har status förslag, inte antagen" in refused.value.message("sv")
    assert iop.export(case="@guideline:Eksjö-IOP").count() == seq  # nothing written
    assert _refusal(iop, ref) == ["guideline_not_adopted"]


def test_confirm_refuses_other_roles_and_bad_dates_writing_nothing(iop: Iop) -> None:
    before = iop.export(case="@guideline:Stenungsund-IOP").count()
    with pytest.raises(NotPermitted) as refused:
        iop.confirm_guideline("Stenungsund-IOP", actor="anna", **TEST_DECISION)
    assert refused.value.exit_status == 3
    bad = [
        {"decided_on": "2019-02-30"},
        {"decided_on": "2026-01-13"},  # not a date; after today (2026-01-12)
        {"valid_from": "2019-05-19"},
        {"valid_from": "2020-01-01", "valid_until": "2019-12-31"},
    ]
    for change in bad:
        with pytest.raises(InvalidInput) as invalid:
            iop.confirm_guideline("Stenungsund-IOP", actor="kim", **{**TEST_DECISION, **change})
        assert invalid.value.exit_status == 6
    assert iop.export(case="@guideline:Stenungsund-IOP").count() == before
    assert not iop.guideline("Stenungsund-IOP").in_force(date(2026, 1, 12))


def test_a_coordinator_of_the_guidelines_municipality_confirms_it_and_one_of_another_may_not(iop: Iop) -> None:
    """A grant holds the municipality's code; the guideline names it: confirm compares them as load does."""
    iop.grant("karin", "coordinator", municipality="Stenungsund")
    iop.grant("mats", "coordinator", municipality="Mark")
    with pytest.raises(NotPermitted) as refused:
        iop.confirm_guideline("Stenungsund-IOP", actor="mats", **TEST_DECISION)
    assert refused.value.exit_status == 3
    assert not iop.guideline("Stenungsund-IOP").in_force(iop.app.clock.today())
    iop.confirm_guideline("Stenungsund-IOP", actor="karin", **TEST_DECISION)
    assert iop.guideline("Stenungsund-IOP").in_force(iop.app.clock.today())


def test_every_shipped_date_has_a_provenance_and_only_a_confirmed_guideline_is_in_force() -> None:
    for g in shipped_guidelines():
        for name in ("decided_on", "valid_from", "valid_until"):
            if g.value(name) is not None:
                assert g.sourced(name) is not None, (g.ref, name)
        assert not any(g.in_force(date(year, 6, 1)) for year in range(2015, 2030))


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("sqlite", tmp_path)


@pytest.mark.slow  # about 25 real `iop` processes: 12 s
def test_confirm_end_to_end_with_the_real_iop(sqlite_backend: Backend, tmp_path: Path) -> None:
    cli = Cli(tmp_path, sqlite_backend.url)
    ref = to_assessment(cli)
    sign = next(o for o in cli.ok("--json", "case", "options", ref).json() if o["trigger"] == "sign")
    assert "guideline_unverified" in {r["code"] for r in sign["reasons"]}
    swedish = cli("--lang", "sv", "--actor", "eva", "case", "fire", ref, "sign")
    assert swedish.status == 3 and "protokollsparagraf är okänt" in swedish.err
    assert sqlite_backend.path is not None
    before = sqlite_dump(sqlite_backend.path)
    decision = ["--decided-on", "2019-05-20", "--decided-by", "Kommunstyrelsen", "--minutes-ref", "KS § 88/2019"]
    refused = cli("--actor", "anna", "guideline", "confirm", "Stenungsund-IOP", *decision)
    assert refused.status == 3 and "coordinator" in refused.err
    for bad in (["--decided-on", "2019-13-01"], ["--valid-from", "2019-01-01"]):
        invalid = cli("--actor", "kim", "guideline", "confirm", "Stenungsund-IOP", *decision, *bad)
        assert invalid.status == 6 and "Traceback" not in invalid.err
    assert sqlite_dump(sqlite_backend.path) == before  # nothing written

    done = cli.ok("--json", "--actor", "kim", "guideline", "confirm", "Stenungsund-IOP", *decision).json()
    assert done["in_force"] is True
    listed = {g["ref"]: g for g in cli.ok("--json", "guideline", "list").json()}
    assert (listed["Stenungsund-IOP"]["status"], listed["Eksjö-IOP"]["status"]) == ("adopted", "proposal")
    sign = next(o for o in cli.ok("--json", "case", "options", ref).json() if o["trigger"] == "sign")
    assert "guideline_unverified" not in {r["code"] for r in sign["reasons"]}
    chain = cli.ok("audit", "export", "--case", "@guideline:Stenungsund-IOP").out
    assert '"trigger": "guideline:confirm"' in chain or '"trigger":"guideline:confirm"' in chain
    assert cli("audit", "verify").status == 0

    sqlite_backend.execute("UPDATE guidelines SET valid_from = '2018-01-01' WHERE ref = 'Stenungsund-IOP'")
    tampered = cli("--json", "audit", "verify")
    assert tampered.status == 7
    assert {p["problem"] for p in tampered.json()["problems"]} == {"guideline_differs_from_log"}
