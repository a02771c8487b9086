"""Each rule reads only the kinds of facts it declares (domain/reads.py).

A transition makes the store read only what its guards, effects, log snapshot and the
new state's timer anchors declare. Here every rule runs on facts that hold ONLY what it
declares (the rest raise FactNotLoaded when touched), over many cases, states, dates and
actors, and must give the same answer as on complete facts. A guard that starts reading a
kind it does not declare fails these tests.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from iop_workflow.domain.definition import EFFECTS
from iop_workflow.domain.facts import (
    FACT_KINDS,
    AgreementFacts,
    AssessmentFacts,
    CaseFacts,
    ContributionFacts,
    DecisionFacts,
    FactNotLoaded,
    GuardContext,
    LegalCheckFacts,
    MeetingFacts,
    OrganisationFacts,
    ReviewFacts,
    keeping_only,
)
from iop_workflow.domain.guards import GUARD_READS, GUARDS
from iop_workflow.domain.machine import Engine
from iop_workflow.domain.reads import EFFECT_READS, SNAPSHOT_READS, facts_needed
from iop_workflow.domain.timers import ANCHOR_READS, ANCHORS, LeadTimes, plan
from iop_workflow.domain.values import ContributionKind, Initiator, LegalForm, Party, StateAidBasis, Verdict
from iop_workflow.resources import shipped_definition, shipped_guidelines
from iop_workflow.service.decide import _effects, _snapshot

DEFINITION = shipped_definition()
GUIDELINES = {g.ref: g for g in shipped_guidelines()}
KUNGALV = GUIDELINES["KS2019/2069"]


def complete(**changes: Any) -> CaseFacts:
    """A case with some of every kind of fact, two periods deep."""
    g = KUNGALV
    base = CaseFacts(
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
        period=1,
        review_round=1,
        review_started_on=date(2021, 4, 1),
        review_rounds_in_period=1,
        guideline=g,
        municipal_guidelines=(g,),
        meetings=(MeetingFacts(held_on=date(2020, 1, 20), joint_challenge="Ensamhet bland äldre"),),
        assessments=tuple(
            AssessmentFacts(criterion=c.code, guideline_ref=g.ref, period=p, verdict=Verdict.MET, assessed_by="anna")
            for c in g.gating()
            for p in (1, 2)
        ),
        legal_checks=tuple(
            LegalCheckFacts(
                period=p,
                competence=True,
                procurement_not_required=True,
                state_aid_basis=StateAidBasis.NON_ECONOMIC,
                no_competition_distortion=True,
                rationale="Icke-ekonomisk",
                checked_by="lars",
            )
            for p in (1, 2)
        ),
        agreements=tuple(
            AgreementFacts(
                period=p,
                start_on=start,
                end_on=end,
                notice_months=3,
                contributions=(
                    ContributionFacts(
                        party=Party.MUNICIPALITY, kind=ContributionKind.MONEY, amount=Decimal(100000), unit="SEK"
                    ),
                    ContributionFacts(
                        party=Party.ORGANISATION, kind=ContributionKind.OTHER, amount=Decimal(500), unit="h"
                    ),
                ),
            )
            for p, start, end in ((1, date(2020, 4, 1), date(2022, 3, 31)), (2, date(2022, 4, 1), date(2025, 3, 31)))
        ),
        decisions=tuple(
            DecisionFacts(period=p, body="Kommunstyrelsen", decided_on=on, minutes_ref=f"KS § {p}")
            for p, on in ((1, date(2020, 2, 20)), (2, date(2022, 2, 20)))
        ),
        reviews=(ReviewFacts(period=1, round=1, held_on=date(2021, 4, 15), report_received=True),),
    )
    return dataclasses.replace(base, **changes)


def variants() -> list[CaseFacts]:
    """Complete, empty and faulty cases, in every state: the guards' branches."""
    full = complete()
    faulty = complete(
        organisation=OrganisationFacts(
            name="Vinst AB", org_number="556677-8899", legal_form=LegalForm.AKTIEBOLAG, non_profit=False
        ),
        initiated_by=Initiator.MUNICIPALITY,
        meetings=(MeetingFacts(held_on=date(2020, 1, 20), joint_challenge="  "),),
        assessments=tuple(dataclasses.replace(a, verdict=Verdict.NOT_MET) for a in full.assessments[1:]),
        legal_checks=tuple(dataclasses.replace(c, competence=False, rationale="") for c in full.legal_checks),
        agreements=tuple(
            dataclasses.replace(a, end_on=a.start_on, contributions=a.contributions[:1]) for a in full.agreements
        ),
        decisions=tuple(dataclasses.replace(d, decided_on=date(2031, 1, 1)) for d in full.decisions),
        reviews=(ReviewFacts(period=1, round=1, held_on=date(2021, 4, 15), report_received=False),),
    )
    empty = complete(
        guideline=None,
        municipal_guidelines=(),
        meetings=(),
        assessments=(),
        legal_checks=(),
        agreements=(),
        decisions=(),
        reviews=(),
        review_round=0,
        review_started_on=None,
        review_rounds_in_period=0,
    )
    unbound = complete(guideline=None)
    cases = (full, faulty, empty, unbound)
    return [dataclasses.replace(f, state=s) for f, s in itertools.product(cases, DEFINITION.states)]


