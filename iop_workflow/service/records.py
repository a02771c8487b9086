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

from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain.facts import preparing_period
from iop_workflow.domain.values import ContributionKind, Party, StateAidBasis, Verdict
from iop_workflow.errors import InvalidInput, NotFound, TransitionNotAllowed, Unmet
from iop_workflow.service import validate
from iop_workflow.service.changes import record_fact
from iop_workflow.service.context import Actor, App, case_actor
from iop_workflow.store import cases as repo

_OPEN = ("initiative", "dialogue", "assessment", "signed", "active", "review", "renewed")


@dataclass(frozen=True, slots=True)
class Rule:
    states: tuple[str, ...]
    roles: frozenset[str]


RULES: dict[str, Rule] = {
    "meeting": Rule(_OPEN, frozenset({"officer", "coordinator"})),
    "assessment": Rule(("assessment", "review"), frozenset({"officer", "legal", "coordinator"})),
    "legal-check": Rule(("assessment", "review"), frozenset({"legal", "officer"})),
    "agreement": Rule(("dialogue", "assessment", "review"), frozenset({"officer"})),
    "contribution": Rule(("dialogue", "assessment", "review"), frozenset({"officer"})),
    "decision": Rule(("assessment", "review"), frozenset({"signatory", "registrar", "officer"})),
    "review": Rule(("review",), frozenset({"officer", "coordinator"})),
}


def _period(case: sa.RowMapping) -> int:
    return preparing_period(case["state"], int(case["period"]))


def _admit(app: App, actor: Actor, case: sa.RowMapping, kind: str) -> None:
    rule = RULES[kind]
    reasons = []
    if case["state"] not in rule.states:
        label = app.definition.state(case["state"])
        reasons.append(
            Unmet(
                code="wrong_state_for_record",
                sv=f"{kind} kan inte registreras i läget {label.label_sv} (bara i: {', '.join(rule.states)})",
                en=f"a {kind} cannot be recorded in state {label.label_en} (only in: {', '.join(rule.states)})",
            )
        )
    if not actor.roles & rule.roles:
        reasons.append(
            Unmet(
                code="role_not_allowed",
                sv=f"{actor.name} får inte registrera {kind}; det kräver någon av: {', '.join(sorted(rule.roles))}",
                en=f"{actor.name} may not record a {kind}; it needs one of: {', '.join(sorted(rule.roles))}",
            )
        )
    if reasons:
        raise TransitionNotAllowed(case_ref=case["ref"], trigger=f"record:{kind}", state=case["state"], reasons=reasons)


def _record(
    app: App,
    actor: Actor,
    ref: str,
    kind: str,
    store: Callable[[Connection, sa.RowMapping, int], tuple[dict[str, Any], str | None]],
) -> LogRecord:
    """Admit, store (the callback returns the logged data and guideline ref), log, emit."""
    with app.db.write() as s:
        case = repo.case_row(s, ref)
        actor = case_actor(actor, case)
        _admit(app, actor, case, kind)
        logged, guideline_ref = store(s, case, _period(case))
        record = record_fact(app, s, case, actor=actor, kind=kind, data=logged, guideline_ref=guideline_ref)
    app.sink.emit(record)
    return record


def _stamp(app: App, actor: Actor, prefix: str) -> dict[str, Any]:
    return {f"{prefix}_by": actor.name, f"{prefix}_at": app.clock.now()}


def meeting(app: App, actor: Actor, ref: str, *, held_on: date | str, joint_challenge: str,
            participants: str = "", notes: str = "") -> LogRecord:  # fmt: skip
    values = {
        "held_on": validate.day("held_on", held_on),
        "joint_challenge": validate.text("joint_challenge", joint_challenge),
        "participants": validate.text("participants", participants, required=False, max_len=2000),
        "notes": validate.text("notes", notes, required=False),
    }
    held = validate.day("held_on", held_on)
    if held > app.clock.today():
        raise InvalidInput(
            field="held_on", value=str(held),
            problem_sv="ett möte registreras när det har hållits, inte i förväg",
            problem_en="a meeting is recorded once held, not in advance",
        )  # fmt: skip

    def store(s: Connection, case: sa.RowMapping, period: int) -> tuple[dict[str, Any], str | None]:
        repo.insert_fact(s, "meetings", {"case_id": case["id"], **values, **_stamp(app, actor, "recorded")})
        return {"meeting": {k: str(v) for k, v in values.items() if k != "notes"}}, None

    return _record(app, actor, ref, "meeting", store)


def assessment(app: App, actor: Actor, ref: str, *, criterion: str, verdict: str, note: str) -> LogRecord:
    chosen = validate.choice("verdict", verdict, Verdict)
    note = validate.text("note", note)
    code = validate.text("criterion", criterion, max_len=80)

    def store(s: Connection, case: sa.RowMapping, period: int) -> tuple[dict[str, Any], str | None]:
        if case["guideline_id"] is None:
            raise NotFound(kind="guideline", key=f"(bound to {case['ref']})")
        guideline = app.guidelines.by_id(s, case["guideline_id"])
        found = guideline.criterion(code)
        if found is None:
            raise NotFound(
                kind="criterion", key=f"{code} ({guideline.ref}: {', '.join(c.code for c in guideline.criteria)})"
            )
        repo.insert_fact(s, "assessments", {
            "case_id": case["id"], "period": period, "guideline_id": case["guideline_id"],
            "criterion_code": code, "verdict": chosen.value, "note": note, **_stamp(app, actor, "assessed"),
        })  # fmt: skip
        data = {"criterion": code, "kind": found.kind.value, "verdict": chosen.value, "period": period, "note": note}
        return {"assessment": data}, guideline.ref

    return _record(app, actor, ref, "assessment", store)


