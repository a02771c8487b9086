"""A case's facts as the rules see them: its rows read (per case), corrected, and assembled.

``build_facts`` reads the fact kinds one transition needs for one case, leaves out the
retracted ones (``store.retractions``), applies the corrections (``store.corrections``:
the rules decide on corrected facts) and hands the rows to ``assemble_facts``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.domain.definition import RECORD_TABLES
from iop_workflow.domain.facts import (
    FACT_KINDS,
    NOT_LOADED,
    AgreementFacts,
    AssessmentFacts,
    CaseFacts,
    ContributionFacts,
    DecisionFacts,
    LegalCheckFacts,
    MeetingFacts,
    NotLoaded,
    OrganisationFacts,
    ReviewFacts,
)
from iop_workflow.domain.guidelines import Guideline
from iop_workflow.domain.values import (
    ContributionKind,
    DecisionSubject,
    Initiator,
    LegalForm,
    Party,
    StateAidBasis,
    Verdict,
)
from iop_workflow.municipalities import name_of
from iop_workflow.store import corrections, retractions
from iop_workflow.store.audit_tables import CORRECTIONS, RETRACTIONS
from iop_workflow.store.cases import FACT_TABLES as _T
from iop_workflow.store.cases import org_row
from iop_workflow.store.guidelines import GuidelineCache

FactRow = Mapping[Any, Any]  # a fact table's row: as read (a RowMapping), or corrected (a dict)
_FACT_ROWS = {
    name: sa.select(table).where(table.c.case_id == sa.bindparam("case_id")).order_by(table.c.id)
    for name, table in _T.items()
}


def _rows(s: Connection, name: str, case_id: int) -> Sequence[sa.RowMapping]:
    return s.execute(_FACT_ROWS[name], {"case_id": case_id}).mappings().all()


def org_facts(org: sa.RowMapping) -> OrganisationFacts:
    return OrganisationFacts(
        name=org["name"],
        org_number=org["org_number"],
        legal_form=LegalForm(org["legal_form"]),
        non_profit=org["non_profit"],
        protected=org["protected"],
        idea_based_registered_on=org["idea_based_registered_on"],
        idea_based_removed_on=org["idea_based_removed_on"],
    )


def build_facts(
    s: Connection,
    case: sa.RowMapping,
    cache: GuidelineCache,
    kinds: Collection[str] | None = None,
    *,
    preparing: Collection[str],
    pending: corrections.Fixes | None = None,
    retracting: retractions.Retracted = frozenset(),
) -> CaseFacts:
    """The frozen snapshot the guards read, assembled from the case's rows.

    ``kinds``: the fact kinds to read (``domain.facts.FACT_KINDS``; all when None). The others
    are left not loaded: a rule touching them raises ``FactNotLoaded`` instead of seeing nothing.
    ``pending``: corrections about to be written, applied over the stored ones; ``retracting``:
    facts (table, id) about to be retracted, left out with the retracted ones. ``preparing``: the
    definition's ``preparing`` group of states (``CaseFacts.preparing_period``).
    """
    want = FACT_KINDS if kinds is None else frozenset(kinds)
    org = org_row(s, org_id=case["organisation_id"]) if "organisation" in want else None
    rows: dict[str, Sequence[FactRow]] = {table: _rows(s, table, case["id"]) for table in fact_tables(want)}
    if rows:
        retracted, fixes = amendments(s, case["id"])
        gone = retracted | retracting
        if gone:
            rows = {table: [r for r in found if (table, r["id"]) not in gone] for table, found in rows.items()}
        for key, fields in (pending or {}).items():
            fixes[key] = {**fixes.get(key, {}), **fields}
        rows = with_corrections(rows, fixes)
    municipal = cache.for_municipality(s, case["municipality"]) if want & NEEDS_GUIDELINES else None
    return assemble_facts(s, case, cache, want, org=org, rows=rows, municipal=municipal, preparing=preparing)


# A case's retractions and corrections in one read (one probe of each table's case_id index): the
# corrections in the order they were made, so that the latest value of a field wins.
_AMENDMENTS = sa.union_all(
    sa.select(
        sa.literal_column("0").label("is_fix"),
        RETRACTIONS.c.id,
        RETRACTIONS.c.fact_kind,
        RETRACTIONS.c.fact_id,
        sa.null().label("field"),
        sa.null().label("new_value"),
    ).where(RETRACTIONS.c.case_id == sa.bindparam("case_id")),
    sa.select(
        sa.literal_column("1"),
        CORRECTIONS.c.id,
        CORRECTIONS.c.fact_kind,
        CORRECTIONS.c.fact_id,
        CORRECTIONS.c.field,
        CORRECTIONS.c.new_value,
    ).where(CORRECTIONS.c.case_id == sa.bindparam("case_id")),
).order_by(sa.literal_column("is_fix"), sa.literal_column("id"))


def amendments(s: Connection, case_id: int) -> tuple[retractions.Retracted, corrections.Fixes]:
    """The case's retracted facts (table, fact id), and its corrections: the latest value (JSON) of each
    corrected field, by (table, fact id)."""
    retracted: set[tuple[str, int]] = set()
    fixes: corrections.Fixes = {}
    for is_fix, _id, kind, fact_id, field, new_value in s.execute(_AMENDMENTS, {"case_id": case_id}):
        key = (RECORD_TABLES[kind], int(fact_id))
        if is_fix:
            fixes.setdefault(key, {})[field] = json.loads(new_value)
        else:
            retracted.add(key)
    return frozenset(retracted), fixes


def with_corrections(rows: Mapping[str, Sequence[FactRow]], fixes: corrections.Fixes) -> dict[str, Sequence[FactRow]]:
    """The fact rows with their corrections applied: the rules decide on corrected facts.

    A correction is stored as JSON; it is read back in its column's type (a date, an amount).
    """
    if not fixes:
        return dict(rows)
    out: dict[str, Sequence[FactRow]] = {}
    for table, table_rows in rows.items():
        columns = _T[table].c
        fixed: list[FactRow] = []
        for row in table_rows:
            mine = fixes.get((table, row["id"]))
            typed = {field: _typed(columns[field], value) for field, value in (mine or {}).items()}
            fixed.append({**row, **typed} if typed else row)
        out[table] = fixed
    return out


def _typed(column: sa.Column[Any], value: Any) -> Any:
    """A corrected value (JSON) in its column's type: dates and amounts are stored as text."""
    if value is None:
        return None
    try:
        kind = column.type.python_type
    except NotImplementedError:  # a type that does not say: the JSON value is the value
        return value
    if kind is date:
        return date.fromisoformat(value)
    if kind is Decimal:
        return Decimal(value)
    return value  # text, whole numbers and yes/no are JSON's own (SQLModel's text type says ``object``)


