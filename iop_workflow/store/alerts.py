"""Alert rows and the guideline facts the validity sweep reads."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.domain.alerts import AlertDraft
from iop_workflow.errors import InvalidInput, NotFound
from iop_workflow.store.cases import CASES
from iop_workflow.store.guidelines import CURRENT_VERSION, G
from iop_workflow.store.tables import Alert

ALERTS = Alert.__table__  # type: ignore[attr-defined]


def insert(
    s: Connection, draft: AlertDraft, now: datetime, *, case_id: int | None = None, guideline_id: int | None = None
) -> int:
    values = {
        "kind": draft.kind,
        "case_id": case_id,
        "guideline_id": guideline_id,
        "due_on": draft.due_on,
        "recipient": draft.recipient,
        "message_sv": draft.message_sv,
        "message_en": draft.message_en,
        "raised_at": now,
    }
    return int(s.execute(sa.insert(ALERTS).values(values).returning(ALERTS.c.id)).scalar_one())


def exists(s: Connection, *, kind: str, guideline_id: int, due_on: date) -> bool:
    query = sa.select(ALERTS.c.id).where(
        ALERTS.c.kind == kind, ALERTS.c.guideline_id == guideline_id, ALERTS.c.due_on == due_on
    )
    return s.execute(query.limit(1)).first() is not None


def open_of_kind(s: Connection, kind: str) -> bool:
    """Whether an alert of ``kind`` is still unacknowledged."""
    query = sa.select(ALERTS.c.id).where(ALERTS.c.kind == kind, ALERTS.c.acknowledged_at.is_(None))
    return s.execute(query.limit(1)).first() is not None


def listing(s: Connection, *, include_acknowledged: bool = False, recipient: str | None = None) -> list[dict[str, Any]]:
    query = (
        sa.select(ALERTS, CASES.c.ref.label("case_ref"), G.c.ref.label("guideline_ref"))
        .outerjoin(CASES, CASES.c.id == ALERTS.c.case_id)
        .outerjoin(G, G.c.id == ALERTS.c.guideline_id)
        .order_by(ALERTS.c.due_on, ALERTS.c.id)
    )
    if not include_acknowledged:
        query = query.where(ALERTS.c.acknowledged_at.is_(None))
    if recipient is not None:
        query = query.where(ALERTS.c.recipient == recipient)
    return [dict(r) for r in s.execute(query).mappings()]


def acknowledge(s: Connection, alert_id: int, who: str, now: datetime) -> dict[str, Any]:
    row = s.execute(sa.select(ALERTS).where(ALERTS.c.id == alert_id)).mappings().first()
    if row is None:
        raise NotFound(kind="alert", key=str(alert_id))
    if row["acknowledged_at"] is not None:
        raise InvalidInput(
            field="alert",
            value=str(alert_id),
            problem_sv=f"larmet är redan kvitterat av {row['acknowledged_by']}",
            problem_en=f"the alert was already acknowledged by {row['acknowledged_by']}",
        )
    s.execute(
        sa.update(ALERTS)
        .where(ALERTS.c.id == alert_id, ALERTS.c.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=who)
    )
    return {**row, "acknowledged_at": now, "acknowledged_by": who}


def guidelines_with_end(s: Connection) -> list[sa.RowMapping]:
    """Guideline versions that have a last valid day (the only ones that can expire): each current
    version, and an earlier one while a case is still bound to it."""
    bound = sa.exists().where(CASES.c.guideline_id == G.c.id)
    query = (
        sa.select(G)
        .where(G.c.valid_until.is_not(None), sa.or_(CURRENT_VERSION, bound))
        .order_by(G.c.valid_until, G.c.id)
    )
    return list(s.execute(query).mappings())


def guidelines_with_review(s: Connection) -> list[sa.RowMapping]:
    """Current guideline versions that plan their own follow-up (``guideline_review_months``)."""
    query = sa.select(G).where(G.c.guideline_review_months.is_not(None), CURRENT_VERSION).order_by(G.c.id)
    return list(s.execute(query).mappings())


def lock_guideline(s: Connection, guideline_id: int) -> sa.RowMapping:
    """Re-read a guideline, row-locked on PostgreSQL, so two sweepers alert once."""
    query = sa.select(G).where(G.c.id == guideline_id)
    if s.dialect.name == "postgresql":
        query = query.with_for_update()
    return s.execute(query).mappings().one()


def flag_expired(s: Connection, guideline_id: int, today: date) -> bool:
    result = s.execute(
        sa.update(G).where(G.c.id == guideline_id, G.c.expired_flagged_on.is_(None)).values(expired_flagged_on=today)
    )
    return result.rowcount == 1


def open_cases_bound_to(s: Connection, guideline_id: int, terminal: set[str]) -> list[sa.RowMapping]:
    query = (
        sa.select(CASES.c.id, CASES.c.ref, CASES.c.title, CASES.c.officer, CASES.c.state)
        .where(CASES.c.guideline_id == guideline_id, CASES.c.state.not_in(sorted(terminal)))
        .order_by(CASES.c.id)
    )
    return list(s.execute(query).mappings())
