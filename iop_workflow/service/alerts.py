"""Listing and acknowledging alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from iop_workflow.service import validate
from iop_workflow.service.context import Actor, App
from iop_workflow.store import alerts as repo


def alert_dict(row: dict[str, Any], lang: str) -> dict[str, Any]:
    """The documented JSON shape of an alert."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "case_ref": row.get("case_ref"),
        "guideline_ref": row.get("guideline_ref"),
        "due_on": row["due_on"].isoformat(),
        "recipient": row["recipient"],
        "message": row["message_en"] if lang == "en" else row["message_sv"],
        "raised_at": _utc(row["raised_at"]),
        "acknowledged": row["acknowledged_at"] is not None,
        "acknowledged_by": row["acknowledged_by"],
    }


def _utc(when: datetime) -> str:
    """SQLite hands back naive UTC datetimes, PostgreSQL aware ones: print both as UTC."""
    aware = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return aware.isoformat(timespec="seconds")


def listing(
    app: App, *, lang: str = "sv", include_acknowledged: bool = False, recipient: str | None = None
) -> list[dict[str, Any]]:
    with app.db.read() as s:
        rows = repo.listing(s, include_acknowledged=include_acknowledged, recipient=recipient)
    return [alert_dict(r, lang) for r in rows]


def acknowledge(app: App, actor: Actor, alert_id: int, *, lang: str = "sv") -> dict[str, Any]:
    """Mark an alert as seen by ``actor``: it leaves the open list, the row stays."""
    alert_id = validate.whole("alert_id", alert_id, low=1, high=2_000_000_000)  # an INTEGER column
    with app.db.write() as s:
        row = repo.acknowledge(s, alert_id, actor.name, app.clock.now())
    app.sink.event("alert_acknowledged", id=alert_id, kind=row["kind"], by=actor.name)
    return alert_dict(row, lang)
