"""Opening cases and firing triggers: each ONE transaction, refusals write nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain.facts import CaseFacts
from iop_workflow.domain.machine import Option
from iop_workflow.domain.timers import logged, plan
from iop_workflow.domain.values import Initiator
from iop_workflow.errors import ConcurrentUpdate, InvalidInput, TransitionNotAllowed
from iop_workflow.municipalities import resolve as resolve_place
from iop_workflow.service import validate
from iop_workflow.service.changes import append_record
from iop_workflow.service.context import Actor, App, case_actor
from iop_workflow.service.decide import SNAPSHOT_KEYS, decide
from iop_workflow.store import cases as repo
from iop_workflow.store import facts as fact_repo
from iop_workflow.store.orgs import normalise_org_number


@dataclass(frozen=True, slots=True, kw_only=True)
class Fired:
    """What a committed transition did."""

    record: LogRecord
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Imported:
    """A case brought in with its history (``iop case import``): its file's digest and name, where it starts."""

    sha256: str
    file: str
    history_from: date

    def as_dict(self) -> dict[str, str]:
        return {"sha256": self.sha256, "file": self.file, "history_from": self.history_from.isoformat()}


def open_case(
    app: App,
    actor: Actor,
    *,
    org_number: str,
    municipality: str,
    title: str,
    challenge: str,
    unit: str | None = None,
    initiated_by: str = "organisation",
    imported: Imported | None = None,
) -> Fired:
    """Register an organisation's initiative as a new case in the initial state.

    ``municipality``: any spelling :func:`iop_workflow.municipalities.resolve` accepts; the case
    stores the SCB code, its record the name and the code. ``imported``: the case comes with its
    history (service/case_import.py); it enters its state on the actor's historical day.
    """
    number = normalise_org_number(org_number)
    place = resolve_place(municipality)
    title = validate.text("title", title, max_len=500)
    challenge = validate.text("challenge", challenge)
    unit = validate.optional_text("unit", unit, max_len=200)
    initiator = validate.choice("initiated_by", initiated_by, Initiator)
    spec = app.definition.creation
    today, now, day = app.clock.today(), app.clock.now(), app.day_of(actor)
    history_from = imported.history_from if imported is not None else None
    with app.db.write() as s:
        org = repo.org_row(s, org_number=number)
        facts = CaseFacts(
            ref="(nytt ärende)",
            state="",
            municipality=place.name,
            initiated_by=initiator,
            opened_on=today,
            state_entered_on=day,
            history_from=history_from,
            organisation=fact_repo.org_facts(org),
        )
        reasons = app.engine.check(facts, app.guard_context(actor), spec)
        if reasons:
            raise TransitionNotAllowed(case_ref=facts.ref, trigger=spec.trigger, state="-", reasons=reasons)
        d = app.definition
        repo.ensure_workflow_version(s, d.version, d.name, d.content, now)
        ref = app.settings.case_ref(today.year, repo.next_case_number(s, today.year))
        case_id = s.execute(
            sa.insert(repo.CASES)
            .values(
                ref=ref,
                municipality=place.code,
                unit=unit,
                officer=actor.name,
                title=title,
                challenge=challenge,
                initiated_by=initiator.value,
                organisation_id=org["id"],
                state=spec.dest,
                version=1,
                workflow_version=app.definition.version,
                opened_on=today,
                state_entered_on=day,
                created_at=now,
                updated_at=now,
                history_from=history_from,
                import_sha256=imported.sha256 if imported is not None else None,
            )
            .returning(repo.CASES.c.id)
        ).scalar_one()
        after = replace(facts, ref=ref, state=spec.dest)
        timers = plan(app.definition.state(spec.dest), after, app.settings.lead_times)
        record = append_record(
            app,
            s,
            case_ref=ref,
            actor=actor,
            trigger=spec.trigger,
            from_state=None,
            to_state=spec.dest,
            reason=None,
            guideline_ref=None,
            now=now,
            data={
                "organisation": org["org_number"],
                "municipality": place.name,
                "municipality_code": place.code,
                "title": title,
                **({"imported": imported.as_dict()} if imported is not None else {}),
                "timers": logged(timers),
            },
        )
        repo.insert_timers(s, case_id, spec.dest, timers, now)
    app.sink.emit(record)
    return Fired(record=record, version=1)


