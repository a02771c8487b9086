"""Read models: the documented JSON shapes of cases, history and options."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import record_from_row
from iop_workflow.audit.masking import PROTECTED_FIELDS
from iop_workflow.domain.definition import TransitionSpec
from iop_workflow.domain.machine import Option
from iop_workflow.errors import InvalidInput, NotFound
from iop_workflow.municipalities import code_of, name_of
from iop_workflow.service import need_to_know
from iop_workflow.service.context import Actor, App, case_actor
from iop_workflow.store import cases as repo
from iop_workflow.store.guidelines import G

# A case with what its view shows of the organisation and the bound guideline, in one statement.
_O = repo.ORGS.c
_VIEW = (
    sa.select(
        repo.CASES, _O.name.label("org_name"), _O.org_number, _O.protected, *(_O[k] for k in PROTECTED_FIELDS),
        G.c.ref.label("guideline_ref"), G.c.valid_until.label("guideline_valid_until"),
    )
    .join(repo.ORGS, _O.id == repo.CASES.c.organisation_id)
    .outerjoin(G, G.c.id == repo.CASES.c.guideline_id)
)  # fmt: skip
_VIEW_OF = _VIEW.where(repo.CASES.c.ref == sa.bindparam("ref"))


def case_dict(
    app: App, s: Connection, case: sa.RowMapping, lang: str, *, detail: bool = True, contact: bool = False
) -> dict[str, Any]:
    """A case's JSON shape from a row of ``_VIEW``; with ``detail``, its facts of record, its officers and
    its organisation's contact data, masked for a protected organisation unless ``contact`` (decided by
    ``need_to_know``)."""
    state = app.definition.states.get(case["state"])
    guideline = None
    if case["guideline_ref"] is not None:
        guideline = {"ref": case["guideline_ref"], "valid_until": repo.as_iso(case["guideline_valid_until"])}
    out: dict[str, Any] = {
        "ref": case["ref"],
        "state": case["state"],
        "state_label": state.label(lang) if state else f"({case['state']}: unknown state)",
        "end_reason": case["end_reason"],
        "municipality": name_of(case["municipality"]),
        "municipality_code": case["municipality"],
        "title": case["title"],
        "version": case["version"],
        "organisation": {"name": case["org_name"], "org_number": case["org_number"], "protected": case["protected"]},
        "guideline": guideline,
        "timers": repo.open_timers(s, case["id"]),
    }
    if detail:
        out.update(
            challenge=case["challenge"], unit=case["unit"], officer=case["officer"],
            initiated_by=case["initiated_by"], period=case["period"], review_round=case["review_round"],
            opened_on=case["opened_on"].isoformat(), state_since=case["state_entered_on"].isoformat(),
            workflow_version=case["workflow_version"], assigned_officers=need_to_know.assigned(s, case["ref"]),
            imported=None if case["import_sha256"] is None else {
                "sha256": case["import_sha256"], "history_from": repo.as_iso(case["history_from"])},
        )  # fmt: skip
        out["organisation"].update(need_to_know.contact(case, visible=contact))
    return out


def visible_case(s: Connection, ref: str, actor: Actor | None) -> sa.RowMapping:
    """The case row, when ``actor`` (None: the database's own user) may see it; else NotFound."""
    case = repo.case_row(s, ref)
    if actor is not None:
        case_actor(actor, case)
    return case


def show(app: App, ref: str, lang: str, *, actor: Actor | None = None, contact: bool = False) -> dict[str, Any]:
    """A case with its recorded facts (``facts``: corrected values, and the corrections made).

    ``contact``: show a protected organisation's contact data to an ``actor`` with a need to
    know for the case (``need_to_know.case_basis``), logging that read as an access event;
    otherwise (and for everybody else) it is masked and nothing is written.
    """
    from iop_workflow.service.corrections import recorded_facts  # noqa: PLC0415 - only `case show` needs it

    with app.db.read() as s:
        case = s.execute(_VIEW_OF, {"ref": ref}).mappings().first()
        if case is None:
            raise NotFound(kind="case", key=ref)
        if actor is not None:
            case_actor(actor, case)
        basis = None
        if contact and case["protected"] and actor is not None:
            basis = need_to_know.case_basis(app, actor, case, need_to_know.assigned(s, ref))
        shown = {**case_dict(app, s, case, lang, contact=basis is not None), "facts": recorded_facts(s, ref)}
    if basis is not None and actor is not None:
        scope = {"case": ref, "basis": basis, "org_number": shown["organisation"]["org_number"]}
        need_to_know.log_access(app, actor, action="case show", scope=scope)
    return shown


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
    query = _VIEW.order_by(repo.CASES.c.ref)
    if state is not None:
        query = query.where(repo.CASES.c.state == state)
    if municipality is not None:
        query = query.where(repo.CASES.c.municipality == code_of(municipality))
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
