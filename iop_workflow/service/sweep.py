"""Sweeps: the dates of a partnership enforce themselves, exactly once.

``sweep_timers`` fires every open timer due on or before the clock's date, in
due order, and repeats until nothing is due (a fired transition may plan a
timer that is already due after an outage: it fires in the same sweep). Timers
are claimed in batches, one transaction per batch (fewer commits, so fewer
fsyncs), and each timer runs in its own SAVEPOINT through the one write path every
command takes (``workflow.fire_on``): its transition, its log record and its
``fired_at`` mark commit together or not at all, and a timer that fails rolls back
alone (closed as failed, with an alert, or left for the next sweep to retry).
Exactly once holds because the mark is a conditional update inside the same
transaction as the change (SQLite: ``BEGIN IMMEDIATE``
serialises sweepers; PostgreSQL: ``FOR UPDATE SKIP LOCKED`` on timer and case).

The guidelines' sweep and the calendar of deadlines are in ``sweep_guidelines``; what the
sweeps share (the report, the batch, the alerts) in ``sweep_common``. ``tick`` runs them all.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.domain import alerts as drafts
from iop_workflow.errors import ConcurrentUpdate, IopError, TransitionNotAllowed
from iop_workflow.service.context import SYSTEM_AUTH, Actor, App
from iop_workflow.service.sweep_common import (
    SCHEDULER,
    Batch,
    SweepReport,
    announce,
    emit,
    raise_alert,
    subject,
)
from iop_workflow.service.sweep_guidelines import sweep_guidelines, upcoming
from iop_workflow.service.workflow import fire_on
from iop_workflow.store import cases as case_repo
from iop_workflow.store import timers as timer_repo
from iop_workflow.store.engine import Savepoint

BATCH = 500  # timers claimed per transaction: fewer commits (fsyncs), a lock held well inside the busy timeout

__all__ = [
    "BATCH",
    "SCHEDULER",
    "SweepReport",
    "TickReport",
    "scheduler_actor",
    "sweep_guidelines",
    "sweep_timers",
    "tick",
    "upcoming",
]


def scheduler_actor(app: App) -> Actor:
    return Actor(name=SCHEDULER, roles=frozenset({"system"}), source="scheduler", os_user=None, auth=SYSTEM_AUTH)


def sweep_timers(app: App, *, dry_run: bool = False, batch_size: int = BATCH) -> SweepReport:
    """Fire every timer due on or before today (see the module docstring)."""
    started = time.perf_counter()
    report = SweepReport(kind="timers", on=app.clock.today(), dry_run=dry_run)
    if dry_run:
        with app.db.read() as s:
            for row in timer_repo.due(s, report.on):
                report.due += 1
                report.add(_item(row, "would_fire"))
    else:
        actor = scheduler_actor(app)
        failed: set[int] = set()
        with app.db.read() as s:  # an idle day reads one index entry and takes no write lock
            idle = not timer_repo.any_due(s, report.on)
        while not idle:
            batch = Batch()
            with app.db.write() as s:
                rows = timer_repo.claim_due(s, report.on, limit=batch_size, exclude=failed)
                # The batch's cases in one read, under the claim's lock (see _apply).
                cases = case_repo.case_rows_by_id(s, (row["case_id"] for row in rows))
                for row in rows:
                    report.due += 1
                    outcome = _run_timer(app, s, actor, row, batch, cases=cases)
                    report.add(_item(row, outcome))
                    _count(report, outcome)
                    if outcome == "failed":
                        failed.add(int(row["id"]))
            emit(app, batch)
            if not rows:
                break
    report.seconds = time.perf_counter() - started
    announce(app, report)
    return report


def _count(report: SweepReport, outcome: str) -> None:
    if outcome == "fired":
        report.fired += 1
    elif outcome == "alert":
        report.alerts += 1
    elif outcome == "skipped":
        report.skipped += 1
    elif outcome == "refused":
        report.refused += 1
        report.alerts += 1
    else:
        report.failed += 1


def _item(row: sa.RowMapping, outcome: str) -> dict[str, Any]:
    return {
        "timer": row["id"],
        "case_ref": row["case_ref"],
        "kind": row["kind"],
        "due_on": row["due_on"].isoformat(),
        "action": row["action"],
        "outcome": outcome,
    }


def _run_timer(
    app: App, s: Connection, actor: Actor, row: sa.RowMapping, batch: Batch, *, cases: dict[int, sa.RowMapping]
) -> str:
    """One timer in its own SAVEPOINT; returns fired, alert, skipped, refused or failed."""
    now = app.clock.now()
    savepoint = Savepoint(s)
    try:
        outcome = _apply(app, s, actor, row, now=now, batch=batch, cases=cases)
    except TransitionNotAllowed as exc:
        savepoint.rollback()
        _refused(app, s, row, exc, now=now, b=batch)
        return "refused"
    except ConcurrentUpdate as exc:
        savepoint.rollback()
        timer_repo.note_failure(s, row["id"], f"retry: {exc.code}")
        batch.failures.append({"timer": row["id"], "case_ref": row["case_ref"], "error": exc.message("en")})
        return "failed"
    except (IopError, sa.exc.SQLAlchemyError) as exc:
        savepoint.rollback()
        if isinstance(exc, sa.exc.OperationalError):
            raise  # the database itself is failing: stop the sweep, the next one retries
        message = exc.message("en") if isinstance(exc, IopError) else f"{type(exc).__name__}: {exc}"
        timer_repo.note_failure(s, row["id"], f"failed: {message}")
        batch.failures.append(
            {"timer": row["id"], "case_ref": row["case_ref"], "error": message, "traceback": traceback.format_exc()}
        )
        return "failed"
    except Exception as exc:  # one timer's bug never stops the others: isolated and reported
        savepoint.rollback()
        _broken(app, s, row, exc, now=now, b=batch)
        return "failed"
    savepoint.commit()
    return outcome


def _broken(app: App, s: Connection, row: sa.RowMapping, exc: Exception, *, now: datetime, b: Batch) -> None:
    """A timer that failed on an unexpected error: closed as failed, with an alert to an administrator."""
    message = f"{type(exc).__name__}: {exc}"
    timer_repo.mark(s, row["id"], now, outcome=f"failed: {message}"[:200])
    b.failures.append(
        {"timer": row["id"], "case_ref": row["case_ref"], "error": message, "traceback": traceback.format_exc()}
    )
    case = case_repo.case_row_by_id(s, row["case_id"])
    raise_alert(
        app,
        s,
        drafts.timer_failed(subject(case), row["action"], row["due_on"], message),
        now,
        b,
        case_id=case["id"],
        case_ref=case["ref"],
    )


def _apply(
    app: App,
    s: Connection,
    actor: Actor,
    row: sa.RowMapping,
    *,
    now: datetime,
    batch: Batch,
    cases: dict[int, sa.RowMapping],
) -> str:
    # The case as the batch read it, which only this batch can have changed since (SQLite: its write
    # lock; PostgreSQL: the claim's row locks): its first timer here takes that row, a later timer of
    # the same case reads it again.
    case = cases.pop(row["case_id"], None) or case_repo.case_row_by_id(s, row["case_id"])
    if case["state"] != row["state"]:
        # Leaving a state cancels its timers, so only a race or a hand edit gets here.
        timer_repo.mark(s, row["id"], now, outcome=f"skipped: case is in {case['state']}", cancelled=True)
        return "skipped"
    if not timer_repo.mark(s, row["id"], now, outcome=row["action"]):
        return "skipped"  # closed by someone else in the meantime
    verb, _, name = row["action"].partition(":")
    if verb == "fire":
        batch.records.append(fire_on(app, s, actor, case, name).record)
        return "fired"
    draft = drafts.case_alert(name, subject(case), row["due_on"])
    raise_alert(app, s, draft, now, batch, case_id=case["id"], case_ref=case["ref"])
    return "alert"


def _refused(
    app: App, s: Connection, row: sa.RowMapping, exc: TransitionNotAllowed, *, now: datetime, b: Batch
) -> None:
    """A refused timer is closed and handed to a person: never a silent pass."""
    codes = ", ".join(r.code for r in exc.reasons)
    timer_repo.mark(s, row["id"], now, outcome=f"refused: {codes}")
    case = case_repo.case_row_by_id(s, row["case_id"])
    draft = drafts.timer_refused(
        subject(case),
        exc.trigger,
        row["due_on"],
        "; ".join(r.sv for r in exc.reasons),
        "; ".join(r.en for r in exc.reasons),
    )
    raise_alert(app, s, draft, now, b, case_id=case["id"], case_ref=case["ref"])


@dataclass(frozen=True, slots=True)
class TickReport:
    """Every sweep, once: what ``iop scheduler tick`` prints."""

    on: date
    sweeps: tuple[SweepReport, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "dry_run": any(r.dry_run for r in self.sweeps),
            "fired": sum(r.fired for r in self.sweeps if r.kind == "timers"),
            "skipped": sum(r.skipped for r in self.sweeps),
            "alerts": sum(r.alerts for r in self.sweeps),
            "refused": sum(r.refused for r in self.sweeps),
            "failed": sum(r.failed for r in self.sweeps),
            "due": sum(r.due for r in self.sweeps),
            "sweeps": [r.as_dict() for r in self.sweeps],
        }


def tick(app: App, *, dry_run: bool = False) -> TickReport:
    """Run every sweep once: guidelines first (so their alerts precede the day's transitions)."""
    sweeps = (sweep_guidelines(app, dry_run=dry_run), sweep_timers(app, dry_run=dry_run))
    return TickReport(on=app.clock.today(), sweeps=sweeps)
