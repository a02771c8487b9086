"""Guards: pure functions ``(CaseFacts, GuardContext) -> list[Unmet]``; the registry, the role check and
the guards of the preparing states (eligibility, initiative, dialogue, criteria, legal check, decision).
The agreement's and its guideline's guards are in :mod:`iop_workflow.domain.guards_agreement`.

Each returns EVERY unmet condition it finds, each with a stable code and a
Swedish and an English message that names the facts. The workflow definition
refers to guards by their registry name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from iop_workflow.domain.facts import FACT_KINDS, CaseFacts, GuardContext
from iop_workflow.domain.guidelines import Guideline, governing_for
from iop_workflow.domain.values import IDEA_BASED_FORMS, Initiator, Verdict
from iop_workflow.errors import Unmet
from iop_workflow.glossary import inline, role_needed, sv

Guard = Callable[[CaseFacts, GuardContext], list[Unmet]]

GUARDS: dict[str, Guard] = {}
# The kinds of facts (domain.facts.FACT_KINDS) each guard reads beyond the case row; a
# transition loads only what its guards, effects and timers declare (tests check each guard
# against facts holding nothing else).
GUARD_READS: dict[str, frozenset[str]] = {}


def guard(name: str, *, reads: Iterable[str] = ()) -> Callable[[Guard], Guard]:
    kinds = frozenset(reads)
    if not kinds <= FACT_KINDS:
        raise ValueError(f"guard {name!r} reads unknown fact kinds: {sorted(kinds - FACT_KINDS)}")

    def register(fn: Guard) -> Guard:
        GUARDS[name] = fn
        GUARD_READS[name] = kinds
        return fn

    return register


def role_allowed(roles: Iterable[str], ctx: GuardContext, trigger: str, label_sv: str = "") -> list[Unmet]:
    """The one check every transition has: the actor holds a role that may fire it. The Swedish refusal
    names the action by ``label_sv`` and each role that may, with the command that grants it."""
    allowed = sorted(roles)
    if ctx.roles & set(allowed):
        return []
    have_sv = ", ".join(inline(sv("role", r)) for r in sorted(ctx.roles)) or "inga"
    have = ", ".join(sorted(ctx.roles)) or "none"
    need = ", ".join(allowed)
    action = f"«{label_sv}»" if label_sv else "åtgärden"
    return [
        Unmet(
            code="role_not_allowed",
            sv=f"{ctx.actor} (behörigheter: {have_sv}) får inte utföra {action}; det kräver behörigheten "
            f"{role_needed(allowed, ctx.actor, 'sv')}",
            en=f"{ctx.actor} (roles: {have}) may not fire '{trigger}'; it needs one of: {need}",
        )
    ]


def guideline_name(g: Guideline) -> str:
    return f"{g.ref} ({g.municipality})"


@guard("org_eligible", reads={"organisation"})
def org_eligible(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    org = facts.organisation
    out = []
    if org.legal_form not in IDEA_BASED_FORMS:
        form = sv("legal_form", org.legal_form)
        out.append(
            Unmet(
                code="org_not_idea_based",
                sv=f"{org.name} ({org.org_number}) är {form}; IOP kan inte tecknas med företag "
                "eller enskilda näringsidkare",
                en=f"{org.name} ({org.org_number}) has the legal form {org.legal_form.value}; an IOP "
                "cannot be signed with a company or a sole trader",
            )
        )
    if not org.non_profit:
        out.append(
            Unmet(
                code="org_profit_motive",
                sv=f"{org.name} ({org.org_number}) är inte registrerad som en organisation utan vinstsyfte",
                en=f"{org.name} ({org.org_number}) is not recorded as having no profit motive",
            )
        )
    return out


@guard("initiative_from_org", reads={"guideline"})
def initiative_from_org(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    """A partnership the municipality initiated may be signed only under a guideline that allows it."""
    if facts.initiated_by is Initiator.ORGANISATION:
        return []
    g = facts.guideline
    if g is not None and g.allows_municipal_initiative:
        return []
    where_sv = f"riktlinjen {guideline_name(g)} tillåter det inte" if g else "ingen riktlinje är knuten"
    where_en = f"guideline {guideline_name(g)} does not allow it" if g else "no guideline is bound"
    return [
        Unmet(
            code="initiative_not_from_org",
            sv=f"Initiativet i {facts.ref} kom från kommunen; ett IOP ska initieras av den idéburna "
            f"organisationen och {where_sv} (`allows_municipal_initiative`)",
            en=f"The initiative in {facts.ref} came from the municipality; an IOP must be initiated "
            f"by the idea-based organisation and {where_en} (allows_municipal_initiative)",
        )
    ]


@guard("dialogue_recorded", reads={"meetings"})
def dialogue_recorded(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    if any(m.joint_challenge.strip() for m in facts.meetings):
        return []
    return [
        Unmet(
            code="dialogue_missing",
            sv=f"Inget dialogmöte med en gemensamt definierad samhällsutmaning är registrerat i {facts.ref}",
            en=f"No dialogue meeting with a jointly defined societal challenge is recorded in {facts.ref}",
        )
    ]


@guard("guideline_available", reads={"municipal_guidelines"})
def guideline_available(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    if governing_for(facts.municipal_guidelines, facts.municipality, ctx.today) is not None:
        return []
    expired = [g for g in facts.municipal_guidelines if g.valid_until and g.valid_until < ctx.today]
    detail_sv = "".join(f"; {guideline_name(g)} gällde till och med {g.valid_until}" for g in expired)
    detail_en = "".join(f"; {guideline_name(g)} was valid until {g.valid_until}" for g in expired)
    return [
        Unmet(
            code="no_guideline_in_force",
            sv=f"Ingen IOP-riktlinje för {facts.municipality} gäller {ctx.today}{detail_sv}",
            en=f"No IOP guideline for {facts.municipality} is in force on {ctx.today}{detail_en}",
        )
    ]


def no_guideline_bound(facts: CaseFacts) -> list[Unmet]:
    return [
        Unmet(
            code="no_guideline_bound",
            sv=f"{facts.ref} är inte knutet till någon riktlinje",
            en=f"{facts.ref} is not bound to a guideline",
        )
    ]


def registered_idea_based(facts: CaseFacts, ctx: GuardContext) -> Unmet | None:
    """Criterion ``registered_idea_based``: in the register under Lag (2022:900) on the decision date
    (today while no decision is recorded), and not removed from it by then."""
    decision = facts.decision(facts.preparing_period)
    on = decision.decided_on if decision is not None else ctx.today
    org = facts.organisation
    if org.registered_idea_based(on):
        return None
    if org.idea_based_registered_on is None:
        sv_why, en_why = "är inte registrerad", "is not registered"
    elif on < org.idea_based_registered_on:
        sv_why = f"registrerades först {org.idea_based_registered_on}"
        en_why = f"was registered only on {org.idea_based_registered_on}"
    else:
        sv_why = f"avregistrerades {org.idea_based_removed_on}"
        en_why = f"was removed on {org.idea_based_removed_on}"
    return Unmet(
        code="not_registered_idea_based",
        sv=f"{org.name} {sv_why} som idéburen organisation enligt lagen (2022:900) den {on} "
        f"(kriteriet `registered_idea_based`; registreras med `iop org registration`)",
        en=f"{org.name} {en_why} as an idea-based organisation under Act 2022:900 on {on} "
        f"(criterion registered_idea_based; recorded with `iop org registration`)",
    )


# Criteria a guideline may list that the rules evaluate from recorded facts, not from an officer's verdict.
EVALUATED_CRITERIA: dict[str, Callable[[CaseFacts, GuardContext], Unmet | None]] = {
    "registered_idea_based": registered_idea_based,
}


@guard("criteria_met", reads={"guideline", "assessments", "organisation", "decisions"})
def criteria_met(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    g = facts.guideline
    if g is None:
        return no_guideline_bound(facts)
    verdicts = facts.verdicts(facts.preparing_period, g.ref)
    out = []
    for c in g.gating():
        found = verdicts.get(c.code)
        if c.code in EVALUATED_CRITERIA:
            if (unmet := EVALUATED_CRITERIA[c.code](facts, ctx)) is not None:
                out.append(unmet)
        elif found is None:
            out.append(
                Unmet(
                    code="criterion_unassessed",
                    sv=f"Kriteriet `{c.code}` i {g.ref} är inte bedömt. Ur riktlinjen: ”{c.text_sv}”",
                    en=f"Criterion {c.code} of {g.ref} is not assessed: {c.text('en')}",
                )
            )
        elif found.verdict is not Verdict.MET:
            out.append(
                Unmet(
                    code="criterion_not_met",
                    sv=f"Kriteriet `{c.code}` i {g.ref} är bedömt {sv('verdict', found.verdict)}, inte "
                    f"{sv('verdict', Verdict.MET)}. Ur riktlinjen: ”{c.text_sv}”",
                    en=f"Criterion {c.code} of {g.ref} is assessed '{found.verdict.value}', not 'met': {c.text('en')}",
                )
            )
    return out


_LEGAL_ASPECTS = (
    ("competence", "kommunal kompetens (ett område kommunen får hantera)", "municipal competence"),
    ("procurement_not_required", "att upphandling inte krävs (LOU)", "that no procurement is required"),
    ("no_competition_distortion", "att konkurrensen inte snedvrids", "no distortion of competition"),
)


def _assessors(facts: CaseFacts, period: int) -> set[str]:
    return {a.assessed_by for a in facts.assessments if a.period == period}


@guard("legal_four_eyes", reads={"assessments"})
def legal_four_eyes(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    """Whoever assessed the criteria of the period being prepared may not also record its legal check."""
    period = facts.preparing_period
    if ctx.actor not in _assessors(facts, period):
        return []
    return [
        Unmet(
            code="legal_check_by_assessor",
            sv=f"{ctx.actor} har bedömt kriterierna för avtalsperiod {period} i {facts.ref} och får därför inte "
            "också göra den juridiska bedömningen (fyraögonprincipen)",
            en=f"{ctx.actor} assessed the criteria for period {period} of {facts.ref} and so may not also "
            "record its legal check (four eyes)",
        )
    ]


@guard("legal_check_recorded", reads={"legal_checks", "assessments"})
def legal_check_recorded(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    period = facts.preparing_period
    check = facts.legal_check(period)
    if check is not None and check.checked_by in _assessors(facts, period):
        return [
            Unmet(
                code="legal_check_by_assessor",
                sv=f"Den juridiska bedömningen för avtalsperiod {period} i {facts.ref} är gjord av {check.checked_by}, "
                "som också har bedömt kriterierna; en annan jurist ska göra den (fyraögonprincipen)",
                en=f"The legal check for period {period} of {facts.ref} was recorded by {check.checked_by}, "
                "who also assessed the criteria; another legal officer must record it (four eyes)",
            )
        ]
    if check is None:
        return [
            Unmet(
                code="legal_check_missing",
                sv=f"Ingen juridisk bedömning (kommunal kompetens, upphandling, statsstöd, konkurrens) är "
                f"registrerad för avtalsperiod {period} i {facts.ref}",
                en=f"No legal check (competence, procurement, state aid, competition) is recorded "
                f"for period {period} of {facts.ref}",
            )
        ]
    out = [
        Unmet(
            code=f"legal_{attr}",
            sv=f"Den juridiska bedömningen bekräftar inte {sv}",
            en=f"The legal check does not confirm {en}",
        )
        for attr, sv, en in _LEGAL_ASPECTS
        if not getattr(check, attr)
    ]
    if not check.rationale.strip():
        out.append(
            Unmet(
                code="legal_rationale_missing",
                sv="Den juridiska bedömningen saknar skriftlig motivering",
                en="The legal check has no written rationale",
            )
        )
    return out


@guard("decision_recorded", reads={"decisions"})
def decision_recorded(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    period = facts.preparing_period
    d = facts.decision(period)
    if d is None:
        return [
            Unmet(
                code="decision_missing",
                sv=f"Inget beslut (beslutsorgan, datum, protokollsparagraf) är registrerat för avtalsperiod "
                f"{period} i {facts.ref}",
                en=f"No decision (body, date, minutes paragraph) is recorded for period {period} of {facts.ref}",
            )
        ]
    if d.decided_on > ctx.today:
        return [
            Unmet(
                code="decision_in_future",
                sv=f"Beslutet {d.minutes_ref} är daterat {d.decided_on}, efter dagens datum {ctx.today}",
                en=f"Decision {d.minutes_ref} is dated {d.decided_on}, after today {ctx.today}",
            )
        ]
    return []


# The guards of the agreement and its guideline register themselves in GUARDS when their module is
# imported: here, so that importing this module gives the whole registry.
from iop_workflow.domain import guards_agreement  # noqa: E402, F401
