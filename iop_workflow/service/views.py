"""Read models: the documented JSON shapes of cases, history and options."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import record_from_row
from iop_workflow.domain.definition import TransitionSpec
from iop_workflow.domain.machine import Option
from iop_workflow.errors import InvalidInput
from iop_workflow.service.context import Actor, App, case_actor
from iop_workflow.store import cases as repo
from iop_workflow.store.guidelines import G

_GUIDELINE = sa.select(G.c.ref, G.c.valid_until).where(G.c.id == sa.bindparam("id"))


def case_dict(app: App, s: Connection, case: sa.RowMapping, lang: str, *, detail: bool = True) -> dict[str, Any]:
    org = repo.org_row(s, org_id=case["organisation_id"])
    state = app.definition.states.get(case["state"])
    guideline = None
    if case["guideline_id"] is not None:
        g = s.execute(_GUIDELINE, {"id": case["guideline_id"]}).one()
        guideline = {"ref": g.ref, "valid_until": repo.as_iso(g.valid_until)}
    out: dict[str, Any] = {
        "ref": case["ref"],
        "state": case["state"],
        "state_label": state.label(lang) if state else f"({case['state']}: unknown state)",
        "end_reason": case["end_reason"],
        "municipality": case["municipality"],
        "title": case["title"],
        "version": case["version"],
        "organisation": {"name": org["name"], "org_number": org["org_number"], "protected": org["protected"]},
        "guideline": guideline,
        "timers": repo.open_timers(s, case["id"]),
    }
    if detail:
        out.update(
            challenge=case["challenge"], unit=case["unit"], officer=case["officer"],
            initiated_by=case["initiated_by"], period=case["period"], review_round=case["review_round"],
            opened_on=case["opened_on"].isoformat(), state_since=case["state_entered_on"].isoformat(),
            workflow_version=case["workflow_version"],
        )  # fmt: skip
    return out


def visible_case(s: Connection, ref: str, actor: Actor | None) -> sa.RowMapping:
    """The case row, when ``actor`` (None: the database's own user) may see it; else NotFound."""
    case = repo.case_row(s, ref)
    if actor is not None:
        case_actor(actor, case)
    return case


def show(app: App, ref: str, lang: str, *, actor: Actor | None = None) -> dict[str, Any]:
    """A case with its recorded facts (``facts``: corrected values, and the corrections made)."""
    from iop_workflow.service.corrections import recorded_facts  # noqa: PLC0415 - only `case show` needs it

    with app.db.read() as s:
        return {**case_dict(app, s, visible_case(s, ref, actor), lang), "facts": recorded_facts(s, ref)}


def list_cases(
    app: App,
    lang: str,
    state: str | None = None,
    *,
    actor: Actor | None = None,
    municipality: str | None = None,
    limit: int | None = None,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """Cases in ref order (a stable cursor: ``after`` a ref), within ``actor``'s municipalities."""
    if state is not None and state not in app.definition.states:
        known = ", ".join(app.definition.states)
        raise InvalidInput(
            field="state", value=state, problem_sv=f"välj en av: {known}", problem_en=f"choose one of: {known}"
        )
    query = sa.select(repo.CASES).order_by(repo.CASES.c.ref)
    if state is not None:
        query = query.where(repo.CASES.c.state == state)
    if municipality is not None:
        query = query.where(repo.CASES.c.municipality == municipality)
    places = actor.municipalities if actor is not None else None
    if places is not None:
        query = query.where(repo.CASES.c.municipality.in_(sorted(places)))
    if after is not None:
        query = query.where(repo.CASES.c.ref > after)
    if limit is not None:
        query = query.limit(limit)
    with app.db.read() as s:
        rows = s.execute(query).mappings().all()
        seen = [row for row in rows if actor is None or actor.covers(row["municipality"])]
        return [case_dict(app, s, row, lang, detail=False) for row in seen]


def history(app: App, ref: str, *, actor: Actor | None = None) -> list[dict[str, Any]]:
    with app.db.read() as s:
        visible_case(s, ref, actor)
        rows = s.execute(sa.select(repo.LOG).where(repo.LOG.c.case_ref == ref).order_by(repo.LOG.c.case_seq)).mappings()
        return [record_from_row(r).as_dict() for r in rows]


def options_dicts(options: tuple[Option, ...], lang: str) -> list[dict[str, Any]]:
    return [
        {
            "trigger": o.spec.trigger,
            "label": o.spec.label(lang),
            "to_state": o.spec.dest,
            "allowed": o.allowed,
            "reasons": [{"code": r.code, "message": r.text(lang)} for r in o.reasons],
            "inputs": inputs_of(o.spec),
        }
        for o in options
    ]


def inputs_of(spec: TransitionSpec) -> list[dict[str, Any]]:
    """What firing ``spec`` needs besides the trigger: each input, its option and its allowed values."""
    return [
        {"name": name, "option": "--" + name.replace("_", "-"),
         "choices": list(spec.end_reason_choices) if name == "end_reason" else []}
        for name in sorted(spec.inputs)
    ]  # fmt: skip
