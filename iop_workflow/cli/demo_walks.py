"""The demo's sample cases: one generator per case, yielding the next date it acts on.

Actors have demo roles (an officer who assesses, a legal officer, the signatory
eva.lind who never assesses: four eyes, a coordinator, and ``system`` firing the
timers as the scheduler would). :func:`run_walks` moves the demo database's
simulated clock forward to each walk's next date, earliest first.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import click

from iop_workflow.cli.context import State
from iop_workflow.cli.render import fact_values
from iop_workflow.errors import NotFound, TransitionNotAllowed
from iop_workflow.glossary import label, record_label

if TYPE_CHECKING:
    from iop_workflow.api import Iop

OFFICER, LEGAL, SIGNATORY = "anna.berg", "lars.jurist", "eva.lind"
COORDINATOR, SYSTEM = "karin.samordnare", "system"
DEMO_ROLES = {
    OFFICER: frozenset({"officer", "registrar"}),
    LEGAL: frozenset({"legal"}),
    SIGNATORY: frozenset({"signatory"}),
    COORDINATOR: frozenset({"coordinator"}),
    SYSTEM: frozenset({"system"}),
}
Walk = Iterator[date]
_SHOWN: tuple[str, ...] = ("held_on", "joint_challenge", "party", "kind", "amount", "unit")
_SHOWN += ("start_on", "end_on", "body", "minutes_ref", "report_received", "state_aid_basis")


class Demo:
    """The running demo: the API, the clock, and the steps printed so far."""

    def __init__(self, iop: Iop, state: State) -> None:
        self.iop, self.state = iop, state
        self.steps: list[dict[str, Any]] = []
        self.printed_day: date | None = None

    @property
    def today(self) -> date:
        return self.iop.app.clock.today()

    def label(self, value: str | None) -> str:
        states = self.iop.app.definition.states
        return states[value].label(self.state.lang) if value is not None and value in states else "-"

    def _print(self, step: dict[str, Any], shown: str | None) -> None:
        """One step for people: in Swedish each action by its label, a fact's values by theirs."""
        if self.state.json:
            return
        if self.printed_day != self.today:
            self.printed_day = self.today
            click.echo(f"\n{self.today.isoformat()}")
        who = f"({step['actor']})"
        lang = self.state.lang
        action = step["action"] if lang == "en" else record_label(step["action"], lang)
        detail = step["detail"] if shown is None else shown
        if step["outcome"] == "refused":
            click.echo(f"  {step['case']:<14} {action}: {label('outcome', 'refused', lang)} {who}")
            for reason in step["reasons"]:
                click.echo(f"      - {reason['message']}")
        elif step["action"].startswith("record:"):
            click.echo(f"  {step['case']:<14} {action}: {detail} {who}")
        else:
            new = self.state.say("(nytt ärende)", "(new)")
            source = self.label(step["from_state"]) if step["from_state"] else new
            parts = [f"{source} -> {self.label(step['to_state'])}", detail, who]
            click.echo(f"  {step['case']:<14} {action}: " + " ".join(p for p in parts if p))

    def log(self, case: str, action: str, actor: str, shown: str | None = None, **extra: Any) -> None:
        """Add a step (``detail`` as the JSON steps show it; ``shown``, if given, what people read instead)."""
        step: dict[str, Any] = {
            "date": self.today.isoformat(),
            "case": case,
            "action": action,
            "actor": actor,
            "outcome": "done",
            "from_state": None,
            "to_state": None,
            "detail": "",
            "reasons": [],
        }
        step.update(extra)
        self.steps.append(step)
        self._print(step, shown)

    def refused(self, case: str, action: str, actor: str, exc: TransitionNotAllowed) -> None:
        reasons = [{"code": r.code, "message": r.text(self.state.lang)} for r in exc.reasons]
        self.log(case, action, actor, outcome="refused", reasons=reasons)

    # -- acts ---------------------------------------------------------------------
    def open(self, org: str, municipality: str, title: str, challenge: str, unit: str) -> str:
        ref = self.iop.open_case(
            actor=OFFICER, org_number=org, municipality=municipality, title=title, challenge=challenge, unit=unit
        )
        self.log(ref, "open", OFFICER, to_state=self.iop.case(ref)["state"], detail=f"«{title}»")
        return ref

    def fire(self, ref: str, trigger: str, actor: str, **kwargs: Any) -> None:
        record = self.iop.fire(ref, trigger, actor=actor, **kwargs)
        detail = f"[{record['guideline_ref']}]" if trigger == "submit_for_assessment" else ""
        if record["reason"]:
            detail = f"«{record['reason']}»"
        if notice := record["data"].get("notice"):
            ends = notice["ends_on"]
            detail += self.state.say(f" (gäller till och med {ends})", f" (runs until {ends})")
        self.log(ref, trigger, actor, from_state=record["from_state"], to_state=record["to_state"], detail=detail)

    def record(self, ref: str, what: str, actor: str, **kwargs: Any) -> None:
        """Record a fact through ``Iop.record_<what>`` and print its main values."""
        call: Callable[..., dict[str, Any]] = getattr(self.iop, "record_" + what.replace("-", "_"))
        body = call(ref, actor=actor, **kwargs)["data"].get(what.replace("-", "_"), {})
        detail = ", ".join(f"{k}={body[k]}" for k in _SHOWN if k in body)
        shown = fact_values({k: body[k] for k in _SHOWN if k in body}, self.state.lang)
        self.log(ref, f"record:{what}", actor, shown=shown, detail=detail)

    def due(self, ref: str, action: str) -> date:
        """When the case's open timer with ``action`` is due (the scheduler would fire it then)."""
        timers = [t for t in self.iop.case(ref)["timers"] if t["action"] == action]
        return min(date.fromisoformat(t["due_on"]) for t in timers)

    # -- recurring parts of a walk ------------------------------------------------
    def dialogue(self, ref: str, challenge: str) -> None:
        self.fire(ref, "start_dialogue", OFFICER)
        self.record(
            ref,
            "meeting",
            OFFICER,
            held_on=self.today,
            joint_challenge=challenge,
            participants="Förvaltningen och organisationen",
        )

    def assess_and_check(self, ref: str) -> None:
        """Every gating criterion met (the officer assesses) and the legal check (legal)."""
        bound = self.iop.case(ref)["guideline"]
        if bound is None:  # entering assessment binds one; a case without one cannot be assessed
            raise NotFound(kind="guideline", key=f"(bound to {ref})")
        guideline = self.iop.guideline(bound["ref"])
        for crit in guideline.gating():
            self.iop.assess(ref, crit.code, "met", note="Bedömt i dialogen", actor=OFFICER)
        self.log(
            ref,
            "record:assessment",
            OFFICER,
            detail=f"{len(guideline.gating())} "
            f"{self.state.say('kriterier uppfyllda', 'criteria met')} ({guideline.ref})",
        )
        self.record(
            ref,
            "legal-check",
            LEGAL,
            competence=True,
            procurement_not_required=True,
            no_competition_distortion=True,
            state_aid_basis="non_economic",
            rationale="Icke-ekonomisk verksamhet av allmänt intresse; ingen upphandling krävs",
        )

    def terms(self, ref: str, start: str, end: str, money: str, hours: str) -> None:
        self.record(
            ref,
            "agreement",
            OFFICER,
            start_on=start,
            end_on=end,
            notice_months=3,
            purpose="Partnerskap om den gemensamt definierade utmaningen",
        )
        self.record(ref, "contribution", OFFICER, party="municipality", kind="money", amount=money, unit="SEK")
        self.record(ref, "contribution", OFFICER, party="organisation", kind="volunteer_hours", amount=hours, unit="h")

    def decide(self, ref: str, body: str, minutes: str) -> None:
        self.record(ref, "decision", OFFICER, body=body, decided_on=self.today, minutes_ref=minutes)

    def yearly_review(self, ref: str) -> Walk:
        yield self.due(ref, "fire:start_review")
        self.fire(ref, "start_review", SYSTEM)
        yield self.today + timedelta(days=14)
        self.record(
            ref,
            "review",
            COORDINATOR,
            held_on=self.today,
            report_received=True,
            summary="Verksamhetsrapport mottagen; målen uppnås",
        )
        self.fire(ref, "continue", COORDINATOR)


