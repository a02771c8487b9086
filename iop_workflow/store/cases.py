"""Reading and writing cases: the facts snapshot, the version check, the log, timers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import GENESIS, LogRecord
from iop_workflow.domain.facts import (
    AgreementFacts,
    AssessmentFacts,
    CaseFacts,
    ContributionFacts,
    DecisionFacts,
    LegalCheckFacts,
    MeetingFacts,
    OrganisationFacts,
    ReviewFacts,
)
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


def case_row(s: Connection, ref: str) -> sa.RowMapping:
    row = s.execute(sa.select(CASES).where(CASES.c.ref == ref)).mappings().first()
    if row is None:
        raise NotFound(kind="case", key=ref)
    return row


def org_row(s: Connection, *, org_id: int | None = None, org_number: str | None = None) -> sa.RowMapping:
    where = ORGS.c.id == org_id if org_id is not None else ORGS.c.org_number == org_number
    row = s.execute(sa.select(ORGS).where(where)).mappings().first()
    if row is None:
        raise NotFound(kind="organisation", key=str(org_number if org_id is None else org_id))
    return row


def _rows(s: Connection, name: str, case_id: int) -> Sequence[sa.RowMapping]:
    table = _T[name]
    return s.execute(sa.select(table).where(table.c.case_id == case_id).order_by(table.c.id)).mappings().all()


def org_facts(org: sa.RowMapping) -> OrganisationFacts:
    return OrganisationFacts(
        name=org["name"],
        org_number=org["org_number"],
        legal_form=LegalForm(org["legal_form"]),
        non_profit=org["non_profit"],
        protected=org["protected"],
    )


def build_facts(s: Connection, case: sa.RowMapping, cache: GuidelineCache) -> CaseFacts:
    """The frozen snapshot the guards read, assembled from the case's rows."""
    org = org_row(s, org_id=case["organisation_id"])
    municipal = cache.for_municipality(s, case["municipality"])
    bound = municipal.get(case["guideline_id"]) if case["guideline_id"] is not None else None
    if case["guideline_id"] is not None and bound is None:
        bound = cache.by_id(s, case["guideline_id"])
    ref_of = {gid: g.ref for gid, g in municipal.items()}
    if bound is not None:
        ref_of[case["guideline_id"]] = bound.ref
    contributions: dict[int, list[ContributionFacts]] = {}
    for c in _rows(s, "contributions", case["id"]):
        contributions.setdefault(c["period"], []).append(
            ContributionFacts(
                party=Party(c["party"]), kind=ContributionKind(c["kind"]), amount=c["amount"], unit=c["unit"]
            )
        )
    return CaseFacts(
        ref=case["ref"],
        state=case["state"],
        municipality=case["municipality"],
        initiated_by=Initiator(case["initiated_by"]),
        opened_on=case["opened_on"],
        state_entered_on=case["state_entered_on"],
        organisation=org_facts(org),
        period=case["period"],
        review_round=case["review_round"],
        review_started_on=case["review_started_on"],
        review_rounds_in_period=case["review_rounds_in_period"],
        guideline=bound,
        municipal_guidelines=tuple(municipal.values()),
        meetings=tuple(
            MeetingFacts(held_on=m["held_on"], joint_challenge=m["joint_challenge"])
            for m in _rows(s, "meetings", case["id"])
        ),
        assessments=tuple(
            AssessmentFacts(
                criterion=a["criterion_code"],
                guideline_ref=ref_of.get(a["guideline_id"], "?"),
                period=a["period"],
                verdict=Verdict(a["verdict"]),
                assessed_by=a["assessed_by"],
            )
            for a in _rows(s, "assessments", case["id"])
        ),
        legal_checks=tuple(
            LegalCheckFacts(
                period=c["period"],
                competence=c["competence"],
                procurement_not_required=c["procurement_not_required"],
                state_aid_basis=StateAidBasis(c["state_aid_basis"]),
                no_competition_distortion=c["no_competition_distortion"],
                rationale=c["rationale"],
                checked_by=c["checked_by"],
            )
            for c in _rows(s, "legal_checks", case["id"])
        ),
        agreements=tuple(
            AgreementFacts(
                period=a["period"],
                start_on=a["start_on"],
                end_on=a["end_on"],
                notice_months=a["notice_months"],
                contributions=tuple(contributions.get(a["period"], ())),
            )
            for a in _rows(s, "agreements", case["id"])
        ),
        decisions=tuple(
            DecisionFacts(period=d["period"], body=d["body"], decided_on=d["decided_on"], minutes_ref=d["minutes_ref"])
            for d in _rows(s, "decisions", case["id"])
        ),
        reviews=tuple(
            ReviewFacts(
                period=r["period"], round=r["round"], held_on=r["held_on"], report_received=r["report_received"]
            )
            for r in _rows(s, "reviews", case["id"])
        ),
    )


