"""Need to know: the one place that decides who sees a protected organisation's contact data.

A protected organisation (a women's shelter, say) has its contact and address fields
(``PROTECTED_FIELDS``) masked for everyone except those with a need to know:

- an **auditor** (the revisorer's right of access, KL 12 kap.): every case and
  organisation in the municipalities of their auditor grant;
- the **case's own officers**: a login holding the role ``officer`` in the case's
  municipality that opened the case (``cases.officer``) or is assigned to it
  (``iop case assign``, a ``record:assignment`` record in the case's chain), while the
  case is open (not in a terminal state). For ``org show``: an officer of any open case
  of that organisation.

Everybody else sees ``(skyddad)``. Every read that shows the data unmasked writes one
access event (the ``access_events`` table and an ``access`` line in the audit stream,
the mechanism an auditor's ``--include-protected`` has always used) before the data is
returned; a masked read writes nothing. The identity is the authenticated actor, never
a name given in the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.masking import MASK, PROTECTED_FIELDS
from iop_workflow.errors import AccessDenied
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.context import Actor, App
from iop_workflow.store import cases as repo
from iop_workflow.store.audit_tables import ACCESS_EVENTS

AUDITOR = "auditor"
OFFICER = "officer"
ASSIGNMENT = "record:assignment"
# Why a read was unmasked, as the access event records it.
AS_AUDITOR, AS_CASE_OFFICER, AS_ASSIGNED = "auditor", "case_officer", "assigned_officer"

Row = Mapping[str, Any] | sa.RowMapping
_ASSIGNMENTS = (
    sa.select(repo.LOG.c.case_ref, repo.LOG.c.data)
    .where(repo.LOG.c.trigger == ASSIGNMENT)
    .order_by(repo.LOG.c.case_ref, repo.LOG.c.case_seq)
)


_ASSIGNMENTS_OF = _ASSIGNMENTS.where(repo.LOG.c.case_ref == sa.bindparam("ref"))  # built once: every case view


def assigned(s: Connection, case_ref: str) -> list[str]:
    """The logins assigned to ``case_ref`` now, in the order they were assigned (from its chain)."""
    return _folded(s.execute(_ASSIGNMENTS_OF, {"ref": case_ref})).get(case_ref, [])


def assignments(s: Connection, case_refs: Iterable[str] | sa.Select[Any] | None = None) -> dict[str, list[str]]:
    """Each case's assigned logins, folded from its ``record:assignment`` records, in one statement.

    ``case_refs``: the refs, or a query selecting them (however many cases it names: no bound
    parameter per case); None: every case."""
    if case_refs is None:
        return _folded(s.execute(_ASSIGNMENTS))
    refs = case_refs if isinstance(case_refs, sa.Select) else sorted(set(case_refs))
    return _folded(s.execute(_ASSIGNMENTS.where(repo.LOG.c.case_ref.in_(refs))))


def _folded(rows: Iterable[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ref, data in rows:
        change = json.loads(data).get("assignment", {})
        logins = out.setdefault(str(ref), [])
        login = str(change.get("login"))
        if login in logins:
            logins.remove(login)
        if not change.get("removed"):
            logins.append(login)
    return out


def _open(app: App, state: str) -> bool:
    spec = app.definition.states.get(state)
    return spec is not None and not spec.terminal


def case_basis(app: App, actor: Actor, case: Row, assignees: Iterable[str]) -> str | None:
    """Why ``actor`` has a need to know the contact data of ``case``'s organisation, or None.

    ``assignees``: the case's assigned logins (:func:`assigned`).
    """
    roles = actor.within(str(case["municipality"])).roles if actor.covers(str(case["municipality"])) else frozenset()
    if AUDITOR in roles:
        return AS_AUDITOR
    if OFFICER not in roles or not _open(app, str(case["state"])):
        return None
    if case["officer"] == actor.name:
        return AS_CASE_OFFICER
    return AS_ASSIGNED if actor.name in set(assignees) else None


def org_basis(app: App, s: Connection, actor: Actor, org: Row) -> tuple[str, list[str]] | None:
    """Why ``actor`` may see ``org``'s contact data, and through which cases; or None.

    An auditor of any municipality where the organisation has a case, or an officer
    of any of its open cases (:func:`case_basis`).
    """
    cases = (
        s.execute(sa.select(repo.CASES).where(repo.CASES.c.organisation_id == org["id"]).order_by(repo.CASES.c.ref))
        .mappings()
        .all()
    )
    held = assignments(s, [c["ref"] for c in cases])
    bases = {c["ref"]: case_basis(app, actor, c, held.get(c["ref"], [])) for c in cases}
    found = {ref: basis for ref, basis in bases.items() if basis is not None}
    if not found:
        return None
    basis = AS_AUDITOR if AS_AUDITOR in found.values() else sorted(found.values())[0]
    return basis, sorted(found)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bulk:
    """What a report or export asked ``--include-protected`` may show: every case, or these."""

    everything: bool
    cases: Mapping[str, str]  # ref -> basis, when not everything

    def sees(self, case_ref: str) -> bool:
        return self.everything or case_ref in self.cases


def bulk_access(app: App, actor: Actor, *, action: str, scope: Mapping[str, Any]) -> Bulk:
    """Authorise ``--include-protected`` on a register, annual report or export, and log it.

    An auditor sees every case (as before); an officer sees the cases they have a need
    to know for (their own open cases and those assigned to them) and the rest masked;
    anyone else is refused (:class:`AccessDenied`, exit 3; the refusal is a stream event
    only). The access event is written when anything will be unmasked, before the data
    is read; an officer with no such case reads masked data and nothing is written.
    """
    fields = _fields(actor, action, scope)
    if AUDITOR in actor.roles:
        log_access(app, actor, action=action, scope={**scope, "basis": AS_AUDITOR})
        return Bulk(everything=True, cases={})
    if OFFICER not in actor.roles:
        app.sink.event("access_denied", **fields)
        raise AccessDenied(
            actor=actor.name, roles=sorted(actor.roles), action=f"{action} --include-protected", needs=AUDITOR
        )
    with app.db.read() as s:
        mine = _officer_cases(app, s, actor)
    if mine:
        basis = ", ".join(sorted(set(mine.values())))
        log_access(app, actor, action=action, scope={**scope, "cases": sorted(mine), "basis": basis})
    return Bulk(everything=False, cases=mine)


def _officer_cases(app: App, s: Connection, actor: Actor) -> dict[str, str]:
    """The open cases of protected organisations that ``actor`` has a need to know for, with the basis."""
    query = (
        sa.select(repo.CASES)
        .join(repo.ORGS, repo.ORGS.c.id == repo.CASES.c.organisation_id)
        .where(repo.ORGS.c.protected.is_(True))
    )
    rows = s.execute(query).mappings().all()
    held = assignments(s, query.with_only_columns(repo.CASES.c.ref))
    bases = {r["ref"]: case_basis(app, actor, r, held.get(r["ref"], [])) for r in rows}
    return {ref: basis for ref, basis in bases.items() if basis is not None}


def contact(row: Row, *, visible: bool) -> dict[str, Any]:
    """The organisation's contact and address fields, masked unless ``visible`` or not protected."""
    masked = bool(row["protected"]) and not visible
    return {key: MASK if masked and row[key] else row[key] for key in PROTECTED_FIELDS}


