"""The guards of an agreement and its guideline: the guideline in force and confirmed, the agreement's
period, both parties' contributions, four eyes at signing, the review, and the agreement's end.

Registered in :data:`iop_workflow.domain.guards.GUARDS` by the ``@guard`` decorator, as the
preparing guards of that module are; pure functions ``(CaseFacts, GuardContext) -> list[Unmet]``.
"""

from __future__ import annotations

from datetime import date

from iop_workflow.domain.calendar import months_between
from iop_workflow.domain.facts import CaseFacts, GuardContext
from iop_workflow.domain.guards import guard, guideline_name, no_guideline_bound
from iop_workflow.domain.guidelines import Guideline, GuidelineStatus
from iop_workflow.domain.values import Party
from iop_workflow.errors import Unmet
from iop_workflow.glossary import sv


def _not_in_force(g: Guideline, on: date, what_sv: str, what_en: str) -> Unmet | None:
    if g.valid_until is not None and on > g.valid_until:
        return Unmet(
            code="guideline_expired",
            sv=f"Riktlinjen {guideline_name(g)} gällde till och med {g.valid_until}; {what_sv} {on}",
            en=f"Guideline {guideline_name(g)} was valid until {g.valid_until}; {what_en} {on}",
        )
    if g.valid_from is not None and on < g.valid_from:
        return Unmet(
            code="guideline_not_yet_in_force",
            sv=f"Riktlinjen {guideline_name(g)} gäller från {g.valid_from}; {what_sv} {on}",
            en=f"Guideline {guideline_name(g)} is valid from {g.valid_from}; {what_en} {on}",
        )
    return None


def confirm_command(g: Guideline) -> str:
    """The command that confirms a guideline's deciding facts (shown in backticks: command syntax)."""
    ref = f"'{g.ref}'" if " " in g.ref else g.ref
    return f"iop guideline confirm {ref} --decided-on YYYY-MM-DD --decided-by BODY --minutes-ref REF"


def guideline_standing(g: Guideline) -> list[Unmet]:
    """Why ``g`` cannot bind a signature whatever the date: not adopted, or a deciding fact unverified."""
    if g.status is not GuidelineStatus.ADOPTED:
        return [
            Unmet(
                code="guideline_not_adopted",
                sv=f"Riktlinjen {guideline_name(g)} har status {sv('guideline_status', g.status)}, inte antagen; "
                "bara en antagen riktlinje kan ligga till grund för ett avtal (läs in den antagna riktlinjen som en ny "
                "version)",
                en=f"Guideline {guideline_name(g)} has the status {g.status.value}, not adopted; only an adopted "
                "guideline can ground an agreement (load the adopted guideline as a new version)",
            )
        ]
    out = []
    for name in g.unverified():
        p = g.sourced(name)
        value = g.value(name)
        if value is None:
            sv_what, en_what = "är okänt", "is unknown"
        else:
            shown = sv("guideline_status", g.status) if name == "status" else value
            sv_what, en_what = f"({shown}) är inte bekräftat", f"({value}) is not verified"
        sv_src = f" (källa: {p.source})" if p is not None else " (ingen källa angiven)"
        en_src = f" (source: {p.source})" if p is not None else " (no source given)"
        out.append(
            Unmet(
                code="guideline_unverified",
                sv=f"Riktlinjen {guideline_name(g)}: {sv('field', name)} {sv_what}{sv_src}; en IOP-samordnare "
                f"bekräftar det mot beslutet med `{confirm_command(g)}`",
                en=f"Guideline {guideline_name(g)}: {name} {en_what}{en_src}; a coordinator confirms it "
                f"against the decision with `{confirm_command(g)}`",
            )
        )
    return out