# -- the walks, one per case --------------------------------------------------------
def kungalv(d: Demo) -> Walk:
    yield date(2023, 10, 2)
    ref = d.open(
        "802500-1119",
        "Kungälv",
        "Läxhjälp för barn i Ytterby",
        "Barn i området klarar inte skolan",
        "Bildningsförvaltningen",
    )
    d.dialogue(ref, "Fler elever ska nå målen i grundskolan")
    yield date(2023, 10, 16)
    d.fire(ref, "submit_for_assessment", OFFICER)
    yield date(2023, 11, 6)
    d.assess_and_check(ref)
    yield date(2026, 1, 19)  # the decision was delayed: the guideline expired meanwhile
    d.terms(ref, "2026-03-01", "2028-02-29", "120000", "800")
    d.decide(ref, "Kommunstyrelsen", "KS § 5/2026")
    try:
        d.fire(ref, "sign", SIGNATORY)
    except TransitionNotAllowed as exc:
        d.refused(ref, "sign", SIGNATORY, exc)


def company(d: Demo) -> Walk:
    yield date(2024, 1, 15)
    try:
        d.open("556036-0793", "Jönköping", "Städtjänster", "Rena trapphus", "Stadsbyggnadskontoret")
    except TransitionNotAllowed as exc:
        d.refused(d.state.say("(nytt ärende)", "(new case)"), "open", OFFICER, exc)


