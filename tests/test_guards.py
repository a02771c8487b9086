"""Every guard, pure: facts and a date in, every unmet condition out."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iop_workflow.domain.facts import (
    AgreementFacts,
    AssessmentFacts,
    CaseFacts,
    ContributionFacts,
    DecisionFacts,
    GuardContext,
    LegalCheckFacts,
    MeetingFacts,
    OrganisationFacts,
    ReviewFacts,
)
from iop_workflow.domain.guards import GUARDS, role_allowed
from iop_workflow.domain.guidelines import Guideline, GuidelineStatus
from iop_workflow.domain.machine import Engine
from iop_workflow.domain.values import ContributionKind, Initiator, LegalForm, Party, StateAidBasis, Verdict
from iop_workflow.resources import shipped_definition, shipped_guidelines
from iop_workflow.service.guideline_confirm import confirmed

SHIPPED = {g.ref: g for g in shipped_guidelines()}
# What a coordinator's `iop guideline confirm` makes of each adopted shipped guideline (Kungälv's from its
# own header, the others with a test decision): signing needs the confirmed versions.
_DECISION = {
    "decided_on": date(2019, 5, 20),
    "decided_by": "Kommunstyrelsen",
    "minutes_ref": "KS § 88/2019",
    "valid_from": None,
    "valid_until": None,
}
_KUNGALV = {**_DECISION, "decided_on": date(2017, 6, 21), "minutes_ref": "§ 227/2017", "valid_from": date(2017, 6, 21)}
GUIDELINES = {
    ref: confirmed(g, _KUNGALV if ref == "KS2019/2069" else _DECISION, by="kim", on=date(2020, 1, 2))
    for ref, g in SHIPPED.items()
    if g.status is GuidelineStatus.ADOPTED
}
KUNGALV = GUIDELINES["KS2019/2069"]
SIGNATORY = GuardContext(today=date(2020, 3, 1), actor="eva", roles=frozenset({"signatory"}))


def ready(g: Guideline, decided: date = date(2020, 2, 20)) -> CaseFacts:
    """A case in assessment with every fact signing needs under guideline ``g``."""
    return CaseFacts(
        ref="IOP-2020-0001",
        state="assessment",
        municipality=g.municipality,
        preparing_states=frozenset(shipped_definition().states_in("preparing")),
        initiated_by=Initiator.ORGANISATION,
        opened_on=date(2020, 1, 10),
        state_entered_on=date(2020, 2, 1),
        organisation=OrganisationFacts(
            name="Fören", org_number="802479-1322", legal_form=LegalForm.IDEELL_FORENING, non_profit=True
        ),
        guideline=g,
        municipal_guidelines=(g,),
        meetings=(MeetingFacts(held_on=date(2020, 1, 20), joint_challenge="Ensamhet bland äldre"),),
        assessments=tuple(
            AssessmentFacts(criterion=c.code, guideline_ref=g.ref, period=1, verdict=Verdict.MET, assessed_by="anna")
            for c in g.gating()
        ),
        legal_checks=(
            LegalCheckFacts(
                period=1,
                competence=True,
                procurement_not_required=True,
                state_aid_basis=StateAidBasis.NON_ECONOMIC,
                no_competition_distortion=True,
                rationale="Icke-ekonomisk",
                checked_by="lars",
            ),
        ),
        agreements=(
            AgreementFacts(
                period=1,
                start_on=date(2020, 4, 1),
                end_on=date(2022, 3, 31),
                notice_months=3,
                contributions=(
                    ContributionFacts(
                        party=Party.MUNICIPALITY, kind=ContributionKind.MONEY, amount=Decimal(100000), unit="SEK"
                    ),
                    ContributionFacts(
                        party=Party.ORGANISATION, kind=ContributionKind.VOLUNTEER_HOURS, amount=Decimal(500), unit="h"
                    ),
                ),
            ),
        ),
        decisions=(DecisionFacts(period=1, body="Kommunstyrelsen", decided_on=decided, minutes_ref="KS § 1/2020"),),
    )


def sign_reasons(facts: CaseFacts, ctx: GuardContext = SIGNATORY) -> list[str]:
    engine = Engine(shipped_definition())
    spec = shipped_definition().transition("sign", "assessment")
    assert spec is not None
    return [r.code for r in engine.check(facts, ctx, spec)]


@pytest.mark.parametrize("ref", sorted(GUIDELINES))
def test_a_complete_case_may_be_signed_under_every_guideline(ref: str) -> None:
    g = GUIDELINES[ref]
    assert g.valid_from is not None
    on = max(g.valid_from, date(2020, 3, 1)) if g.valid_until is None else date(2020, 3, 1)
    facts = ready(g, decided=on)
    assert sign_reasons(facts, dataclasses.replace(SIGNATORY, today=on)) == []


@pytest.mark.parametrize(("ref", "code"), [(g.ref, c.code) for g in GUIDELINES.values() for c in g.gating()])
def test_each_missing_criterion_is_named(ref: str, code: str) -> None:
    g = GUIDELINES[ref]
    assert g.valid_from is not None
    on = max(g.valid_from, date(2020, 3, 1))
    facts = ready(g, decided=on)
    facts = dataclasses.replace(facts, assessments=tuple(a for a in facts.assessments if a.criterion != code))
    unmet = GUARDS["criteria_met"](facts, dataclasses.replace(SIGNATORY, today=on))
    assert [u.code for u in unmet] == ["criterion_unassessed"]
    assert code in unmet[0].sv and ref in unmet[0].sv and code in unmet[0].en


def test_not_met_and_unassessed_are_listed_together() -> None:
    facts = ready(KUNGALV)
    changed = tuple(
        dataclasses.replace(a, verdict=Verdict.NOT_MET) if a.criterion == "no_market" else a
        for a in facts.assessments
        if a.criterion != "long_term"
    )
    unmet = GUARDS["criteria_met"](dataclasses.replace(facts, assessments=changed), SIGNATORY)
    assert sorted(u.code for u in unmet) == ["criterion_not_met", "criterion_unassessed"]


def test_kungalv_allows_signing_on_2020_03_01() -> None:
    assert sign_reasons(ready(KUNGALV)) == []


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2100, 12, 31)))
def test_kungalv_refuses_signing_on_any_date_after_2023(today: date) -> None:
    facts = ready(KUNGALV)
    unmet = GUARDS["guideline_in_force"](facts, dataclasses.replace(SIGNATORY, today=today))
    assert [u.code for u in unmet] == ["guideline_expired"]
    assert unmet[0].sv.startswith("Riktlinjen KS2019/2069 (Kungälv) gällde till och med 2023-12-31")


def test_decision_taken_after_expiry_is_refused_too() -> None:
    facts = ready(KUNGALV, decided=date(2024, 2, 1))
    ctx = dataclasses.replace(SIGNATORY, today=date(2024, 2, 2))
    assert [u.code for u in GUARDS["guideline_in_force"](facts, ctx)] == ["guideline_expired", "guideline_expired"]


@pytest.mark.parametrize(
    ("form", "non_profit", "codes"),
    [
        (LegalForm.AKTIEBOLAG, False, ["org_not_idea_based", "org_profit_motive"]),
        (LegalForm.ENSKILD_FIRMA, True, ["org_not_idea_based"]),
        (LegalForm.HANDELSBOLAG, True, ["org_not_idea_based"]),
        (LegalForm.EKONOMISK_FORENING, False, ["org_profit_motive"]),
        (LegalForm.STIFTELSE, True, []),
        (LegalForm.TROSSAMFUND, True, []),
    ],
)
def test_organisation_eligibility(form: LegalForm, non_profit: bool, codes: list[str]) -> None:
    facts = ready(KUNGALV)
    org = dataclasses.replace(facts.organisation, legal_form=form, non_profit=non_profit)
    assert [u.code for u in GUARDS["org_eligible"](dataclasses.replace(facts, organisation=org), SIGNATORY)] == codes


def test_every_sign_guard_reports_at_once() -> None:
    facts = dataclasses.replace(
        ready(KUNGALV),
        assessments=(),
        legal_checks=(),
        decisions=(),
        agreements=(),
        organisation=OrganisationFacts(
            name="AB", org_number="556036-0793", legal_form=LegalForm.AKTIEBOLAG, non_profit=False
        ),
    )
    codes = sign_reasons(facts, GuardContext(today=date(2025, 1, 1), actor="anna", roles=frozenset({"officer"})))
    assert codes[0] == "role_not_allowed"
    for expected in (
        "org_not_idea_based",
        "org_profit_motive",
        "criterion_unassessed",
        "legal_check_missing",
        "decision_missing",
        "guideline_expired",
        "agreement_missing",
        "no_contribution_municipality",
        "no_contribution_organisation",
    ):
        assert expected in codes


def test_four_eyes_refuses_the_assessor() -> None:
    unmet = GUARDS["four_eyes"](ready(KUNGALV), dataclasses.replace(SIGNATORY, actor="anna"))
    assert [u.code for u in unmet] == ["four_eyes"]
    assert "anna" in unmet[0].sv
    assert GUARDS["four_eyes"](ready(KUNGALV), SIGNATORY) == []


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (date(2020, 4, 1), date(2020, 4, 1), "agreement_dates_out_of_order"),
        (date(2020, 4, 1), date(2020, 3, 1), "agreement_dates_out_of_order"),
        (date(2020, 4, 1), date(2021, 3, 30), "agreement_too_short"),
        (date(2020, 4, 1), date(2021, 3, 31), None),
    ],
)
def test_agreement_period(start: date, end: date, code: str | None) -> None:
    facts = ready(KUNGALV)
    a = dataclasses.replace(facts.agreements[0], start_on=start, end_on=end)
    unmet = GUARDS["agreement_valid"](dataclasses.replace(facts, agreements=(a,)), SIGNATORY)
    assert [u.code for u in unmet] == ([code] if code else [])


def test_both_parties_must_contribute() -> None:
    facts = ready(KUNGALV)
    only_city = dataclasses.replace(facts.agreements[0], contributions=facts.agreements[0].contributions[:1])
    unmet = GUARDS["both_contribute"](dataclasses.replace(facts, agreements=(only_city,)), SIGNATORY)
    assert [u.code for u in unmet] == ["no_contribution_organisation"]


def test_legal_check_aspects_and_rationale() -> None:
    facts = ready(KUNGALV)
    check = dataclasses.replace(facts.legal_checks[0], procurement_not_required=False, rationale=" ")
    unmet = GUARDS["legal_check_recorded"](dataclasses.replace(facts, legal_checks=(check,)), SIGNATORY)
    assert [u.code for u in unmet] == ["legal_procurement_not_required", "legal_rationale_missing"]


def test_dialogue_and_initiative() -> None:
    facts = dataclasses.replace(ready(KUNGALV), meetings=(), initiated_by=Initiator.MUNICIPALITY)
    assert [u.code for u in GUARDS["dialogue_recorded"](facts, SIGNATORY)] == ["dialogue_missing"]
    assert [u.code for u in GUARDS["initiative_from_org"](facts, SIGNATORY)] == ["initiative_not_from_org"]


def test_guideline_available_names_the_expired_one() -> None:
    facts = dataclasses.replace(ready(KUNGALV), guideline=None)
    unmet = GUARDS["guideline_available"](facts, dataclasses.replace(SIGNATORY, today=date(2026, 11, 21)))
    assert [u.code for u in unmet] == ["no_guideline_in_force"]
    assert "KS2019/2069 (Kungälv) gällde till och med 2023-12-31" in unmet[0].sv
    assert GUARDS["guideline_available"](facts, SIGNATORY) == []


def test_review_recorded_needs_the_report_of_this_round() -> None:
    facts = dataclasses.replace(ready(KUNGALV), state="review", review_round=2)
    assert [u.code for u in GUARDS["review_recorded"](facts, SIGNATORY)] == ["review_missing"]
    old = ReviewFacts(period=1, round=1, held_on=date(2021, 4, 1), report_received=True)
    no_report = ReviewFacts(period=1, round=2, held_on=date(2022, 4, 1), report_received=False)
    assert [
        u.code for u in GUARDS["review_recorded"](dataclasses.replace(facts, reviews=(old, no_report)), SIGNATORY)
    ] == ["review_report_missing"]
    done = dataclasses.replace(no_report, report_received=True)
    assert GUARDS["review_recorded"](dataclasses.replace(facts, reviews=(done,)), SIGNATORY) == []


def test_agreement_dates_gate_activation_and_expiry() -> None:
    facts = ready(KUNGALV)
    before = dataclasses.replace(SIGNATORY, today=date(2020, 3, 31))
    assert [u.code for u in GUARDS["agreement_started"](facts, before)] == ["agreement_not_started"]
    assert GUARDS["agreement_started"](facts, dataclasses.replace(SIGNATORY, today=date(2020, 4, 1))) == []
    assert [
        u.code for u in GUARDS["agreement_ended"](facts, dataclasses.replace(SIGNATORY, today=date(2022, 3, 31)))
    ] == ["agreement_not_ended"]
    assert GUARDS["agreement_ended"](facts, dataclasses.replace(SIGNATORY, today=date(2022, 4, 1))) == []
    assert [
        u.code for u in GUARDS["agreement_running"](facts, dataclasses.replace(SIGNATORY, today=date(2022, 4, 1)))
    ] == ["agreement_over"]


def test_role_check_names_actor_and_roles() -> None:
    ctx = GuardContext(today=date(2020, 3, 1), actor="anna", roles=frozenset({"officer"}))
    unmet = role_allowed({"signatory"}, ctx, "sign", "Underteckna avtal")
    assert unmet[0].sv == (
        "anna (behörigheter: handläggare) får inte utföra «Underteckna avtal»; det kräver behörigheten "
        "Behörig undertecknare (firmatecknare) (`iop role grant anna signatory`)"
    )
    assert unmet[0].en == "anna (roles: officer) may not fire 'sign'; it needs one of: signatory"
    assert role_allowed({"officer", "admin"}, ctx, "start_dialogue") == []


# -- status and provenance (issue #16, item 1) ------------------------------------------------------------


def test_a_proposal_cannot_be_signed_under_whatever_its_facts() -> None:
    eksjo = SHIPPED["Eksjö-IOP"]
    assert eksjo.status is GuidelineStatus.PROPOSAL and not eksjo.in_force(date(2020, 3, 1))
    reasons = sign_reasons(ready(eksjo))
    assert reasons == ["guideline_not_adopted"]
    unmet = GUARDS["guideline_in_force"](ready(eksjo), SIGNATORY)
    assert "har status förslag, inte antagen" in unmet[0].sv and "proposal" not in unmet[0].sv


@pytest.mark.parametrize("ref", ["Stenungsund-IOP", "Marks-IOP", "Jönköping-IOP"])
def test_an_unverified_guideline_names_each_fact_and_the_command_that_confirms_it(ref: str) -> None:
    g = SHIPPED[ref]
    unmet = GUARDS["guideline_in_force"](ready(g), SIGNATORY)
    assert [u.code for u in unmet] == ["guideline_unverified"] * 5
    fields_sv = ["status", "beslutsdatum", "beslutande organ", "protokollsparagraf", "gäller från"]
    for reason, field_sv, field in zip(
        unmet, fields_sv, ["status", "decided_on", "decided_by", "minutes_ref", "valid_from"], strict=True
    ):
        assert f"Riktlinjen {ref} ({g.municipality}): {field_sv} " in reason.sv
        assert f"`iop guideline confirm {ref} --decided-on YYYY-MM-DD --decided-by BODY --minutes-ref REF`" in reason.sv
        assert f"{ref} ({g.municipality}): {field} " in reason.en
    assert sign_reasons(ready(g)) == ["guideline_unverified"] * 5
    assert sign_reasons(ready(GUIDELINES[ref])) == []  # confirmed: signed


def test_a_page_date_is_never_a_decision_date() -> None:
    stenungsund, mark = SHIPPED["Stenungsund-IOP"], SHIPPED["Marks-IOP"]
    assert stenungsund.decided_on is None and stenungsund.valid_from is None
    assert mark.decided_on is None and mark.valid_from is None and mark.decided_by == "Kommunstyrelsen"
    assert "decided_by" in mark.unverified()  # a web page's word, not the minutes


def test_kungalv_unverified_start_is_named_beside_its_expiry() -> None:
    unmet = GUARDS["guideline_in_force"](
        ready(SHIPPED["KS2019/2069"]), dataclasses.replace(SIGNATORY, today=date(2026, 1, 19))
    )
    assert [u.code for u in unmet] == ["guideline_unverified", "guideline_expired"]
    assert "gäller från (2017-06-21) är inte bekräftat" in unmet[0].sv