def options(app: App, actor: Actor, ref: str) -> tuple[CaseFacts, tuple[Option, ...]]:
    with app.db.read() as s:
        case = repo.case_row(s, ref)
        actor = case_actor(actor, case)
        facts = fact_repo.build_facts(s, case, app.guidelines, preparing=app.definition.states_in("preparing"))
    return facts, app.engine.options(facts, app.guard_context(actor))


def fire(
    app: App,
    actor: Actor,
    ref: str,
    trigger: str,
    *,
    reason: str | None = None,
    data: Mapping[str, Any] | None = None,
    end_reason: str | None = None,
    expected_version: int | None = None,
    notice_on: date | str | None = None,
) -> Fired:
    """Fire ``trigger`` on case ``ref``: guards, state, log record and timers in one transaction.

    ``notice_on``: for ``terminate``, the day notice was given (default today).
    """
    reason = validate.optional_text("reason", reason, max_len=4000)
    notice = validate.day("notice_on", notice_on) if notice_on not in (None, "") else None
    extra = validate.data(dict(data) if data is not None else None)
    if expected_version is not None and (isinstance(expected_version, bool) or expected_version < 1):
        raise InvalidInput(
            field="expected_version",
            value=expected_version,
            problem_sv="en version är ett heltal från 1 och uppåt",
            problem_en="a version is a whole number from 1 up",
        )
    if clash := sorted(set(extra) & SNAPSHOT_KEYS):
        raise InvalidInput(
            field=f"data.{clash[0]}",
            value=extra[clash[0]],
            problem_sv="nyckeln skrivs av arbetsflödet självt (beslut, kriterier, avtal, avslutsorsak, tidsfrister)",
            problem_en="the workflow writes this key itself (decision, criteria, agreement, end reason, timers)",
        )
    with app.db.write() as s:
        case = repo.case_row(s, ref)
        actor = case_actor(actor, case)
        if expected_version is not None and case["version"] != expected_version:
            raise ConcurrentUpdate(case_ref=ref, expected_version=expected_version, found_version=case["version"])
        fired = fire_on(
            app, s, actor, case, trigger, reason=reason, extra=extra, end_reason=end_reason, notice_on=notice
        )
    app.sink.emit(fired.record)
    return fired


def fire_on(
    app: App,
    s: Connection,
    actor: Actor,
    case: sa.RowMapping,
    trigger: str,
    *,
    reason: str | None = None,
    extra: Mapping[str, Any] | None = None,
    end_reason: str | None = None,
    notice_on: date | None = None,
) -> Fired:
    """Fire ``trigger`` on the loaded ``case`` inside the caller's transaction.

    The caller commits (and emits the record after commit): ``fire`` for one
    command, the scheduler's sweep for each due timer. Inputs are validated.
    """
    actor = case_actor(actor, case)
    spec = app.engine.resolve(trigger, case["state"], case["ref"])
    # Only the facts this transition's rules declare (domain/reads.py), read fresh in this
    # transaction; the case row is always there.
    facts = fact_repo.build_facts(
        s, case, app.guidelines, app.engine.reads(spec), preparing=app.definition.states_in("preparing")
    )
    step = decide(
        app,
        s,
        actor,
        case,
        spec=spec,
        facts=facts,
        reason=reason,
        extra=extra,
        end_reason=end_reason,
        notice_on=notice_on,
    )
    now = app.clock.now()
    version = repo.update_case(s, case, {**step.values, "updated_at": now})
    record = append_record(
        app,
        s,
        case_ref=case["ref"],
        actor=actor,
        trigger=trigger,
        from_state=case["state"],
        to_state=step.dest,
        reason=reason,
        data=step.data,
        guideline_ref=step.guideline_ref,
        now=now,
    )
    repo.cancel_open_timers(s, case["id"], now)
    repo.insert_timers(s, case["id"], step.dest, step.timers, now)
    return Fired(record=record, version=version)