def jonkoping(d: Demo) -> Walk:
    yield date(2024, 1, 15)
    ref = d.open(
        "802014-5671",
        "Jönköping",
        "Mötesplats för människor i utsatthet",
        "Ensamhet och utanförskap bland vuxna i hemlöshet",
        "Socialförvaltningen",
    )
    d.dialogue(ref, "Ingen ska behöva vara ensam i sin utsatthet")
    yield date(2024, 2, 5)
    d.fire(ref, "submit_for_assessment", OFFICER)
    yield date(2024, 2, 19)
    d.assess_and_check(ref)
    d.terms(ref, "2024-04-01", "2026-03-31", "450000", "3000")
    yield date(2024, 3, 4)
    d.decide(ref, "Socialnämnden", "SN § 31/2024")
    d.fire(ref, "sign", SIGNATORY)
    yield d.due(ref, "fire:activate")
    d.fire(ref, "activate", SYSTEM)
    yield from d.yearly_review(ref)
    yield d.due(ref, "fire:start_review")  # the renewal review, before the notice period
    d.fire(ref, "start_review", SYSTEM)
    yield d.today + timedelta(days=14)
    d.record(
        ref,
        "review",
        COORDINATOR,
        held_on=d.today,
        report_received=True,
        summary="Två år med stabil verksamhet; båda parter vill fortsätta",
    )
    d.assess_and_check(ref)
    d.terms(ref, "2026-04-01", "2028-03-31", "470000", "3200")
    yield d.today + timedelta(days=14)
    d.decide(ref, "Socialnämnden", "SN § 140/2025")
    d.fire(ref, "renew", SIGNATORY)
    yield d.due(ref, "fire:activate")
    d.fire(ref, "activate", SYSTEM)


def stenungsund(
    org: str, title: str, challenge: str, *, start: date, terms: tuple[str, ...], notice: str | None = None
) -> Callable[[Demo], Walk]:
    """A Stenungsund case to active and through its first yearly review.

    ``terms``: agreement start, end, the municipality's money, the decision's minutes ref.
    ``notice``: after the review, the organisation gives notice (uppsägning) with this reason; the
    agreement runs out its notice period and the timer ends the case (as the scheduler would).
    """

    def walk(d: Demo) -> Walk:
        yield start
        ref = d.open(org, "Stenungsund", title, challenge, "Socialförvaltningen")
        d.dialogue(ref, challenge)
        yield start + timedelta(days=14)
        d.fire(ref, "submit_for_assessment", OFFICER)
        yield start + timedelta(days=28)
        d.assess_and_check(ref)
        d.terms(ref, terms[0], terms[1], terms[2], "1500")
        yield start + timedelta(days=42)
        d.decide(ref, "Socialnämnden", terms[3])
        d.fire(ref, "sign", SIGNATORY)
        yield d.due(ref, "fire:activate")
        d.fire(ref, "activate", SYSTEM)
        yield from d.yearly_review(ref)
        if notice is not None:
            yield d.today + timedelta(days=30)
            d.fire(ref, "terminate", SIGNATORY, reason=notice)
            yield d.due(ref, "fire:end_by_notice")
            d.fire(ref, "end_by_notice", SYSTEM)

    return walk


def mark(d: Demo) -> Walk:
    yield date(2025, 9, 1)
    ref = d.open(
        "802010-0908",
        "Mark",
        "Lovaktiviteter för unga",
        "Unga saknar meningsfull fritid på loven",
        "Kultur- och fritidsförvaltningen",
    )
    d.fire(ref, "start_dialogue", OFFICER)
    yield date(2025, 10, 6)
    d.fire(ref, "withdraw", OFFICER, reason="Föreningen saknar ledare i höst och återkommer med ett nytt initiativ")


WALKS: tuple[Callable[[Demo], Walk], ...] = (
    kungalv,
    company,
    jonkoping,
    stenungsund(
        "802479-1322",
        "Skyddat boende och stödsamtal",
        "Våldsutsatta kvinnor och barn behöver skydd",
        start=date(2024, 4, 8),
        terms=("2024-07-01", "2026-06-30", "340000", "SN § 52/2024"),
    ),
    stenungsund(
        "252002-3348",
        "Pelikanen: stöd till barn och unga",
        "Barn som växer upp med missbruk behöver stöd",
        start=date(2024, 4, 15),
        terms=("2024-09-01", "2026-08-31", "180000", "SN § 58/2024"),
        notice="Församlingen har sagt upp avtalet: verksamheten flyttar till en annan huvudman",
    ),
    mark,
)


def run_walks(d: Demo) -> None:
    """Advance the simulated clock to each walk's next date, earliest first (it never goes back)."""
    from iop_workflow.service.clock_mode import advance  # noqa: PLC0415

    queue: list[tuple[date, int, Walk]] = []
    for i, make in enumerate(WALKS):
        walk = make(d)
        heapq.heappush(queue, (next(walk), i, walk))
    while queue:
        when, i, walk = heapq.heappop(queue)
        if when > d.today:
            advance(d.iop.app, when)
        nxt = next(walk, None)
        if nxt is not None:
            heapq.heappush(queue, (nxt, i, walk))