def fact_tables(want: frozenset[str]) -> tuple[str, ...]:
    """The fact tables (keys of ``_T``) to read for the fact kinds ``want``."""
    tables = [kind for kind in _SIMPLE_FACTS if kind in want]
    if "agreements" in want:
        tables.append("agreements")
        if "contributions" in want:
            tables.append("contributions")
    return tuple(tables)


def fact_rows_query(table: str) -> sa.Select[Any]:
    """Every row of fact table ``table`` of the cases in the expanding parameter ``case_ids``."""
    t = _T[table]
    return sa.select(t).where(t.c.case_id.in_(sa.bindparam("case_ids", expanding=True))).order_by(t.c.case_id, t.c.id)


def assemble_facts(
    s: Connection,
    case: sa.RowMapping,
    cache: GuidelineCache,
    want: frozenset[str],
    *,
    org: sa.RowMapping | None,
    rows: Mapping[str, Sequence[FactRow]],
    municipal: dict[int, Guideline] | None,
    preparing: Collection[str],
) -> CaseFacts:
    """The snapshot of ``case`` from rows already read (``rows`` by table, ``municipal`` guidelines)."""
    values: dict[str, Any] = dict(NOT_LOADED)
    if org is not None:
        values["organisation"] = org_facts(org)
    ref_of: dict[int, str] = {}
    if municipal is not None:
        bound, ref_of = _bound(s, case, cache, municipal)
        values.update(guideline=bound, municipal_guidelines=tuple(municipal.values()))
    if "agreements" in want:
        values["agreements"] = _agreements(rows["agreements"], rows.get("contributions"))
    for kind, fact in _SIMPLE_FACTS.items():
        if kind in want:
            values[kind] = tuple(fact(row, ref_of) for row in rows[kind])
    return CaseFacts(
        ref=case["ref"],
        state=case["state"],
        municipality=name_of(case["municipality"]),  # the rules compare and show names; the row holds the code
        initiated_by=Initiator(case["initiated_by"]),
        opened_on=case["opened_on"],
        history_from=case.get("history_from"),
        state_entered_on=case["state_entered_on"],
        period=case["period"],
        review_round=case["review_round"],
        review_started_on=case["review_started_on"],
        notice_given_on=case["notice_given_on"],
        notice_ends_on=case["notice_ends_on"],
        review_rounds_in_period=case["review_rounds_in_period"],
        preparing_states=frozenset(preparing),
        **values,
    )


