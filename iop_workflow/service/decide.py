"""Deciding a transition on a case's facts: its guards, its effects on the case, its record's data and
the destination's timers. Writes nothing: ``workflow.fire_on`` writes the step it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.domain.calendar import add_months
from iop_workflow.domain.definition import TransitionSpec
from iop_workflow.domain.facts import CaseFacts
from iop_workflow.domain.guidelines import governing_for
from iop_workflow.domain.timers import PlannedTimer, logged, plan
from iop_workflow.errors import InvalidInput, TransitionNotAllowed
from iop_workflow.glossary import label
from iop_workflow.service import correctable
from iop_workflow.service.context import Actor, App


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """A transition decided on a case's facts: what firing it writes."""

    spec: TransitionSpec
    dest: str
    values: dict[str, Any]  # the case's new column values (without version and updated_at)
    data: dict[str, Any]  # the log record's data
    guideline_ref: str | None
    timers: tuple[PlannedTimer, ...]  # the destination state's timers


def decide(
    app: App,
    s: Connection,
    actor: Actor,
    case: sa.RowMapping,
    *,
    spec: TransitionSpec,
    facts: CaseFacts,
    reason: str | None = None,
    extra: Mapping[str, Any] | None = None,
    end_reason: str | None = None,
    notice_on: date | None = None,
) -> Step:
    """Check ``spec``'s guards on ``facts`` and work out its effects; refuses with every reason.

    Writes nothing: ``fire_on`` writes the step.
    """
    chosen = _end_reason(spec, end_reason)
    _require_inputs(spec, reason, notice_on)
    ctx = app.guard_context(actor)
    reasons = app.engine.check(facts, ctx, spec)
    if reasons:
        raise TransitionNotAllowed(case_ref=case["ref"], trigger=spec.trigger, state=case["state"], reasons=reasons)
    dest = app.engine.apply(case["state"], spec.trigger)
    values, after = _effects(app, spec, facts, today=ctx.today, dest=dest, end_reason=chosen)
    notice: dict[str, Any] = {}
    if "give_notice" in spec.effects:
        values, after = _give_notice(facts, values, after, notice_on or ctx.today, today=ctx.today)
        notice = {"notice": {"given_on": str(after.notice_given_on), "ends_on": str(after.notice_ends_on)}}
    timers = plan(app.definition.state(dest), after, app.settings.lead_times)
    return Step(
        spec=spec,
        dest=dest,
        values=values,
        data={**_snapshot(spec, facts, chosen), **notice, **(extra or {}), "timers": logged(timers)},
        guideline_ref=_guideline_ref(app, s, case, values, after),
        timers=timers,
    )


def _guideline_ref(
    app: App, s: Connection, case: sa.RowMapping, values: Mapping[str, Any], after: CaseFacts
) -> str | None:
    """The ref of the guideline the case is bound to after the transition, for its log record."""
    if "guideline_id" in values:  # an effect bound it: ``after`` holds it
        return after.guideline.ref if after.guideline is not None else None
    gid = case["guideline_id"]
    return None if gid is None else app.guidelines.ref_of(s, gid)


def _end_reason(spec: TransitionSpec, given: str | None) -> str | None:
    if spec.end_reason_choices:
        if given not in spec.end_reason_choices:
            choices = ", ".join(spec.end_reason_choices)
            choices_sv = " eller ".join(
                f"{label('end_reason', c, 'sv').lower()} (`--end-reason {c}`)" for c in spec.end_reason_choices
            )
            raise InvalidInput(
                field="end_reason",
                value=given,
                problem_sv=f"«{spec.label_sv}» kräver en avslutsorsak: {choices_sv}",
                problem_en=f"'{spec.trigger}' needs an end reason (--end-reason): {choices}",
            )
        return given
    if given is not None and given != spec.end_reason:
        raise InvalidInput(
            field="end_reason",
            value=given,
            problem_sv=f"«{spec.label_sv}» har avslutsorsaken "
            f"{label('end_reason', spec.end_reason, 'sv').lower() if spec.end_reason else 'ingen'}",
            problem_en=f"'{spec.trigger}' has the end reason {spec.end_reason or 'none'}",
        )
    return spec.end_reason


def _require_inputs(spec: TransitionSpec, reason: str | None, notice_on: date | None = None) -> None:
    if "reason" in spec.inputs and not reason:
        raise InvalidInput(
            field="reason",
            value="",
            problem_sv=f"«{spec.label_sv}» kräver en motivering (`--reason`)",
            problem_en=f"'{spec.trigger}' needs a reason (--reason)",
        )
    if notice_on is not None and "notice_on" not in spec.inputs:
        raise InvalidInput(
            field="notice_on",
            value=notice_on.isoformat(),
            problem_sv=f"«{spec.label_sv}» tar inget uppsägningsdatum (`--notice-on` gäller uppsägning)",
            problem_en=f"'{spec.trigger}' takes no notice date (--notice-on is for giving notice)",
        )


