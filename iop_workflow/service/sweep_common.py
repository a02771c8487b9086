"""What every sweep shares: its report, the batch it emits after commit, and the alerts it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain.alerts import AlertDraft, CaseSubject
from iop_workflow.service.context import App
from iop_workflow.store import alerts as alert_repo

SCHEDULER = "system"
MAX_ITEMS = 1000  # a report lists at most this many timers: a long catch-up stays in constant memory


@dataclass(slots=True)
class SweepReport:
    """What one sweep did; ``items`` lists each timer (or, in a dry run, what would fire)."""

    kind: str
    on: date
    dry_run: bool = False
    due: int = 0
    fired: int = 0
    skipped: int = 0
    alerts: int = 0
    refused: int = 0
    failed: int = 0
    seconds: float = 0.0
    items: list[dict[str, Any]] = field(default_factory=list)
    items_omitted: int = 0

    def add(self, item: dict[str, Any]) -> None:
        if len(self.items) < MAX_ITEMS:
            self.items.append(item)
        else:
            self.items_omitted += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "on": self.on.isoformat(),
            "dry_run": self.dry_run,
            "due": self.due,
            "fired": self.fired,
            "skipped": self.skipped,
            "alerts": self.alerts,
            "refused": self.refused,
            "failed": self.failed,
            "seconds": round(self.seconds, 4),
            "items": self.items,
            "items_omitted": self.items_omitted,
        }


@dataclass(slots=True)
class Batch:
    """What a batch committed, emitted only after the commit."""

    records: list[LogRecord] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


def announce(app: App, report: SweepReport) -> None:
    """One structlog line per sweep: its figures, without the per-timer list."""
    app.sink.event("sweep", **{k: v for k, v in report.as_dict().items() if k not in {"items", "items_omitted"}})


def subject(case: sa.RowMapping) -> CaseSubject:
    return CaseSubject(ref=case["ref"], title=case["title"], officer=case["officer"], state=case["state"])


def raise_alert(
    app: App,
    s: Connection,
    draft: AlertDraft,
    now: datetime,
    batch: Batch,
    *,
    case_id: int | None = None,
    case_ref: str | None = None,
    guideline_id: int | None = None,
    guideline_ref: str | None = None,
) -> None:
    alert_id = alert_repo.insert(s, draft, now, case_id=case_id, guideline_id=guideline_id)
    batch.alerts.append(
        {
            "id": alert_id,
            "kind": draft.kind,
            "case_ref": case_ref,
            "guideline_ref": guideline_ref,
            "due_on": draft.due_on.isoformat(),
            "recipient": draft.recipient,
            "message": draft.message_en,
        }
    )


def emit(app: App, batch: Batch) -> None:
    for record in batch.records:
        app.sink.emit(record)
    for alert in batch.alerts:
        app.sink.event("alert", **alert)
    for failure in batch.failures:
        app.sink.event("timer_failed", **failure)
