"""The public register of partnerships: signed and running IOPs, contact data of protected organisations masked."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.service import correctable
from iop_workflow.service.access import authorise_protected
from iop_workflow.service.admin import org_dict
from iop_workflow.service.context import Actor, App
from iop_workflow.store import cases as repo
from iop_workflow.store import corrections

PARTNERSHIP_STATES = ("signed", "active", "review", "renewed")


def register(
    app: App, actor: Actor, *, municipality: str | None = None, include_protected: bool = False
) -> list[dict[str, Any]]:
    """One row per partnership (organisation, activity, period, committee); facts read with their corrections.

    ``include_protected`` shows protected contact data: auditors only, and logged.
    """
    if include_protected:
        authorise_protected(app, actor, action="report register", scope={"municipality": municipality})
    query = (
        sa.select(repo.CASES)
        .where(repo.CASES.c.state.in_(PARTNERSHIP_STATES))
        .order_by(repo.CASES.c.municipality, repo.CASES.c.ref)
    )
    if municipality:
        query = query.where(repo.CASES.c.municipality == municipality)
    with app.db.read() as s:
        return [_row(app, s, case, include_protected) for case in s.execute(query).mappings().all()]


def _row(app: App, s: Connection, case: sa.RowMapping, include_protected: bool) -> dict[str, Any]:
    org = org_dict(repo.org_row(s, org_id=case["organisation_id"]), include_protected=include_protected)
    agreement = period_fact(s, "agreement", case["id"], case["period"])
    decision = period_fact(s, "decision", case["id"], case["period"])
    state = app.definition.states.get(case["state"])
    return {
        "ref": case["ref"], "municipality": case["municipality"], "organisation": org["name"],
        "org_number": org["org_number"], "protected": org["protected"], "title": case["title"],
        "unit": case["unit"], "committee": decision["body"] if decision else None,
        "start_on": repo.as_iso(agreement["start_on"]) if agreement else None,
        "end_on": repo.as_iso(agreement["end_on"]) if agreement else None,
        "state": state.label_sv if state else case["state"],
        **{k: org[k] for k in ("contact_name", "contact_email", "contact_phone", "address")},
    }  # fmt: skip


def period_fact(s: Connection, kind: str, case_id: int, period: int) -> dict[str, Any] | None:
    """The latest ``kind`` fact of the case's period, with its corrections applied."""
    table = repo.FACT_TABLES[correctable.FACTS[kind][0]]
    row = (
        s.execute(
            sa.select(table)
            .where(table.c.case_id == case_id, table.c.period == period)
            .order_by(table.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return correctable.corrected(kind, row, corrections.latest(s, kind, [row["id"]]).get(row["id"], {}))