# Assessments name their guideline by id; the facts name it by ref, found among these.
NEEDS_GUIDELINES = frozenset({"guideline", "municipal_guidelines", "assessments"})


def _bound(
    s: Connection, case: sa.RowMapping, cache: GuidelineCache, municipal: dict[int, Guideline]
) -> tuple[Guideline | None, dict[int, str]]:
    """The guideline the case is bound to, and the ref of each guideline id seen."""
    gid = case["guideline_id"]
    bound = municipal.get(gid) if gid is not None else None
    if gid is not None and bound is None:
        bound = cache.by_id(s, gid)
    ref_of = {i: g.ref for i, g in municipal.items()}
    if bound is not None:
        ref_of[gid] = bound.ref
    return bound, ref_of


def _meeting(m: FactRow, _ref_of: dict[int, str]) -> MeetingFacts:
    return MeetingFacts(held_on=m["held_on"], joint_challenge=m["joint_challenge"])


def _assessment(a: FactRow, ref_of: dict[int, str]) -> AssessmentFacts:
    return AssessmentFacts(
        criterion=a["criterion_code"],
        guideline_ref=ref_of.get(a["guideline_id"], "?"),
        period=a["period"],
        verdict=Verdict(a["verdict"]),
        assessed_by=a["assessed_by"],
    )


def _legal_check(c: FactRow, _ref_of: dict[int, str]) -> LegalCheckFacts:
    return LegalCheckFacts(
        period=c["period"],
        competence=c["competence"],
        procurement_not_required=c["procurement_not_required"],
        state_aid_basis=StateAidBasis(c["state_aid_basis"]),
        no_competition_distortion=c["no_competition_distortion"],
        rationale=c["rationale"],
        checked_by=c["checked_by"],
    )


def _decision(d: FactRow, _ref_of: dict[int, str]) -> DecisionFacts:
    return DecisionFacts(
        period=d["period"],
        body=d["body"],
        decided_on=d["decided_on"],
        minutes_ref=d["minutes_ref"],
        subject=DecisionSubject(d["subject"] or DecisionSubject.AGREEMENT),
    )


def _review(r: FactRow, _ref_of: dict[int, str]) -> ReviewFacts:
    return ReviewFacts(period=r["period"], round=r["round"], held_on=r["held_on"], report_received=r["report_received"])


# Fact kinds read from their own table, one value per row, in row order.
_SIMPLE_FACTS: dict[str, Callable[[FactRow, dict[int, str]], Any]] = {
    "meetings": _meeting,
    "assessments": _assessment,
    "legal_checks": _legal_check,
    "decisions": _decision,
    "reviews": _review,
}


def _agreements(rows: Sequence[FactRow], contribution_rows: Sequence[FactRow] | None) -> tuple[AgreementFacts, ...]:
    """The agreements, each with its period's contributions (not loaded when those were not read)."""
    contributions: dict[int, list[ContributionFacts]] = {}
    for c in contribution_rows or ():
        contributions.setdefault(c["period"], []).append(
            ContributionFacts(
                party=Party(c["party"]), kind=ContributionKind(c["kind"]), amount=c["amount"], unit=c["unit"]
            )
        )
    return tuple(
        AgreementFacts(
            period=a["period"],
            start_on=a["start_on"],
            end_on=a["end_on"],
            notice_months=a["notice_months"],
            contributions=tuple(contributions.get(a["period"], ()))
            if contribution_rows is not None
            else NotLoaded("contributions"),
        )
        for a in rows
    )
