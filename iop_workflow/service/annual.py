"""The yearly follow-up report to the committee: read the log and the facts page by page, count (pure),
and list the year's cases with protected contact data masked (unless someone with a need to know asks; logged).

The arithmetic and its definitions are in :mod:`iop_workflow.report.annual`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.masking import PROTECTED_FIELDS, mask_value
from iop_workflow.domain.guidelines import Guideline
from iop_workflow.errors import NotFound
from iop_workflow.municipalities import Place, name_of, resolve
from iop_workflow.report.annual import ContributionFact, ReviewFact, Transition, Window, tally
from iop_workflow.report.annual_summary import case_states, end_reasons_of, report, rules_of, states_of
from iop_workflow.service import correctable, validate
from iop_workflow.service.admin import org_dict
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.context import Actor, App
from iop_workflow.service.need_to_know import Bulk, bulk_access
from iop_workflow.store import cases as repo
from iop_workflow.store import corrections, retractions
from iop_workflow.store import guidelines as guideline_store
from iop_workflow.store.guidelines import CURRENT_VERSION, G

MIN_YEAR, MAX_YEAR = 2000, 2100
PAGE = 1000
LOG, CASES, ORGS = repo.LOG, repo.CASES, repo.ORGS


def annual(
    app: App, actor: Actor, *, year: int | str, municipality: str | None = None, include_protected: bool = False
) -> dict[str, Any]:
    """The report on ``year`` (one municipality's, or every one's) as a plain dict (the ``--json`` shape).

    Raises InvalidInput (a year outside 2000-2100), UnknownMunicipality (exit 6: no such municipality
    or region), NotFound (a municipality with neither cases nor guidelines) and AccessDenied
    (``include_protected`` by anyone but an auditor or an officer); nothing is written then.
    ``include_protected`` unmasks what ``need_to_know.bulk_access`` allows (an auditor: every case;
    an officer: their own) and is logged as an access event.
    """
    number = validate.whole("year", year, low=MIN_YEAR, high=MAX_YEAR)
    named = validate.optional_text("municipality", municipality, max_len=100)
    found = resolve(named) if named is not None else None
    place = found.code if found is not None else None
    window = Window(number, app.settings.tz)
    with app.db.read() as s:
        _known(s, found)
    bulk = None
    if include_protected:
        scope = {"year": number, "municipality": found.name if found else None, "municipality_code": place}
        bulk = bulk_access(app, actor, action="report annual", scope=scope)
    d = app.definition
    with app.db.read() as s:
        rules = rules_of(d, grace_days=app.settings.lead_times.review_grace_days)
        t = tally(
            window, rules, _transitions(s, window, place), _reviews(s, window, place), _contributions(s, window, place)
        )
        guidelines = list(_guidelines(s, place))
        cases = _cases(s, case_states(t), place, bulk)
    return report(
        t,
        municipality=found.name if found else None,
        municipality_code=place,
        states=states_of(d),
        end_reasons=end_reasons_of(d),
        guidelines=guidelines,
        cases=cases,
        preliminary=app.clock.today() <= window.last_day,
        include_protected=include_protected,
    )


def _known(s: Connection, place: Place | None) -> None:
    if place is None:
        return
    in_cases = sa.select(CASES.c.id).where(CASES.c.municipality == place.code).limit(1)
    in_guidelines = sa.select(G.c.id).where(G.c.municipality == place.code).limit(1)
    if s.execute(in_cases).first() is None and s.execute(in_guidelines).first() is None:
        raise NotFound(kind="municipality", key=place.name)


def _pages(s: Connection, query: sa.Select[Any], key: sa.ColumnElement[int]) -> Iterator[sa.RowMapping]:
    """Every row of ``query`` in ``key`` order, PAGE rows a statement (keyset pagination: constant memory)."""
    after = 0
    while True:
        rows = s.execute(query.where(key > after).order_by(key).limit(PAGE)).mappings().all()
        yield from rows
        if len(rows) < PAGE:
            return
        after = int(rows[-1][str(key.key)])


def _transitions(s: Connection, window: Window, place: str | None) -> Iterator[Transition]:
    """The state-changing log records that happened before the year's end, in ``seq`` order.

    A step of an imported case's history (``data.history``, docs/import.md) happened on its business
    day ``history.on``, not when the import recorded it: it counts in that day's year."""
    end = window.bounds()[12]
    query = sa.select(LOG.c.seq, LOG.c.case_ref, LOG.c.at, LOG.c.trigger, LOG.c.to_state, LOG.c.data).where(
        sa.or_(LOG.c.at < utc_iso(end), LOG.c.data.like('%"history":%')), LOG.c.trigger.not_like("record:%")
    )
    if place is not None:
        query = query.where(LOG.c.case_ref.in_(sa.select(CASES.c.ref).where(CASES.c.municipality == place)))
    for r in _pages(s, query, LOG.c.seq):
        # Only the data of a record that ends a case or replays a history is parsed.
        data = json.loads(r["data"]) if '"end_reason"' in r["data"] or '"history":' in r["data"] else {}
        history = data.get("history")
        at = datetime.fromisoformat(r["at"])
        if isinstance(history, dict) and isinstance(history.get("on"), str):
            at = datetime.combine(date.fromisoformat(history["on"]), time(12), tzinfo=window.tz).astimezone(UTC)
        if at < end:
            yield Transition(
                case_ref=r["case_ref"],
                at=at,
                trigger=r["trigger"],
                to_state=r["to_state"],
                end_reason=data.get("end_reason"),
            )


