"""Recording facts on a case: meetings, assessments, legal checks, agreements,
contributions, decisions and reviews. Each is one transaction that stores the
fact, bumps the case's version and appends a logged record that keeps the state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow import glossary
from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain.facts import preparing_period
from iop_workflow.domain.guards import EVALUATED_CRITERIA, GUARD_READS, GUARDS
from iop_workflow.domain.values import ContributionKind, DecisionSubject, Party, StateAidBasis, Verdict
from iop_workflow.errors import InvalidInput, NotFound, TransitionNotAllowed, Unmet
from iop_workflow.municipalities import name_of
from iop_workflow.service import correctable, validate
from iop_workflow.service.changes import record_fact
from iop_workflow.service.context import Actor, App, case_actor
from iop_workflow.service.fact_proof import ROW_DIGEST, row_digest
from iop_workflow.settings_bodies import DELEGATE
from iop_workflow.store import cases as repo
from iop_workflow.store import facts as fact_repo


def _period(app: App, case: sa.RowMapping) -> int:
    return preparing_period(case["state"], int(case["period"]), app.definition.states_in("preparing"))


def _admit(app: App, s: Connection, actor: Actor, case: sa.RowMapping, kind: str) -> None:
    """The definition's ``[records.KIND]``: the case's state, the actor's role and the record's guards."""
    rule = app.definition.records.get(kind)
    states = rule.states if rule is not None else ()
    roles = sorted(rule.roles) if rule is not None else []
    reasons = []
    if case["state"] not in states:
        label = app.definition.state(case["state"])
        reasons.append(
            Unmet(
                code="wrong_state_for_record",
                sv=f"{glossary.label('fact_kind', kind, 'sv').capitalize()} kan inte registreras i status "
                f"{label.label_sv} (endast i: {', '.join(app.definition.state(s).label_sv for s in states) or '-'})",
                en=f"a {kind} cannot be recorded in state {label.label_en} (only in: {', '.join(states) or '-'})",
            )
        )
    if not actor.acting_roles & set(roles):
        reasons.append(
            Unmet(
                code="role_not_allowed",
                sv=f"{actor.acting_name} får inte registrera {glossary.label('fact_kind', kind, 'sv')}; det kräver "
                f"behörigheten {glossary.role_needed(roles, actor.acting_name, 'sv') or '-'}",
                en=f"{actor.acting_name} may not record a {kind}; it needs one of: {', '.join(roles) or '-'}",
            )
        )
    if rule is not None and rule.guards:
        kinds = frozenset().union(*(GUARD_READS[g] for g in rule.guards))
        facts = fact_repo.build_facts(s, case, app.guidelines, kinds, preparing=app.definition.states_in("preparing"))
        ctx = app.guard_context(actor)
        for name in rule.guards:
            reasons.extend(GUARDS[name](facts, ctx))
    if reasons:
        raise TransitionNotAllowed(case_ref=case["ref"], trigger=f"record:{kind}", state=case["state"], reasons=reasons)


@dataclass(frozen=True, slots=True)
class Fact:
    """What recording one fact writes: its row, the data its record holds, the guideline it names."""

    table: str
    row: dict[str, Any]
    logged: dict[str, Any]
    guideline_ref: str | None = None


def _record(
    app: App, actor: Actor, ref: str, kind: str, build: Callable[[Connection, sa.RowMapping, int], Fact]
) -> LogRecord:
    """Admit, build the fact, log it (with its row's digest), store the row bound to the record, emit."""
    with app.db.write() as s:
        case = repo.case_row(s, ref)
        actor = case_actor(actor, case)
        _admit(app, s, actor, case, kind)
        fact = build(s, case, _period(app, case))
        _in_case_time(app, case, kind, fact.row)
        row = {"case_id": case["id"], **fact.row}
        data = {**fact.logged, ROW_DIGEST: row_digest(fact.table, row)}
        record = record_fact(app, s, case, actor=actor, kind=kind, data=data, guideline_ref=fact.guideline_ref)
        repo.insert_fact(s, fact.table, {**row, "log_seq": record.seq})
    app.sink.emit(record)
    return record


def _in_case_time(app: App, case: sa.RowMapping, kind: str, row: dict[str, Any]) -> None:
    """The fact's dates of what happened lie within the case's time (``correctable.in_case_time``)."""
    for name, spec in correctable.FACTS[kind][1].items():
        if spec.in_case_time and name in row:
            correctable.in_case_time(
                name, row[name], opened_on=case["opened_on"], today=app.clock.today(), history_from=case["history_from"]
            )


def _stamp(app: App, actor: Actor, prefix: str) -> dict[str, Any]:
    return {f"{prefix}_by": actor.acting_name, f"{prefix}_at": app.clock.now()}


def meeting(
    app: App,
    actor: Actor,
    ref: str,
    *,
    held_on: date | str,
    joint_challenge: str,
    participants: str = "",
    notes: str = "",
) -> LogRecord:
    values = {
        "held_on": validate.day("held_on", held_on),
        "joint_challenge": validate.text("joint_challenge", joint_challenge),
        "participants": validate.text("participants", participants, required=False, max_len=2000),
        "notes": validate.text("notes", notes, required=False),
    }

    def build(s: Connection, case: sa.RowMapping, period: int) -> Fact:
        logged = {"meeting": {k: str(v) for k, v in values.items() if k != "notes"}}
        return Fact("meetings", {**values, **_stamp(app, actor, "recorded")}, logged)

    return _record(app, actor, ref, "meeting", build)


def assessment(app: App, actor: Actor, ref: str, *, criterion: str, verdict: str, note: str) -> LogRecord:
    chosen = validate.choice("verdict", verdict, Verdict)
    note = validate.text("note", note)
    code = validate.text("criterion", criterion, max_len=80)
    if code in EVALUATED_CRITERIA:  # the rules read it from recorded facts; a verdict would never count
        raise InvalidInput(
            field="criterion",
            value=code,
            problem_sv="bedöms av reglerna ur registreringen (iop org registration), inte av en handläggare",
            problem_en="is evaluated by the rules from the registration (iop org registration), not by an officer",
        )

    def build(s: Connection, case: sa.RowMapping, period: int) -> Fact:
        if case["guideline_id"] is None:
            raise NotFound(kind="guideline", key=f"(bound to {case['ref']})")
        guideline = app.guidelines.by_id(s, case["guideline_id"])
        found = guideline.criterion(code)
        if found is None:
            raise NotFound(
                kind="criterion", key=f"{code} ({guideline.ref}: {', '.join(c.code for c in guideline.criteria)})"
            )
        row = {
            "period": period,
            "guideline_id": case["guideline_id"],
            "criterion_code": code,
            "verdict": chosen.value,
            "note": note,
            **_stamp(app, actor, "assessed"),
        }
        data = {"criterion": code, "kind": found.kind.value, "verdict": chosen.value, "period": period, "note": note}
        return Fact("assessments", row, {"assessment": data}, guideline.ref)

    return _record(app, actor, ref, "assessment", build)


def legal_check(
    app: App,
    actor: Actor,
    ref: str,
    *,
    competence: bool,
    procurement_not_required: bool,
    no_competition_distortion: bool,
    state_aid_basis: str,
    rationale: str,
    state_aid_amount_sek: str | None = None,
) -> LogRecord:
    values = {
        "competence": bool(competence),
        "procurement_not_required": bool(procurement_not_required),
        "no_competition_distortion": bool(no_competition_distortion),
        "state_aid_basis": validate.choice("state_aid_basis", state_aid_basis, StateAidBasis).value,
        "state_aid_amount_sek": validate.amount("state_aid_amount_sek", state_aid_amount_sek)
        if state_aid_amount_sek not in (None, "")
        else None,
        "rationale": validate.text("rationale", rationale),
    }

    def build(s: Connection, case: sa.RowMapping, period: int) -> Fact:
        logged = {k: str(v) if v is not None else None for k, v in values.items()}
        row = {"period": period, **values, **_stamp(app, actor, "checked")}
        return Fact("legal_checks", row, {"legal_check": {**logged, "period": period}})

    return _record(app, actor, ref, "legal-check", build)


def agreement(
    app: App,
    actor: Actor,
    ref: str,
    *,
    start_on: date | str,
    end_on: date | str,
    notice_months: int | str = 3,
    purpose: str = "",
) -> LogRecord:
    start = validate.day("start_on", start_on)
    end = validate.day("end_on", end_on)
    if end <= start:
        raise InvalidInput(
            field="end_on",
            value=str(end),
            problem_sv=f"slutdatum {end} ligger inte efter startdatum {start}",
            problem_en=f"end date {end} is not after start date {start}",
        )
    notice = validate.whole("notice_months", notice_months, low=0, high=36)
    purpose = validate.text("purpose", purpose, required=False)

    def build(s: Connection, case: sa.RowMapping, period: int) -> Fact:
        row = {
            "period": period,
            "start_on": start,
            "end_on": end,
            "notice_months": notice,
            "purpose": purpose,
            **_stamp(app, actor, "recorded"),
        }
        logged = {"period": period, "start_on": str(start), "end_on": str(end), "notice_months": notice}
        return Fact("agreements", row, {"agreement": logged})

    return _record(app, actor, ref, "agreement", build)


def contribution(
    app: App, actor: Actor, ref: str, *, party: str, kind: str, amount: object, unit: str, description: str = ""
) -> LogRecord:
    values = {
        "party": validate.choice("party", party, Party).value,
        "kind": validate.choice("kind", kind, ContributionKind).value,
        "amount": validate.amount("amount", amount),
        "unit": validate.text("unit", unit, max_len=20),
        "description": validate.text("description", description, required=False, max_len=2000),
    }

    def build(s: Connection, case: sa.RowMapping, period: int) -> Fact:
        row = {"period": period, **values, **_stamp(app, actor, "recorded")}
        logged = {k: str(v) for k, v in values.items()}
        return Fact("contributions", row, {"contribution": {**logged, "period": period}})

    return _record(app, actor, ref, "contribution", build)


def decision(
    app: App,
    actor: Actor,
    ref: str,
    *,
    body: str,
    decided_on: date | str,
    minutes_ref: str,
    delegation_ref: str | None = None,
    subject: str = "agreement",
) -> LogRecord:
    """A decision to enter or renew the agreement (``subject`` agreement, for the period being prepared)
    or to end the running one early (``ending``, for the current period; in the definition's
    ``partnership`` states; the other subject in its ``agreement_decision`` states). Its body must be
    one the settings name for the case's municipality (exit 6 naming them); a delegate's
    decision names the point of the delegationsordning (``delegation_ref``)."""
    chosen = validate.choice("subject", subject, DecisionSubject)
    values = {
        "body": validate.text("body", body, max_len=200),
        "decided_on": validate.day("decided_on", decided_on),
        "minutes_ref": validate.text("minutes_ref", minutes_ref, max_len=100),
        "delegation_ref": validate.optional_text("delegation_ref", delegation_ref, max_len=100),
    }

    def build(s: Connection, case: sa.RowMapping, period: int) -> Fact:
        _subject_fits(app, case, chosen)
        body = decision_body(app, case["municipality"], str(values["body"]), values["delegation_ref"])  # type: ignore[arg-type]
        row: dict[str, Any] = {**values, "body": body}
        if chosen is DecisionSubject.ENDING:
            row["subject"], period = chosen.value, int(case["period"])
        logged = {k: str(v) if v is not None else None for k, v in row.items()}
        return Fact(
            "decisions",
            {"period": period, **row, **_stamp(app, actor, "recorded")},
            {"decision": {**logged, "period": period}},
        )

    return _record(app, actor, ref, "decision", build)


def _subject_fits(app: App, case: sa.RowMapping, subject: DecisionSubject) -> None:
    """A decision to end is taken while an agreement is signed or running; one to enter or renew, while
    the case is assessed or reviewed."""
    group = "partnership" if subject is DecisionSubject.ENDING else "agreement_decision"
    states = app.definition.states_in(group)
    if case["state"] in states:
        return
    label = app.definition.state(case["state"])
    names_sv = ", ".join(app.definition.state(s).label_sv for s in states)
    names_en = ", ".join(app.definition.state(s).label_en for s in states)
    raise TransitionNotAllowed(
        case_ref=case["ref"],
        trigger="record:decision",
        state=case["state"],
        reasons=[
            Unmet(
                code="wrong_state_for_record",
                sv=f"{glossary.label('decision_subject', subject, 'sv').capitalize()} kan inte registreras i status "
                f"{label.label_sv} (endast i: {names_sv})",
                en=f"a decision ({subject.value}) cannot be recorded in state {label.label_en} (only in: {names_en})",
            ),
        ],
    )


def decision_body(app: App, municipality: str, body: str, delegation_ref: str | None) -> str:
    """``body`` as the settings spell it for ``municipality``; InvalidInput (exit 6) naming the allowed
    bodies when it is none of them, or when a delegate's decision names no delegation_ref."""
    configured = app.settings.bodies_of(municipality)
    place = name_of(municipality)
    if configured is None:
        raise InvalidInput(
            field="body",
            value=body,
            problem_sv=f"inga beslutsorgan är angivna för {place} i inställningarna "
            f"([decision_bodies.{place}] i {app.settings.source})",
            problem_en=f"no decision bodies are configured for {place} "
            f"([decision_bodies.{place}] in {app.settings.source})",
        )
    found = configured.match(body)
    if found is None:
        allowed = ", ".join(configured.allowed())
        raise InvalidInput(
            field="body",
            value=body,
            problem_sv=f"är inget beslutsorgan i {place}; välj ett av: {allowed}",
            problem_en=f"is not a decision body of {place}; choose one of: {allowed}",
        )
    if found == DELEGATE and not delegation_ref:
        raise InvalidInput(
            field="delegation_ref",
            value="",
            problem_sv=f"ett delegationsbeslut anger punkten i delegationsordningen {configured.delegation_order} "
            "(--delegation-ref)",
            problem_en=f"a delegate's decision names the point of the delegation order {configured.delegation_order} "
            "(--delegation-ref)",
        )
    return found


def review(
    app: App, actor: Actor, ref: str, *, held_on: date | str, report_received: bool, summary: str = ""
) -> LogRecord:
    held = validate.day("held_on", held_on)
    summary = validate.text("summary", summary, required=False)

    def build(s: Connection, case: sa.RowMapping, period: int) -> Fact:
        current = int(case["period"])
        row = {
            "period": current,
            "round": case["review_round"],
            "held_on": held,
            "report_received": bool(report_received),
            "summary": summary,
            **_stamp(app, actor, "recorded"),
        }
        data = {
            "period": current,
            "round": case["review_round"],
            "held_on": str(held),
            "report_received": bool(report_received),
        }
        return Fact("reviews", row, {"review": data})

    return _record(app, actor, ref, "review", build)