def _give_notice(
    facts: CaseFacts, values: dict[str, Any], after: CaseFacts, notice_on: date, *, today: date
) -> tuple[dict[str, Any], CaseFacts]:
    """An uppsägning given on ``notice_on``: the agreement now ends when its notice period has run.

    The notice date lies within the case's time; the notice period must end before the agreement's
    own end date (otherwise the agreement simply expires then, and notice changes nothing).
    """
    correctable.in_case_time(
        "notice_on", notice_on, opened_on=facts.opened_on, today=today, history_from=facts.history_from
    )
    a = facts.agreement(facts.period)
    if a is None:  # agreement_running refused it before
        raise InvalidInput(
            field="notice_on",
            value=notice_on.isoformat(),
            problem_sv="inget avtal att säga upp",
            problem_en="no agreement to give notice on",
        )
    ends_on = add_months(notice_on, a.notice_months)
    if ends_on >= a.end_on:
        raise InvalidInput(
            field="notice_on",
            value=notice_on.isoformat(),
            problem_sv=f"med {a.notice_months} månaders uppsägningstid skulle avtalet upphöra {ends_on}, inte före "
            f"avtalets slutdatum {a.end_on}; det löper ut då ändå",
            problem_en=f"with a notice period of {a.notice_months} months the agreement would end on {ends_on}, "
            f"not before its end date {a.end_on}; it expires then anyway",
        )
    values = {**values, "notice_given_on": notice_on, "notice_ends_on": ends_on}
    return values, replace(after, notice_given_on=notice_on, notice_ends_on=ends_on)


def _effects(
    app: App, spec: TransitionSpec, facts: CaseFacts, *, today: date, dest: str, end_reason: str | None
) -> tuple[dict[str, Any], CaseFacts]:
    """The column values the transition writes, and the facts as they are after it."""
    values: dict[str, Any] = {"state": dest, "state_entered_on": today, "end_reason": end_reason}
    after = replace(facts, state=dest, state_entered_on=today)
    for effect in spec.effects:
        if effect in {"bind_guideline", "rebind_guideline"}:
            found = governing_for(facts.municipal_guidelines, facts.municipality, today)
            if found is not None and (effect == "bind_guideline" or found != facts.guideline):
                values["guideline_id"] = app.guidelines.id_of(found.ref)
                after = replace(after, guideline=found)
        elif effect == "next_review_round":
            values.update(
                review_round=facts.review_round + 1,
                review_started_on=today,
                review_rounds_in_period=facts.review_rounds_in_period + 1,
            )
            after = replace(
                after,
                review_round=facts.review_round + 1,
                review_started_on=today,
                review_rounds_in_period=facts.review_rounds_in_period + 1,
            )
        elif effect == "next_period":
            values.update(period=facts.period + 1, review_rounds_in_period=0, review_started_on=None)
            after = replace(after, period=facts.period + 1, review_rounds_in_period=0, review_started_on=None)
    return values, after


# The keys _snapshot writes into a record's data, and an import's (``history``, ``imported``): a
# caller's data may not replace or imitate them.
SNAPSHOT_KEYS = frozenset(
    {"end_reason", "decision", "criteria", "agreement", "timers", "notice", "history", "imported"}
)


def _snapshot(spec: TransitionSpec, facts: CaseFacts, end_reason: str | None) -> dict[str, Any]:
    """What an auditor needs to see the decision was sound: decision, criteria, period."""
    out: dict[str, Any] = {}
    period = facts.preparing_period
    if end_reason:
        out["end_reason"] = end_reason
    if "decision_recorded" in spec.guards and (d := facts.decision(period)):
        out["decision"] = {"body": d.body, "decided_on": d.decided_on.isoformat(), "minutes_ref": d.minutes_ref}
    if {"ending_decided", "ending_due_or_decided"} & set(spec.guards) and (d := facts.ending_decision()):
        out["decision"] = {
            "body": d.body,
            "decided_on": d.decided_on.isoformat(),
            "minutes_ref": d.minutes_ref,
            "subject": d.subject.value,
        }
    if "criteria_met" in spec.guards and facts.guideline is not None:
        verdicts = facts.verdicts(period, facts.guideline.ref)
        out["criteria"] = {code: v.verdict.value for code, v in sorted(verdicts.items())}
    if "agreement_valid" in spec.guards and (a := facts.agreement(period)):
        out["agreement"] = {"period": period, "start_on": a.start_on.isoformat(), "end_on": a.end_on.isoformat()}
    return out
