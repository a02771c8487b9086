"""The public register of partnerships: signed and running IOPs, contact data of protected organisations masked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.municipalities import code_of, name_of
from iop_workflow.service import correctable
from iop_workflow.service.admin import org_dict
from iop_workflow.service.context import Actor, App
from iop_workflow.service.need_to_know import Bulk, bulk_access
from iop_workflow.store import cases as repo
from iop_workflow.store import corrections, retractions

_SEK = frozenset({"SEK", "KR"})  # the units of an amount of Swedish kronor


def register(
    app: App, actor: Actor, *, municipality: str | None = None, include_protected: bool = False
) -> list[dict[str, Any]]:
    """One row per partnership (organisation, activity, period, committee, the municipality's money for the
    period); facts read with their corrections, retracted facts left out.

    ``include_protected`` shows protected contact data to those with a need to know
    (``need_to_know.bulk_access``: auditors, and officers for their own cases), logged.
    """
    code = code_of(municipality) if municipality else None  # an unknown one refused before anything is logged
    bulk = None
    if include_protected:
        bulk = bulk_access(app, actor, action="report register", scope={"municipality": municipality})
    query = sa.select(repo.CASES).where(repo.CASES.c.state.in_(app.definition.states_in("partnership"))).order_by(
        repo.CASES.c.municipality, repo.CASES.c.ref
    )
    if code is not None:
        query = query.where(repo.CASES.c.municipality == code)
    with app.db.read() as s:
        return [_row(app, s, case, bulk) for case in s.execute(query).mappings().all()]


def _row(app: App, s: Connection, case: sa.RowMapping, bulk: Bulk | None) -> dict[str, Any]:
    seen = bulk is not None and bulk.sees(case["ref"])
    org = org_dict(repo.org_row(s, org_id=case["organisation_id"]), include_protected=seen)
    agreement = period_fact(s, "agreement", case["id"], case["period"])
    decision = period_fact(s, "decision", case["id"], case["period"])
    state = app.definition.states.get(case["state"])
    return {
        "ref": case["ref"], "municipality": name_of(case["municipality"]), "municipality_code": case["municipality"],
        "organisation": org["name"],
        "org_number": org["org_number"], "protected": org["protected"], "title": case["title"],
        "unit": case["unit"], "committee": decision["body"] if decision else None,
        "start_on": repo.as_iso(agreement["start_on"]) if agreement else None,
        "end_on": repo.as_iso(agreement["end_on"]) if agreement else None,
        "municipal_money_sek": municipal_money(s, case["id"], case["period"]),
        "state": state.label_sv if state else case["state"],
        **{k: org[k] for k in ("idea_based_registered_on", "idea_based_removed_on")},
        **{k: org[k] for k in ("contact_name", "contact_email", "contact_phone", "address")},
    }  # fmt: skip


def period_facts(s: Connection, kind: str, case_id: int, period: int) -> list[dict[str, Any]]:
    """The ``kind`` facts of the case's period not retracted, oldest first, with their corrections applied."""
    table = repo.FACT_TABLES[correctable.FACTS[kind][0]]
    rows = s.execute(
        sa.select(table).where(table.c.case_id == case_id, table.c.period == period).order_by(table.c.id)
    ).mappings().all()
    ids = [int(r["id"]) for r in rows]
    gone = retractions.retracted_ids(s, kind, ids)
    fixes = corrections.latest(s, kind, ids) if ids else {}
    return [correctable.corrected(kind, r, fixes.get(r["id"], {})) for r in rows if r["id"] not in gone]


def period_fact(s: Connection, kind: str, case_id: int, period: int) -> dict[str, Any] | None:
    """The latest ``kind`` fact of the case's period (the one in force), not retracted, corrections applied."""
    found = period_facts(s, kind, case_id, period)
    return found[-1] if found else None


def municipal_money(s: Connection, case_id: int, period: int) -> str | None:
    """The municipality's money contributions (SEK) of the period, summed as text (``"500000.25"``); None: none."""
    money = [c["amount"] for c in period_facts(s, "contribution", case_id, period)
             if (c["party"], c["kind"]) == ("municipality", "money") and str(c["unit"]).upper() in _SEK]  # fmt: skip
    return f"{sum(money, Decimal(0)):.2f}" if money else None
