"""Reading and writing cases: the facts snapshot, the version check, the log, timers."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import GENESIS, LogRecord
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
from iop_workflow.domain.timers import PlannedTimer
from iop_workflow.domain.values import (
    ContributionKind,
    Initiator,
    LegalForm,
    Party,
    StateAidBasis,
    Verdict,
)
from iop_workflow.errors import ConcurrentUpdate, NotFound
from iop_workflow.store import corrections
from iop_workflow.store.guidelines import GuidelineCache
from iop_workflow.store.tables import (
    Agreement,
    Assessment,
    Case,
    CaseRefCounter,
    Contribution,
    Decision,
    LegalCheck,
    Meeting,
    Organisation,
    Review,
    Timer,
    TransitionLog,
    WorkflowVersion,
)

CASES = Case.__table__  # type: ignore[attr-defined]
ORGS = Organisation.__table__  # type: ignore[attr-defined]
LOG = TransitionLog.__table__  # type: ignore[attr-defined]
TIMERS = Timer.__table__  # type: ignore[attr-defined]
COUNTERS = CaseRefCounter.__table__  # type: ignore[attr-defined]
_T = {
    "meetings": Meeting.__table__,  # type: ignore[attr-defined]
    "assessments": Assessment.__table__,  # type: ignore[attr-defined]
    "legal_checks": LegalCheck.__table__,  # type: ignore[attr-defined]
    "agreements": Agreement.__table__,  # type: ignore[attr-defined]
    "contributions": Contribution.__table__,  # type: ignore[attr-defined]
    "decisions": Decision.__table__,  # type: ignore[attr-defined]
    "reviews": Review.__table__,  # type: ignore[attr-defined]
}


# The write path's statements, built once: each execution then only binds its parameters, and
# SQLAlchemy finds the compiled form in its cache without rebuilding or re-keying a statement.
_CASE_BY_REF = sa.select(CASES).where(CASES.c.ref == sa.bindparam("ref"))
_CASE_BY_ID = sa.select(CASES).where(CASES.c.id == sa.bindparam("case_id"))
_ORG_BY_ID = sa.select(ORGS).where(ORGS.c.id == sa.bindparam("org_id"))
_ORG_BY_NUMBER = sa.select(ORGS).where(ORGS.c.org_number == sa.bindparam("org_number"))
_FACT_ROWS = {
    name: sa.select(table).where(table.c.case_id == sa.bindparam("case_id")).order_by(table.c.id)
    for name, table in _T.items()
}
# SET takes the columns named in the parameters; the WHERE names are no column's.
_UPDATE_CASE = sa.update(CASES).where(CASES.c.id == sa.bindparam("w_id"), CASES.c.version == sa.bindparam("w_version"))
_CASE_VERSION = sa.select(CASES.c.version).where(CASES.c.id == sa.bindparam("case_id"))
_CHAIN_HEAD = (
    sa.select(LOG.c.case_seq, LOG.c.hash)
    .where(LOG.c.case_ref == sa.bindparam("ref"))
    .order_by(LOG.c.case_seq.desc())
    .limit(1)
)  # one probe of the unique (case_ref, case_seq) index
_INSERT_LOG = sa.insert(LOG).returning(LOG.c.seq)
# A timer neither fired nor cancelled (the predicate of the partial index ix_timers_open_due).
TIMER_IS_OPEN = sa.and_(TIMERS.c.fired_at.is_(None), TIMERS.c.cancelled_at.is_(None))
_CANCEL_TIMERS = sa.update(TIMERS).where(TIMERS.c.case_id == sa.bindparam("w_case_id"), TIMER_IS_OPEN)
_INSERT_TIMER = sa.insert(TIMERS)
_BUMP_COUNTER = (
    sa.update(COUNTERS)
    .where(COUNTERS.c.year == sa.bindparam("w_year"))
    .values(last=COUNTERS.c.last + 1)
    .returning(COUNTERS.c.last)
)
_INSERT_COUNTER = sa.insert(COUNTERS)
_WORKFLOW_VERSIONS = WorkflowVersion.__table__  # type: ignore[attr-defined]
_WORKFLOW_VERSION = sa.select(_WORKFLOW_VERSIONS.c.version).where(
    _WORKFLOW_VERSIONS.c.version == sa.bindparam("w_version")
)
_INSERT_WORKFLOW_VERSION = sa.insert(_WORKFLOW_VERSIONS)


def case_row(s: Connection, ref: str) -> sa.RowMapping:
    row = s.execute(_CASE_BY_REF, {"ref": ref}).first()
    if row is None:
        raise NotFound(kind="case", key=ref)
    return row._mapping


def case_row_by_id(s: Connection, case_id: int) -> sa.RowMapping:
    """The case a row refers to by id (a timer's case: it exists, the foreign key says so)."""
    return s.execute(_CASE_BY_ID, {"case_id": case_id}).mappings().one()


def org_row(s: Connection, *, org_id: int | None = None, org_number: str | None = None) -> sa.RowMapping:
    if org_id is not None:
        row = s.execute(_ORG_BY_ID, {"org_id": org_id}).mappings().first()
    else:
        row = s.execute(_ORG_BY_NUMBER, {"org_number": org_number}).mappings().first()
    if row is None:
        raise NotFound(kind="organisation", key=str(org_number if org_id is None else org_id))
    return row


def _rows(s: Connection, name: str, case_id: int) -> Sequence[sa.RowMapping]:
    return s.execute(_FACT_ROWS[name], {"case_id": case_id}).mappings().all()


def org_facts(org: sa.RowMapping) -> OrganisationFacts:
    return OrganisationFacts(
        name=org["name"],
        org_number=org["org_number"],
        legal_form=LegalForm(org["legal_form"]),
        non_profit=org["non_profit"],
        protected=org["protected"],
    )


def build_facts(
    s: Connection, case: sa.RowMapping, cache: GuidelineCache, kinds: Collection[str] | None = None
) -> CaseFacts:
    """The frozen snapshot the guards read, assembled from the case's rows.

    ``kinds``: the fact kinds to read (``domain.facts.FACT_KINDS``; all when None). The others
    are left not loaded: a rule touching them raises ``FactNotLoaded`` instead of seeing nothing.
    """
    want = FACT_KINDS if kinds is None else frozenset(kinds)
    org = org_row(s, org_id=case["organisation_id"]) if "organisation" in want else None
    rows: dict[str, Sequence[FactRow]] = {table: _rows(s, table, case["id"]) for table in fact_tables(want)}
    if rows:
        rows = with_corrections(rows, corrections.fixes_for(s, [case["id"]]))
    municipal = cache.for_municipality(s, case["municipality"]) if want & NEEDS_GUIDELINES else None
    return assemble_facts(s, case, cache, want, org=org, rows=rows, municipal=municipal)


FactRow = Mapping[Any, Any]  # a fact table's row: as read (a RowMapping), or corrected (a dict)


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
        municipality=case["municipality"],
        initiated_by=Initiator(case["initiated_by"]),
        opened_on=case["opened_on"],
        state_entered_on=case["state_entered_on"],
        period=case["period"],
        review_round=case["review_round"],
        review_started_on=case["review_started_on"],
        review_rounds_in_period=case["review_rounds_in_period"],
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
    return DecisionFacts(period=d["period"], body=d["body"], decided_on=d["decided_on"], minutes_ref=d["minutes_ref"])


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


def next_case_number(s: Connection, year: int) -> int:
    """The next number of ``year``'s counter (row-locked by the UPDATE until commit)."""
    bumped = s.execute(_BUMP_COUNTER, {"w_year": year}).scalar()
    if bumped is not None:
        return int(bumped)
    s.execute(_INSERT_COUNTER, {"year": year, "last": 1})
    return 1


def update_case(s: Connection, case: sa.RowMapping, values: dict[str, Any]) -> int:
    """Write ``values`` if the case still has the version we read; return the new version."""
    new_version = int(case["version"]) + 1
    params = {**values, "version": new_version, "w_id": case["id"], "w_version": case["version"]}
    result = s.execute(_UPDATE_CASE, params)
    if result.rowcount != 1:
        found = s.execute(_CASE_VERSION, {"case_id": case["id"]}).scalar()
        raise ConcurrentUpdate(case_ref=case["ref"], expected_version=case["version"], found_version=found)
    return new_version


def chain_head(s: Connection, ref: str) -> tuple[int, str]:
    row = s.execute(_CHAIN_HEAD, {"ref": ref}).first()
    return (0, GENESIS) if row is None else (int(row.case_seq), str(row.hash))


def insert_log(s: Connection, rec: LogRecord) -> int:
    return insert_log_content(s, rec.hashed_content(), rec.hash)


def insert_log_content(s: Connection, content: Mapping[str, Any], digest: str) -> int:
    """Insert a record given as its hashed content (``LogRecord.hashed_content``) and hash; its seq."""
    return int(s.execute(_INSERT_LOG, log_values(content, digest)).scalar_one())


def log_values(content: Mapping[str, Any], digest: str) -> dict[str, Any]:
    """A record's row: its hashed content with the JSON fields as text, and its hash."""
    values = dict(content)
    values["roles"] = json.dumps(values["roles"], ensure_ascii=False)
    values["data"] = json.dumps(values["data"], sort_keys=True, ensure_ascii=False, default=str)
    values["hash"] = digest
    return values


def cancel_open_timers(s: Connection, case_id: int, now: datetime) -> None:
    s.execute(_CANCEL_TIMERS, {"cancelled_at": now, "w_case_id": case_id})


def insert_timers(s: Connection, case_id: int, state: str, timers: Iterable[PlannedTimer], now: datetime) -> None:
    rows = timer_rows(case_id, state, timers, now)
    if rows:
        s.execute(_INSERT_TIMER, rows)


def timer_rows(case_id: int, state: str, timers: Iterable[PlannedTimer], now: datetime) -> list[dict[str, Any]]:
    """The rows of the timers ``state`` planned for case ``case_id``."""
    return [
        {"case_id": case_id, "kind": t.kind, "state": state, "due_on": t.due_on, "action": t.action, "planned_at": now}
        for t in timers
    ]


def open_timers(s: Connection, case_id: int) -> list[dict[str, Any]]:
    rows = s.execute(
        sa.select(TIMERS.c.kind, TIMERS.c.due_on, TIMERS.c.action)
        .where(TIMERS.c.case_id == case_id, TIMER_IS_OPEN)
        .order_by(TIMERS.c.due_on, TIMERS.c.id)
    ).mappings()
    return [{"kind": r["kind"], "due_on": r["due_on"].isoformat(), "action": r["action"]} for r in rows]


def insert_fact(s: Connection, table: str, values: dict[str, Any]) -> int:
    t = _T[table]
    return int(s.execute(sa.insert(t).values(**values).returning(t.c.id)).scalar_one())


def ensure_workflow_version(s: Connection, version: str, name: str, content: str, now: datetime) -> None:
    if s.execute(_WORKFLOW_VERSION, {"w_version": version}).first() is None:
        s.execute(_INSERT_WORKFLOW_VERSION, {"version": version, "name": name, "content": content, "loaded_at": now})


def as_iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
