"""Read models: the documented JSON shapes of cases, history and options."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
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
        repo.CASES,
        _O.name.label("org_name"),
        _O.org_number,
        _O.protected,
        *(_O[k] for k in PROTECTED_FIELDS),
        G.c.ref.label("guideline_ref"),
        G.c.valid_until.label("guideline_valid_until"),
    )
    .join(repo.ORGS, _O.id == repo.CASES.c.organisation_id)
    .outerjoin(G, G.c.id == repo.CASES.c.guideline_id)
)
_VIEW_OF = _VIEW.where(repo.CASES.c.ref == sa.bindparam("ref"))
_T = repo.TIMERS.c


def case_dict(
    app: App,
    s: Connection,
    case: sa.RowMapping,
    lang: str,
    *,
    detail: bool = True,
    contact: bool = False,
    timers: list[dict[str, Any]] | None = None,
    assignees: list[str] | None = None,
) -> dict[str, Any]:
    """A case's JSON shape from a row of ``_VIEW``; with ``detail``, its facts of record, its officers and
    its organisation's contact data, masked for a protected organisation unless ``contact`` (decided by
    ``need_to_know``). ``timers`` and ``assignees``, when the caller has read them already (a list reads
    them for every case in the same statement), else read here."""
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
        "timers": repo.open_timers(s, case["id"]) if timers is None else timers,
    }
    if detail:
        out.update(
            challenge=case["challenge"],
            unit=case["unit"],
            officer=case["officer"],
            initiated_by=case["initiated_by"],
            period=case["period"],
            review_round=case["review_round"],
            opened_on=case["opened_on"].isoformat(),
            state_since=case["state_entered_on"].isoformat(),
            workflow_version=case["workflow_version"],
            assigned_officers=need_to_know.assigned(s, case["ref"]) if assignees is None else assignees,
            imported=None
            if case["import_sha256"] is None
            else {"sha256": case["import_sha256"], "history_from": repo.as_iso(case["history_from"])},
        )
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
        assignees = need_to_know.assigned(s, ref)  # read once: the basis and the view both need them
        if contact and case["protected"] and actor is not None:
            basis = need_to_know.case_basis(app, actor, case, assignees)
        shown = {
            **case_dict(app, s, case, lang, contact=basis is not None, assignees=assignees),
            "facts": recorded_facts(s, ref),
        }
    if basis is not None and actor is not None:
        scope = {"case": ref, "basis": basis, "org_number": shown["organisation"]["org_number"]}
        need_to_know.log_access(app, actor, action="case show", scope=scope)
    return shown


@dataclass(frozen=True, slots=True)
class Page:
    """One page of cases in ref order; ``next``: the cursor (the last ref shown) when more follow, else None."""

    items: list[dict[str, Any]]
    next: str | None


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
    return list(iter_cases(app, lang, state, actor=actor, municipality=municipality, limit=limit, after=after))


def page(
    app: App,
    lang: str,
    state: str | None = None,
    *,
    actor: Actor | None = None,
    municipality: str | None = None,
    limit: int,
    after: str | None = None,
) -> Page:
    """At most ``limit`` cases after ``after``: the one paging read of ``iop case list`` and ``GET /v1/cases``."""
    items = list_cases(app, lang, state, actor=actor, municipality=municipality, limit=limit + 1, after=after)
    more = len(items) > limit
    items = items[:limit]
    return Page(items, items[-1]["ref"] if more else None)


def iter_cases(
    app: App,
    lang: str,
    state: str | None = None,
    *,
    actor: Actor | None = None,
    municipality: str | None = None,
    limit: int | None = None,
    after: str | None = None,
) -> Iterator[dict[str, Any]]:
    """:func:`list_cases` one case at a time, in constant memory: ONE statement (each case with its
    organisation, guideline and open timers), its rows fetched ``repo.READ_CHUNK`` at a time."""
    cases = _selected(app, state, actor=actor, municipality=municipality, after=after)
    if limit is not None:
        cases = cases.limit(limit)
    listed = cases.subquery("listed")
    timer = (_T.kind.label("timer_kind"), _T.due_on.label("timer_due_on"), _T.action.label("timer_action"))
    query = (
        sa.select(listed, *timer)
        .outerjoin(repo.TIMERS, sa.and_(_T.case_id == listed.c.id, repo.TIMER_IS_OPEN))
        .order_by(listed.c.ref, _T.due_on, _T.id)
        .execution_options(yield_per=repo.READ_CHUNK)
    )
    with app.db.read() as s:
        for _ref, group in itertools.groupby(s.execute(query).mappings(), key=lambda row: row["ref"]):
            rows = list(group)
            case = rows[0]  # the statement keeps only the actor's municipalities (_filters)
            timers = [
                repo.timer_view(r["timer_kind"], r["timer_due_on"], r["timer_action"])
                for r in rows
                if r["timer_kind"] is not None
            ]
            yield case_dict(app, s, case, lang, detail=False, timers=timers)


def count_cases(
    app: App,
    state: str | None = None,
    *,
    actor: Actor | None = None,
    municipality: str | None = None,
    after: str | None = None,
) -> int:
    """How many cases :func:`iter_cases` would give (with no limit): one ``count`` statement over the cases
    alone (each has its organisation; the guideline's join is an outer one), an index scan."""
    query = sa.select(sa.func.count()).select_from(repo.CASES)
    query = query.where(*_filters(app, state, actor=actor, municipality=municipality, after=after))
    with app.db.read() as s:
        return int(s.execute(query).scalar_one())


def _selected(
    app: App, state: str | None, *, actor: Actor | None, municipality: str | None, after: str | None
) -> sa.Select[Any]:
    """The cases a list shows, in ref order (the cursor's order)."""
    return _VIEW.where(*_filters(app, state, actor=actor, municipality=municipality, after=after)).order_by(
        repo.CASES.c.ref
    )


def _filters(
    app: App, state: str | None, *, actor: Actor | None, municipality: str | None, after: str | None
) -> list[sa.ColumnElement[bool]]:
    """The conditions on ``cases`` of a list's filters; an unknown state refused."""
    if state is not None and state not in app.definition.states:
        known = ", ".join(app.definition.states)
        # In Swedish each state by its label, its code as what to type: Pågående (`active`)
        labelled = ", ".join(f"{s.label('sv')} (`{code}`)" for code, s in app.definition.states.items())
        raise InvalidInput(
            field="state", value=state, problem_sv=f"välj en av: {labelled}", problem_en=f"choose one of: {known}"
        )
    where: list[sa.ColumnElement[bool]] = []
    if state is not None:
        where.append(repo.CASES.c.state == state)
    if municipality is not None:
        where.append(repo.CASES.c.municipality == code_of(municipality))
    places = actor.municipalities if actor is not None else None
    if places is not None:
        where.append(repo.CASES.c.municipality.in_(sorted(places)))
    if after is not None:
        where.append(repo.CASES.c.ref > after)
    return where


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
        {
            "name": name,
            "option": "--" + name.replace("_", "-"),
            "choices": list(spec.end_reason_choices) if name == "end_reason" else [],
        }
        for name in sorted(spec.inputs)
    ]