def _facts(s: Connection, kind: str, window: Window, place: str | None) -> Iterator[dict[str, Any]]:
    """Facts of ``kind`` recorded before the year's end and not retracted, corrections applied, each with its
    ``case_ref``."""
    table = repo.FACT_TABLES[correctable.FACTS[kind][0]]
    query = sa.select(table, CASES.c.ref.label("case_ref")).join(CASES, CASES.c.id == table.c.case_id)
    if place is not None:
        query = query.where(CASES.c.municipality == place)
    end = window.bounds()[12]
    page: list[sa.RowMapping] = []
    for row in _pages(s, query, table.c.id):
        page.append(row)
        if len(page) == PAGE:
            yield from _corrected(s, kind, page, end)
            page = []
    yield from _corrected(s, kind, page, end)


def _corrected(s: Connection, kind: str, rows: list[sa.RowMapping], end: datetime) -> Iterator[dict[str, Any]]:
    fixes = corrections.latest(s, kind, [r["id"] for r in rows]) if rows else {}
    gone = retractions.retracted_ids(s, kind, [r["id"] for r in rows])
    for row in rows:
        if row["id"] in gone:
            continue
        recorded: datetime = row["recorded_at"]
        if (recorded.replace(tzinfo=UTC) if recorded.tzinfo is None else recorded) < end:
            yield correctable.corrected(kind, row, fixes.get(row["id"], {}))


def _reviews(s: Connection, window: Window, place: str | None) -> Iterator[ReviewFact]:
    for r in _facts(s, "review", window, place):
        yield ReviewFact(
            case_ref=r["case_ref"], round=r["round"], held_on=r["held_on"], report_received=bool(r["report_received"])
        )


def _contributions(s: Connection, window: Window, place: str | None) -> Iterator[ContributionFact]:
    for r in _facts(s, "contribution", window, place):
        yield ContributionFact(
            case_ref=r["case_ref"],
            period=r["period"],
            party=r["party"],
            kind=r["kind"],
            unit=r["unit"],
            amount=r["amount"],
        )


def _guidelines(s: Connection, place: str | None) -> Iterator[Guideline]:
    query = sa.select(G).where(CURRENT_VERSION)
    if place is not None:
        query = query.where(G.c.municipality == place)
    for row in s.execute(query).mappings().all():
        yield guideline_store.from_row(s, row)


def _cases(
    s: Connection, states: Mapping[str, tuple[str | None, str, str | None]], place: str | None, bulk: Bulk | None
) -> list[dict[str, Any]]:
    """The year's cases, by ref: organisation, activity, state at the year's start and end, contact data."""
    query = sa.select(CASES.c.id.label("case_id"), CASES.c.ref, CASES.c.municipality, CASES.c.title, *ORGS.c).join(
        ORGS, ORGS.c.id == CASES.c.organisation_id
    )
    if place is not None:
        query = query.where(CASES.c.municipality == place)
    found: dict[str, dict[str, Any]] = {}
    for row in _pages(s, query, CASES.c.id.label("case_id")):
        if row["ref"] in states:
            found[row["ref"]] = _case_row(row, states[row["ref"]], bulk is not None and bulk.sees(row["ref"]))
    return [found[ref] for ref in sorted(found)]


def _case_row(row: sa.RowMapping, state: tuple[str | None, str, str | None], include_protected: bool) -> dict[str, Any]:
    org = org_dict(row, include_protected=include_protected)
    out: dict[str, Any] = {
        "ref": row["ref"],
        "municipality": name_of(row["municipality"]),
        "municipality_code": row["municipality"],
        "title": row["title"],
        "organisation": org["name"],
        "org_number": org["org_number"],
        "protected": org["protected"],
        "state_at_start": state[0],
        "state": state[1],
        "end_reason": state[2],
        **{k: org[k] for k in PROTECTED_FIELDS},
    }
    if org["protected"] and not include_protected:
        out = mask_value(out, [str(row[k]) for k in PROTECTED_FIELDS if row[k]])[0]
    return out
