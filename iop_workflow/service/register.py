"""The public register of partnerships: signed and running IOPs, contact data of protected organisations masked."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
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
    return list(rows(app, actor, municipality=municipality, include_protected=include_protected))


def rows(
    app: App, actor: Actor, *, municipality: str | None = None, include_protected: bool = False
) -> Iterator[dict[str, Any]]:
    """:func:`register`'s rows one at a time, in constant memory: the cases streamed a chunk at a time
    (``repo.READ_CHUNK``), and for each chunk one statement for its organisations and three per fact
    kind (the facts, their retractions, their corrections), however many cases the chunk holds."""
    code = code_of(municipality) if municipality else None  # an unknown one refused before anything is logged
    bulk = None
    if include_protected:
        bulk = bulk_access(app, actor, action="report register", scope={"municipality": municipality})
    query = (
        sa.select(repo.CASES)
        .where(repo.CASES.c.state.in_(app.definition.states_in("partnership")))
        .order_by(repo.CASES.c.municipality, repo.CASES.c.ref)
    )
    if code is not None:
        query = query.where(repo.CASES.c.municipality == code)
    with app.db.read() as s:
        cases = s.execute(query.execution_options(yield_per=repo.READ_CHUNK)).mappings()
        while chunk := list(itertools.islice(cases, repo.READ_CHUNK)):
            orgs = {
                r["id"]: r
                for r in s.execute(
                    sa.select(repo.ORGS).where(repo.ORGS.c.id.in_({c["organisation_id"] for c in chunk}))
                ).mappings()
            }
            facts = {kind: period_facts(s, kind, chunk) for kind in ("agreement", "decision", "contribution")}
            for case in chunk:
                mine = {kind: of_kind.get(case["id"], []) for kind, of_kind in facts.items()}
                yield _row(app, case, orgs[case["organisation_id"]], mine, bulk)


def _row(
    app: App, case: sa.RowMapping, org_row: sa.RowMapping, facts: Mapping[str, list[dict[str, Any]]], bulk: Bulk | None
) -> dict[str, Any]:
    seen = bulk is not None and bulk.sees(case["ref"])
    org = org_dict(org_row, include_protected=seen)
    agreement = facts["agreement"][-1] if facts["agreement"] else None  # the latest: the one in force
    decision = facts["decision"][-1] if facts["decision"] else None
    state = app.definition.states.get(case["state"])
    return {
        "ref": case["ref"],
        "municipality": name_of(case["municipality"]),
        "municipality_code": case["municipality"],
        "organisation": org["name"],
        "org_number": org["org_number"],
        "protected": org["protected"],
        "title": case["title"],
        "unit": case["unit"],
        "committee": decision["body"] if decision else None,
        "start_on": repo.as_iso(agreement["start_on"]) if agreement else None,
        "end_on": repo.as_iso(agreement["end_on"]) if agreement else None,
        "municipal_money_sek": municipal_money(facts["contribution"]),
        "state": state.label_sv if state else case["state"],
        **{k: org[k] for k in ("idea_based_registered_on", "idea_based_removed_on")},
        **{k: org[k] for k in ("contact_name", "contact_email", "contact_phone", "address")},
    }


def period_facts(s: Connection, kind: str, cases: Iterable[sa.RowMapping]) -> dict[int, list[dict[str, Any]]]:
    """Case id -> the ``kind`` facts of the case's current period not retracted, oldest first, with their
    corrections applied: three statements for all ``cases``."""
    periods = {int(c["id"]): int(c["period"]) for c in cases}
    table = repo.FACT_TABLES[correctable.FACTS[kind][0]]
    found = s.execute(sa.select(table).where(table.c.case_id.in_(sorted(periods))).order_by(table.c.id)).mappings()
    rows = [r for r in found if periods[int(r["case_id"])] == r["period"]]
    ids = [int(r["id"]) for r in rows]
    gone = retractions.retracted_ids(s, kind, ids)
    fixes = corrections.latest(s, kind, ids) if ids else {}
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if r["id"] not in gone:
            out.setdefault(int(r["case_id"]), []).append(correctable.corrected(kind, r, fixes.get(r["id"], {})))
    return out


def municipal_money(contributions: Iterable[Mapping[str, Any]]) -> str | None:
    """The municipality's money contributions (SEK) among ``contributions``, summed as text (``"500000.25"``);
    None: none."""
    money = [
        c["amount"]
        for c in contributions
        if (c["party"], c["kind"]) == ("municipality", "money") and str(c["unit"]).upper() in _SEK
    ]
    return f"{sum(money, Decimal(0)):.2f}" if money else None