def next_case_number(s: Connection, year: int) -> int:
    """The next number of ``year``'s counter (row-locked by the UPDATE until commit)."""
    bumped = s.execute(
        sa.update(COUNTERS).where(COUNTERS.c.year == year).values(last=COUNTERS.c.last + 1).returning(COUNTERS.c.last)
    ).scalar()
    if bumped is not None:
        return int(bumped)
    s.execute(sa.insert(COUNTERS).values(year=year, last=1))
    return 1


def update_case(s: Connection, case: sa.RowMapping, values: dict[str, Any]) -> int:
    """Write ``values`` if the case still has the version we read; return the new version."""
    new_version = int(case["version"]) + 1
    result = s.execute(
        sa.update(CASES)
        .where(CASES.c.id == case["id"], CASES.c.version == case["version"])
        .values(version=new_version, **values)
    )
    if result.rowcount != 1:
        found = s.execute(sa.select(CASES.c.version).where(CASES.c.id == case["id"])).scalar()
        raise ConcurrentUpdate(case_ref=case["ref"], expected_version=case["version"], found_version=found)
    return new_version


def chain_head(s: Connection, ref: str) -> tuple[int, str]:
    row = s.execute(
        sa.select(LOG.c.case_seq, LOG.c.hash).where(LOG.c.case_ref == ref).order_by(LOG.c.case_seq.desc()).limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row.case_seq), str(row.hash))


def insert_log(s: Connection, rec: LogRecord) -> int:
    values = rec.hashed_content()
    values["roles"] = json.dumps(values["roles"], ensure_ascii=False)
    values["data"] = json.dumps(values["data"], sort_keys=True, ensure_ascii=False, default=str)
    return int(s.execute(sa.insert(LOG).values(**values, hash=rec.hash).returning(LOG.c.seq)).scalar_one())


def cancel_open_timers(s: Connection, case_id: int, now: datetime) -> None:
    s.execute(
        sa.update(TIMERS)
        .where(TIMERS.c.case_id == case_id, TIMERS.c.fired_at.is_(None), TIMERS.c.cancelled_at.is_(None))
        .values(cancelled_at=now)
    )


def insert_timers(s: Connection, case_id: int, state: str, timers: Iterable[PlannedTimer], now: datetime) -> None:
    rows = [
        {"case_id": case_id, "kind": t.kind, "state": state, "due_on": t.due_on, "action": t.action, "planned_at": now}
        for t in timers
    ]
    if rows:
        s.execute(sa.insert(TIMERS), rows)


def open_timers(s: Connection, case_id: int) -> list[dict[str, Any]]:
    rows = s.execute(
        sa.select(TIMERS.c.kind, TIMERS.c.due_on, TIMERS.c.action)
        .where(TIMERS.c.case_id == case_id, TIMERS.c.fired_at.is_(None), TIMERS.c.cancelled_at.is_(None))
        .order_by(TIMERS.c.due_on, TIMERS.c.id)
    ).mappings()
    return [{"kind": r["kind"], "due_on": r["due_on"].isoformat(), "action": r["action"]} for r in rows]


def insert_fact(s: Connection, table: str, values: dict[str, Any]) -> int:
    t = _T[table]
    return int(s.execute(sa.insert(t).values(**values).returning(t.c.id)).scalar_one())


def ensure_workflow_version(s: Connection, version: str, name: str, content: str, now: datetime) -> None:
    table = WorkflowVersion.__table__  # type: ignore[attr-defined]
    if s.execute(sa.select(table.c.version).where(table.c.version == version)).first() is None:
        s.execute(sa.insert(table).values(version=version, name=name, content=content, loaded_at=now))


def as_iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