@guard("guideline_in_force", reads={"guideline", "decisions"})
def guideline_in_force(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    """In force (Guideline.in_force) today and on the decision's date: every reason it is not."""
    g = facts.guideline
    if g is None:
        return no_guideline_bound(facts)
    out = guideline_standing(g)
    today = _not_in_force(g, ctx.today, "idag är det", "today is")
    if today is not None:
        out.append(today)
    d = facts.decision(facts.preparing_period)
    decided = _not_in_force(g, d.decided_on, "beslutet fattades", "the decision was taken on") if d else None
    if decided is not None:
        out.append(decided)
    return out


@guard("agreement_valid", reads={"agreements"})
def agreement_valid(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    period = facts.preparing_period
    a = facts.agreement(period)
    if a is None:
        return [
            Unmet(
                code="agreement_missing",
                sv=f"Inget avtal (period, villkor) är registrerat för avtalsperiod {period} i {facts.ref}",
                en=f"No agreement (period, terms) is recorded for period {period} of {facts.ref}",
            )
        ]
    if a.end_on <= a.start_on:
        return [
            Unmet(
                code="agreement_dates_out_of_order",
                sv=f"Avtalet slutar {a.end_on}, inte efter att det börjar {a.start_on}",
                en=f"The agreement ends {a.end_on}, not after it starts {a.start_on}",
            )
        ]
    months = months_between(a.start_on, a.end_on)
    if months < ctx.min_agreement_months:
        return [
            Unmet(
                code="agreement_too_short",
                sv=f"Avtalsperioden {a.start_on}–{a.end_on} är {months} månader; ett IOP ska "
                f"vara långsiktigt (kommunens gräns: minst {ctx.min_agreement_months} månader)",
                en=f"The agreement period {a.start_on} to {a.end_on} is {months} months; an IOP is "
                f"long-term (at least {ctx.min_agreement_months} months)",
            )
        ]
    return []


@guard("both_contribute", reads={"agreements", "contributions"})
def both_contribute(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    a = facts.agreement(facts.preparing_period)
    contributions = a.contributions if a is not None else ()
    out = []
    for party in Party:
        if not any(c.party is party and c.amount > 0 for c in contributions):
            out.append(
                Unmet(
                    code=f"no_contribution_{party.value}",
                    sv=f"Avtalet anger ingen insats från {sv('party', party).lower()} (ekonomiska medel, "
                    "personaltid, ideell tid, lokaler eller kunskap); båda parter ska bidra med insatser",
                    en=f"The agreement lists no contribution from the {party.value} (money, time, "
                    "volunteer work, premises or knowledge); both parties must contribute",
                )
            )
    return out


@guard("four_eyes", reads={"assessments"})
def four_eyes(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    period = facts.preparing_period
    assessors = {a.assessed_by for a in facts.assessments if a.period == period}
    if ctx.actor not in assessors:
        return []
    return [
        Unmet(
            code="four_eyes",
            sv=f"{ctx.actor} har bedömt kriterierna för avtalsperiod {period} och får därför inte "
            "underteckna eller förnya avtalet (fyraögonprincipen)",
            en=f"{ctx.actor} assessed the criteria for period {period} and so may not also sign or renew (four eyes)",
        )
    ]


@guard("review_recorded", reads={"reviews"})
def review_recorded(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    found = [r for r in facts.reviews if r.period == facts.period and r.round == facts.review_round]
    if any(r.report_received for r in found):
        return []
    if found:
        return [
            Unmet(
                code="review_report_missing",
                sv=f"Uppföljning {facts.review_round} i {facts.ref} saknar organisationens rapport",
                en=f"Review {facts.review_round} of {facts.ref} lacks the organisation's report",
            )
        ]
    return [
        Unmet(
            code="review_missing",
            sv=f"Ingen uppföljning (rapport, dialogmöte) är registrerad för uppföljningsomgång "
            f"{facts.review_round} i {facts.ref}",
            en=f"No review (report, dialogue meeting) is recorded for review round {facts.review_round} of {facts.ref}",
        )
    ]


@guard("agreement_started", reads={"agreements"})
def agreement_started(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    a = facts.agreement(facts.period)
    if a is None:
        return [
            Unmet(
                code="agreement_missing",
                sv=f"Inget avtal för avtalsperiod {facts.period} i {facts.ref}",
                en=f"No agreement for period {facts.period} of {facts.ref}",
            )
        ]
    if ctx.today >= a.start_on:
        return []
    return [
        Unmet(
            code="agreement_not_started",
            sv=f"Avtalet börjar gälla {a.start_on}; idag är det {ctx.today}",
            en=f"The agreement starts on {a.start_on}; today is {ctx.today}",
        )
    ]


@guard("agreement_running", reads={"agreements"})
def agreement_running(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    a = facts.agreement(facts.period)
    if a is not None and ctx.today <= a.end_on:
        return []
    end = a.end_on if a is not None else "—"
    return [
        Unmet(
            code="agreement_over",
            sv=f"Avtalet för avtalsperiod {facts.period} gällde till och med {end}; förnya eller avsluta i stället",
            en=f"The agreement for period {facts.period} ran until {end}; renew or end instead",
        )
    ]


@guard("agreement_ended", reads={"agreements"})
def agreement_ended(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    a = facts.agreement(facts.period)
    if a is not None and ctx.today > a.end_on:
        return []
    end = a.end_on if a is not None else "—"
    return [
        Unmet(
            code="agreement_not_ended",
            sv=f"Avtalet gäller till och med {end}; idag är det {ctx.today}",
            en=f"The agreement runs until {end}; today is {ctx.today}",
        )
    ]


@guard("ending_decided", reads={"decisions"})
def ending_decided(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    """A decision to end the agreement of the current period is recorded."""
    if facts.ending_decision() is not None:
        return []
    return [
        Unmet(
            code="ending_decision_missing",
            sv=f"Inget beslut om att avsluta avtalet för avtalsperiod {facts.period} i {facts.ref} är registrerat "
            "(registrera beslutet med `iop case record REF decision --subject ending`)",
            en=f"No decision to end the agreement for period {facts.period} of {facts.ref} is recorded "
            "(record the decision with subject ending)",
        )
    ]


@guard("ending_due_or_decided", reads={"agreements", "decisions"})
def ending_due_or_decided(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    """A running agreement ends on (or after) its end date, or earlier by a decision to end it."""
    a = facts.agreement(facts.period)
    if (a is not None and ctx.today >= a.end_on) or facts.ending_decision() is not None:
        return []
    end = a.end_on if a is not None else "—"
    return [
        Unmet(
            code="ending_before_end_date",
            sv=f"Avtalet för avtalsperiod {facts.period} i {facts.ref} gäller till och med {end} och inget beslut om "
            "att avsluta det i förtid är registrerat; registrera beslutet "
            "(`iop case record REF decision --subject ending`), säg upp avtalet eller häv det",
            en=f"The agreement for period {facts.period} of {facts.ref} runs until {end} and no decision to "
            "end it early is recorded; record that decision (subject ending), give notice or rescind it",
        )
    ]


@guard("no_notice_given")
def no_notice_given(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    if facts.notice_given_on is None:
        return []
    return [
        Unmet(
            code="notice_given",
            sv=f"Avtalet i {facts.ref} är redan uppsagt {facts.notice_given_on} och upphör efter "
            f"{facts.notice_ends_on}",
            en=f"The agreement in {facts.ref} was given notice on {facts.notice_given_on} and ends after "
            f"{facts.notice_ends_on}",
        )
    ]


@guard("notice_expired")
def notice_expired(facts: CaseFacts, ctx: GuardContext) -> list[Unmet]:
    """The notice period of an uppsägning has run: the day after its last day has come."""
    if facts.notice_ends_on is not None and ctx.today > facts.notice_ends_on:
        return []
    if facts.notice_ends_on is None:
        return [
            Unmet(
                code="no_notice_given",
                sv=f"Avtalet i {facts.ref} är inte uppsagt",
                en=f"The agreement in {facts.ref} has not been given notice",
            )
        ]
    return [
        Unmet(
            code="notice_running",
            sv=f"Uppsägningstiden i {facts.ref} löper till och med {facts.notice_ends_on}; idag är det {ctx.today}",
            en=f"The notice period in {facts.ref} runs until {facts.notice_ends_on}; today is {ctx.today}",
        )
    ]