def legal_check(app: App, actor: Actor, ref: str, *, competence: bool, procurement_not_required: bool,
                no_competition_distortion: bool, state_aid_basis: str, rationale: str,
                state_aid_amount_sek: str | None = None) -> LogRecord:  # fmt: skip
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

    def store(s: Connection, case: sa.RowMapping, period: int) -> tuple[dict[str, Any], str | None]:
        repo.insert_fact(s, "legal_checks", {"case_id": case["id"], "period": period, **values,
                                              **_stamp(app, actor, "checked")})  # fmt: skip
        return {
            "legal_check": {**{k: str(v) if v is not None else None for k, v in values.items()}, "period": period}
        }, None

    return _record(app, actor, ref, "legal-check", store)


def agreement(app: App, actor: Actor, ref: str, *, start_on: date | str, end_on: date | str,
              notice_months: int | str = 3, purpose: str = "") -> LogRecord:  # fmt: skip
    start = validate.day("start_on", start_on)
    end = validate.day("end_on", end_on)
    if end <= start:
        raise InvalidInput(
            field="end_on", value=str(end),
            problem_sv=f"slutdatum {end} ligger inte efter startdatum {start}",
            problem_en=f"end date {end} is not after start date {start}",
        )  # fmt: skip
    notice = validate.whole("notice_months", notice_months, low=0, high=36)
    purpose = validate.text("purpose", purpose, required=False)

    def store(s: Connection, case: sa.RowMapping, period: int) -> tuple[dict[str, Any], str | None]:
        repo.insert_fact(s, "agreements", {"case_id": case["id"], "period": period, "start_on": start, "end_on": end,
                                            "notice_months": notice, "purpose": purpose,
                                            **_stamp(app, actor, "recorded")})  # fmt: skip
        return {
            "agreement": {"period": period, "start_on": str(start), "end_on": str(end), "notice_months": notice}
        }, None

    return _record(app, actor, ref, "agreement", store)


def contribution(app: App, actor: Actor, ref: str, *, party: str, kind: str, amount: object, unit: str,
                 description: str = "") -> LogRecord:  # fmt: skip
    values = {
        "party": validate.choice("party", party, Party).value,
        "kind": validate.choice("kind", kind, ContributionKind).value,
        "amount": validate.amount("amount", amount),
        "unit": validate.text("unit", unit, max_len=20),
        "description": validate.text("description", description, required=False, max_len=2000),
    }

    def store(s: Connection, case: sa.RowMapping, period: int) -> tuple[dict[str, Any], str | None]:
        repo.insert_fact(s, "contributions", {"case_id": case["id"], "period": period, **values,
                                               **_stamp(app, actor, "recorded")})  # fmt: skip
        return {"contribution": {**{k: str(v) for k, v in values.items()}, "period": period}}, None

    return _record(app, actor, ref, "contribution", store)


def decision(app: App, actor: Actor, ref: str, *, body: str, decided_on: date | str, minutes_ref: str,
             delegation_ref: str | None = None) -> LogRecord:  # fmt: skip
    values = {
        "body": validate.text("body", body, max_len=200),
        "decided_on": validate.day("decided_on", decided_on),
        "minutes_ref": validate.text("minutes_ref", minutes_ref, max_len=100),
        "delegation_ref": validate.optional_text("delegation_ref", delegation_ref, max_len=100),
    }

    def store(s: Connection, case: sa.RowMapping, period: int) -> tuple[dict[str, Any], str | None]:
        repo.insert_fact(s, "decisions", {"case_id": case["id"], "period": period, **values,
                                           **_stamp(app, actor, "recorded")})  # fmt: skip
        return {
            "decision": {**{k: str(v) if v is not None else None for k, v in values.items()}, "period": period}
        }, None

    return _record(app, actor, ref, "decision", store)


def review(app: App, actor: Actor, ref: str, *, held_on: date | str, report_received: bool,
           summary: str = "") -> LogRecord:  # fmt: skip
    held = validate.day("held_on", held_on)
    summary = validate.text("summary", summary, required=False)

    def store(s: Connection, case: sa.RowMapping, period: int) -> tuple[dict[str, Any], str | None]:
        current = int(case["period"])
        repo.insert_fact(s, "reviews", {"case_id": case["id"], "period": current, "round": case["review_round"],
                                         "held_on": held, "report_received": bool(report_received),
                                         "summary": summary, **_stamp(app, actor, "recorded")})  # fmt: skip
        data = {"period": current, "round": case["review_round"], "held_on": str(held),
                "report_received": bool(report_received)}  # fmt: skip
        return {"review": data}, None

    return _record(app, actor, ref, "review", store)
