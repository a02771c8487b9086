"""Set-up commands: schema, shipped guidelines, organisations, verification."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from iop_workflow.audit.verify import ChainReport
from iop_workflow.domain.guidelines import Guideline
from iop_workflow.domain.values import LegalForm
from iop_workflow.errors import NotFound
from iop_workflow.municipalities import code_of
from iop_workflow.resources import load_guideline, shipped_guidelines
from iop_workflow.service import validate
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.context import Actor, App
from iop_workflow.store import cases as repo
from iop_workflow.store.orgs import insert_org, list_orgs, normalise_org_number


def init(app: App, *, admin: str | None = None, simulation: bool = False, start: date | None = None) -> dict[str, Any]:
    """Create or upgrade the schema, load the shipped guidelines, and give a database without an admin one.

    On a database with no admin yet, the old ``[roles]`` settings are imported as
    logged grants, then ``admin`` (default: the OS login running this) becomes
    admin, registrar, officer and coordinator (``identity.bootstrap``). ``simulation``: a database
    without records gets a simulated clock, at ``start`` when given (``clock_mode.settle``).
    """
    from iop_workflow.service import clock_mode, guidelines, identity, legality  # noqa: PLC0415
    from iop_workflow.store import migrate  # noqa: PLC0415 - only `init` pays for Alembic

    migrate.upgrade(app.db)
    clock = clock_mode.settle(app, simulation=simulation, start=start)
    system = identity.system_actor(app)
    legality.mark_cutover(app, system)  # records from here on must be legal under their workflow
    recorded = guidelines.record_unrecorded(app, system)
    loaded = guidelines.load(app, system, shipped_guidelines(), shipped=True)
    imported = identity.import_settings_roles(app)
    boot = identity.bootstrap(app, admin=admin, only_if_none=True)
    skipped = sorted(ref for ref, outcome in loaded.items() if outcome == "skipped")
    return {
        "schema": migrate.head_revision(),
        "clock": clock,
        "today": app.clock.today(),
        "guidelines": loaded,
        "guidelines_skipped": skipped,
        "guidelines_recorded": recorded,
        "grants_imported": imported,
        "bootstrap": boot,
    }


def load_guideline_file(app: App, actor: Actor, path: Path) -> dict[str, str]:
    from iop_workflow.service import guidelines  # noqa: PLC0415

    return guidelines.load(app, actor, [load_guideline(path, field="FILE")])


def guideline_dicts(app: App, *, criteria: bool = False, ref: str | None = None) -> list[dict[str, Any]]:
    """The documented JSON shape of ``guideline list``/``show``: each current version, in force as of today."""
    from iop_workflow.store.guidelines import current_versions  # noqa: PLC0415

    today = app.clock.today()
    with app.db.read() as s:
        found = [g for g in app.guidelines.all(s).values() if ref is None or g.ref == ref]
        versions = current_versions(s)
    if ref is not None and not found:
        raise NotFound(kind="guideline", key=ref)
    return [guideline_dict(g, today, criteria=criteria, loaded=versions.get(g.ref)) for g in found]


def guideline_dict(
    g: Guideline, today: date, *, criteria: bool = False, loaded: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ref": g.ref,
        "municipality": g.municipality,
        "municipality_code": code_of(g.municipality),
        "title": g.title,
        "status": g.status.value,
        "valid_from": _iso(g.valid_from),
        "valid_until": _iso(g.valid_until),
        "in_force": g.in_force(today),
        "unverified": list(g.unverified()),
    }
    if loaded is not None:
        out.update(version=loaded["version"], loaded_by=loaded["loaded_by"], loaded_at=utc_iso(loaded["loaded_at"]))
    if criteria:
        out.update(
            decided_on=_iso(g.decided_on),
            decided_by=g.decided_by,
            minutes_ref=g.minutes_ref,
            owner=g.owner,
            follow_up_months=g.follow_up_months,
            guideline_review_months=g.guideline_review_months,
            source=g.source,
            note=g.note,
            provenance={
                name: {"source": p.source, "quote": p.quote, "verified": p.verified} for name, p in g.provenance
            },
            criteria=[
                {"code": c.code, "kind": c.kind.value, "text_sv": c.text_sv, "text_en": c.text_en} for c in g.criteria
            ],
        )
    return out


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def guidelines(app: App) -> list[Guideline]:
    with app.db.read() as s:
        return list(app.guidelines.all(s).values())


def guideline(app: App, ref: str) -> Guideline:
    found = next((g for g in guidelines(app) if g.ref == ref), None)
    if found is None:
        raise NotFound(kind="guideline", key=ref)
    return found


def add_org(
    app: App,
    actor: Actor,
    *,
    name: str,
    org_number: str,
    legal_form: str,
    non_profit: bool = True,
    protected: bool = False,
    contact_name: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    values = {
        "org_number": normalise_org_number(org_number),
        "name": validate.text("name", name, max_len=300),
        "legal_form": validate.choice("legal_form", legal_form, LegalForm).value,
        "non_profit": bool(non_profit),
        "protected": bool(protected),
        "contact_name": validate.optional_text("contact_name", contact_name, max_len=300),
        "contact_email": validate.optional_text("contact_email", contact_email, max_len=300),
        "contact_phone": validate.optional_text("contact_phone", contact_phone, max_len=60),
        "address": validate.optional_text("address", address, max_len=500),
    }
    with app.db.write() as s:
        insert_org(s, values, app.clock.now())
        return org_dict(repo.org_row(s, org_number=str(values["org_number"])))


def org_dict(row: sa.RowMapping, *, include_protected: bool = False) -> dict[str, Any]:
    """The organisation's JSON shape; contact and address masked if it is protected, unless
    ``include_protected`` (which the caller decided with ``need_to_know``)."""
    from iop_workflow.service.need_to_know import contact  # noqa: PLC0415

    out: dict[str, Any] = {
        "name": row["name"],
        "org_number": row["org_number"],
        "legal_form": row["legal_form"],
        "non_profit": row["non_profit"],
        "protected": row["protected"],
    }
    out.update(contact(row, visible=include_protected))
    # Lag (2022:900): public facts of Kammarkollegiet's register, never masked.
    for key in ("idea_based_registered_on", "idea_based_removed_on"):
        out[key] = repo.as_iso(row[key])
    return out


def orgs(app: App) -> list[dict[str, Any]]:
    with app.db.read() as s:
        return [org_dict(r) for r in list_orgs(s)]


def org(app: App, org_number: str, *, actor: Actor | None = None) -> dict[str, Any]:
    """One organisation. A protected one's contact data shows only to ``actor`` with a need to
    know for it (``need_to_know.org_basis``), and that read is logged as an access event."""
    from iop_workflow.service import need_to_know  # noqa: PLC0415

    with app.db.read() as s:
        row = repo.org_row(s, org_number=normalise_org_number(org_number))
        found = need_to_know.org_basis(app, s, actor, row) if actor is not None and row["protected"] else None
    if actor is None or found is None:
        return org_dict(row)
    basis, cases = found
    need_to_know.log_access(
        app, actor, action="org show", scope={"org_number": row["org_number"], "basis": basis, "cases": cases}
    )
    return org_dict(row, include_protected=True)


def verify(app: App) -> ChainReport:
    """Recompute every chain and checkpoint; compare each case's state with its last record."""
    from iop_workflow.service import audit  # noqa: PLC0415

    return audit.verify(app)