CASES = variants()
CONTEXTS = [
    GuardContext(today=today, actor=actor, roles=frozenset({"officer", "signatory"}))
    for today, actor in itertools.product(
        (date(2019, 6, 1), date(2020, 3, 1), date(2021, 5, 1), date(2023, 6, 1), date(2030, 1, 1)), ("anna", "eva")
    )
]


def test_every_rule_declares_what_it_reads() -> None:
    assert set(GUARD_READS) == set(GUARDS)
    assert set(ANCHOR_READS) == set(ANCHORS)
    assert set(EFFECT_READS) == set(EFFECTS)
    assert set(SNAPSHOT_READS) <= set(GUARDS)
    for kinds in (*GUARD_READS.values(), *ANCHOR_READS.values(), *EFFECT_READS.values(), *SNAPSHOT_READS.values()):
        assert kinds <= FACT_KINDS


@pytest.mark.parametrize("name", sorted(GUARDS))
def test_a_guard_reads_only_what_it_declares(name: str) -> None:
    guard, kinds = GUARDS[name], GUARD_READS[name]
    for facts, ctx in itertools.product(CASES, CONTEXTS):
        assert guard(keeping_only(facts, kinds), ctx) == guard(facts, ctx), (name, facts.state, ctx)


@pytest.mark.parametrize("name", sorted(ANCHORS))
def test_an_anchor_reads_only_what_it_declares(name: str) -> None:
    anchor, kinds = ANCHORS[name], ANCHOR_READS[name]
    for facts in CASES:
        assert anchor(keeping_only(facts, kinds), LeadTimes()) == anchor(facts, LeadTimes()), (name, facts.state)


@pytest.mark.parametrize("spec", DEFINITION.transitions, ids=lambda t: f"{t.trigger}:{'|'.join(t.sources)}")
def test_a_transition_needs_only_the_facts_its_rules_declare(spec: Any) -> None:
    """Guards, effects, snapshot and the new state's timers, on the facts the store would read."""
    engine = Engine(DEFINITION)
    kinds = engine.reads(spec)
    app = SimpleNamespace(guidelines=SimpleNamespace(id_of=lambda ref: sorted(GUIDELINES).index(ref)))
    for facts, ctx in itertools.product(CASES, CONTEXTS[::3]):
        partial = keeping_only(facts, kinds)
        assert engine.check(partial, ctx, spec) == engine.check(facts, ctx, spec)
        end_reason = spec.end_reason_choices[0] if spec.end_reason_choices else spec.end_reason
        assert _snapshot(spec, partial, end_reason) == _snapshot(spec, facts, end_reason)
        values, after = _effects(app, spec, partial, today=ctx.today, dest=spec.dest, end_reason=end_reason)  # type: ignore[arg-type]
        values_all, after_all = _effects(app, spec, facts, today=ctx.today, dest=spec.dest, end_reason=end_reason)  # type: ignore[arg-type]
        assert values == values_all
        lead = LeadTimes()
        assert plan(DEFINITION.state(spec.dest), after, lead) == plan(DEFINITION.state(spec.dest), after_all, lead)


def test_an_undeclared_read_fails_loudly() -> None:
    """What the tests above would catch: criteria_met reads the bound guideline too."""
    facts = keeping_only(complete(), {"assessments"})
    with pytest.raises(FactNotLoaded, match="'guideline'"):
        GUARDS["criteria_met"](facts, CONTEXTS[0])
    with pytest.raises(FactNotLoaded, match="'organisation'"):
        GUARDS["org_eligible"](facts, CONTEXTS[0])
    with pytest.raises(FactNotLoaded, match="'contributions'"):
        GUARDS["both_contribute"](keeping_only(complete(), {"agreements"}), CONTEXTS[0])
    with pytest.raises(FactNotLoaded, match="'meetings'"):
        GUARDS["dialogue_recorded"](facts, CONTEXTS[0])


def test_the_benchmarked_transitions_read_little() -> None:
    """start_dialogue checks the organisation; decline and withdraw read no facts at all."""
    engine = Engine(DEFINITION)

    def reads(trigger: str, state: str) -> frozenset[str]:
        spec = DEFINITION.transition(trigger, state)
        assert spec is not None
        return engine.reads(spec)

    assert reads("start_dialogue", "initiative") == {"organisation"}
    assert reads("decline", "dialogue") == frozenset()
    assert reads("withdraw", "dialogue") == frozenset()
    assert reads("sign", "assessment") >= {"organisation", "guideline", "assessments", "agreements", "contributions"}
    assert facts_needed(DEFINITION, DEFINITION.creation) == {"organisation"}