def log_access(app: App, actor: Actor, *, action: str, scope: Mapping[str, Any]) -> int:
    """Write one access event (its own transaction) and its stream line; the event's id."""
    fields = _fields(actor, action, scope)
    at = utc_iso(app.clock.now())
    row = {
        **fields,
        "at": at,
        "roles": json.dumps(fields["roles"]),
        "scope": json.dumps(fields["scope"], sort_keys=True, ensure_ascii=False, default=str),
    }
    with app.db.write() as s:
        event_id = int(s.execute(sa.insert(ACCESS_EVENTS).values(**row).returning(ACCESS_EVENTS.c.id)).scalar_one())
    app.sink.event("access", id=event_id, at=at, **fields)
    return event_id


def _fields(actor: Actor, action: str, scope: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "actor": actor.name,
        "os_user": actor.recorded_os_user,
        "roles": sorted(actor.roles),
        "source": actor.source,
        "action": action,
        "scope": dict(scope),
        "include_protected": True,
    }


def access_events(app: App) -> list[dict[str, Any]]:
    """Every logged unmasked read of protected data, oldest first."""
    with app.db.read() as s:
        rows = s.execute(sa.select(ACCESS_EVENTS).order_by(ACCESS_EVENTS.c.id)).mappings().all()
    return [{**dict(r), "roles": json.loads(r["roles"]), "scope": json.loads(r["scope"])} for r in rows]
