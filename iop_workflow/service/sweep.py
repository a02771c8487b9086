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

``sweep_guidelines`` warns a guideline's owner ahead of its last valid day and,
once it has passed, flags it expired and alerts every open case bound to it.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain import alerts as drafts
from iop_workflow.domain.alerts import AlertDraft, CaseSubject
from iop_workflow.domain.calendar import shift
from iop_workflow.domain.guidelines import review_due
from iop_workflow.errors import ConcurrentUpdate, IopError, TransitionNotAllowed
from iop_workflow.municipalities import name_of
from iop_workflow.service.context import SYSTEM_AUTH, Actor, App
from iop_workflow.service.workflow import fire_on
from iop_workflow.store import alerts as alert_repo
from iop_workflow.store import cases as case_repo
from iop_workflow.store import timers as timer_repo
from iop_workflow.store.engine import Savepoint

SCHEDULER = "system"
BATCH = 500  # timers claimed per transaction: fewer commits (fsyncs), a lock held well inside the busy timeout
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
class _Batch:
    """What a batch committed, emitted only after the commit."""

    records: list[LogRecord] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


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
            batch = _Batch()
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
            _emit(app, batch)
            if not rows:
                break
    report.seconds = time.perf_counter() - started
    _announce(app, report)
    return report


def _announce(app: App, report: SweepReport) -> None:
    """One structlog line per sweep: its figures, without the per-timer list."""
    app.sink.event("sweep", **{k: v for k, v in report.as_dict().items() if k not in {"items", "items_omitted"}})


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
    app: App, s: Connection, actor: Actor, row: sa.RowMapping, batch: _Batch, *, cases: dict[int, sa.RowMapping]
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


def _broken(app: App, s: Connection, row: sa.RowMapping, exc: Exception, *, now: datetime, b: _Batch) -> None:
    """A timer that failed on an unexpected error: closed as failed, with an alert to an administrator."""
    message = f"{type(exc).__name__}: {exc}"
    timer_repo.mark(s, row["id"], now, outcome=f"failed: {message}"[:200])
    b.failures.append(
        {"timer": row["id"], "case_ref": row["case_ref"], "error": message, "traceback": traceback.format_exc()}
    )
    case = case_repo.case_row_by_id(s, row["case_id"])
    _raise(
        app,
        s,
        drafts.timer_failed(_subject(case), row["action"], row["due_on"], message),
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
    batch: _Batch,
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
    draft = drafts.case_alert(name, _subject(case), row["due_on"])
    _raise(app, s, draft, now, batch, case_id=case["id"], case_ref=case["ref"])
    return "alert"


def _refused(
    app: App, s: Connection, row: sa.RowMapping, exc: TransitionNotAllowed, *, now: datetime, b: _Batch
) -> None:
    """A refused timer is closed and handed to a person: never a silent pass."""
    codes = ", ".join(r.code for r in exc.reasons)
    timer_repo.mark(s, row["id"], now, outcome=f"refused: {codes}")
    case = case_repo.case_row_by_id(s, row["case_id"])
    draft = drafts.timer_refused(
        _subject(case),
        exc.trigger,
        row["due_on"],
        "; ".join(r.sv for r in exc.reasons),
        "; ".join(r.en for r in exc.reasons),
    )
    _raise(app, s, draft, now, b, case_id=case["id"], case_ref=case["ref"])


def _subject(case: sa.RowMapping) -> CaseSubject:
    return CaseSubject(ref=case["ref"], title=case["title"], officer=case["officer"], state=case["state"])


def _raise(
    app: App,
    s: Connection,
    draft: AlertDraft,
    now: datetime,
    batch: _Batch,
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


def _emit(app: App, batch: _Batch) -> None:
    for record in batch.records:
        app.sink.emit(record)
    for alert in batch.alerts:
        app.sink.event("alert", **alert)
    for failure in batch.failures:
        app.sink.event("timer_failed", **failure)


def sweep_guidelines(app: App, *, dry_run: bool = False) -> SweepReport:
    """Warn ahead of a guideline's last valid day; flag it and its open cases once it has passed; alert the
    owner to the guideline's own follow-up (``guideline_review_months``, Kungälv's yearly one) when it is due."""
    started = time.perf_counter()
    today = app.clock.today()
    report = SweepReport(kind="guidelines", on=today, dry_run=dry_run)
    warn = timedelta(days=app.settings.lead_times.guideline_warning_days)
    terminal = {v for v, st in app.definition.states.items() if st.terminal}
    with app.db.read() as s:
        pending = [g for g in alert_repo.guidelines_with_end(s) if _guideline_due(s, g, today, warn)]
        reviews = [g for g in alert_repo.guidelines_with_review(s) if _review_due(s, g, today) is not None]
    batch = _Batch()
    if (pending or reviews) and not dry_run:
        with app.db.write() as s:
            for g in pending:
                report.alerts += _guideline(app, s, g["id"], today=today, warn=warn, terminal=terminal, batch=batch)
            for g in reviews:
                report.alerts += _guideline_review(app, s, g["id"], today=today, batch=batch)
    for g in pending:
        outcome = "expired" if today > g["valid_until"] else "warned"
        report.add({"guideline_ref": g["ref"], "due_on": g["valid_until"].isoformat(), "outcome": outcome})
    for g in reviews:
        due = review_due(_review_start(g), g["guideline_review_months"], g["valid_until"], today)
        report.add({"guideline_ref": g["ref"], "due_on": due.isoformat() if due else None, "outcome": "review_due"})
    report.due = len(pending) + len(reviews)
    _emit(app, batch)
    report.seconds = time.perf_counter() - started
    _announce(app, report)
    return report


def _guideline_due(s: Connection, g: sa.RowMapping, today: date, warn: timedelta) -> bool:
    until: date = g["valid_until"]
    if today > until:
        return g["expired_flagged_on"] is None
    if shift(until, -warn.days) <= today:
        return not alert_repo.exists(s, kind="guideline_expiring", guideline_id=g["id"], due_on=until)
    return False


def _review_start(g: sa.RowMapping) -> date | None:
    """A guideline's own follow-ups count from its decision (else from its first valid day)."""
    start: date | None = g["decided_on"] or g["valid_from"]
    return start


def _review_due(s: Connection, g: sa.RowMapping, today: date) -> date | None:
    """The follow-up of guideline row ``g`` due today or before and not yet alerted, if any."""
    due = review_due(_review_start(g), g["guideline_review_months"], g["valid_until"], today)
    if due is None or alert_repo.exists(s, kind="guideline_review_due", guideline_id=g["id"], due_on=due):
        return None
    return due


def _guideline_review(app: App, s: Connection, guideline_id: int, *, today: date, batch: _Batch) -> int:
    """Alert the owner of guideline ``guideline_id`` to its own follow-up, re-checked under its row lock."""
    g = alert_repo.lock_guideline(s, guideline_id)
    due = _review_due(s, g, today)
    if due is None:
        return 0  # another sweeper was first
    draft = drafts.guideline_review_due(g["ref"], name_of(g["municipality"]), g["owner"], due)
    _raise(app, s, draft, app.clock.now(), batch, guideline_id=g["id"], guideline_ref=g["ref"])
    return 1


def _guideline(
    app: App, s: Connection, guideline_id: int, *, today: date, warn: timedelta, terminal: set[str], batch: _Batch
) -> int:
    """Raise what guideline ``guideline_id`` needs today, re-checked under its row lock; return how many alerts."""
    g = alert_repo.lock_guideline(s, guideline_id)
    if not _guideline_due(s, g, today, warn):
        return 0  # another sweeper was first
    now, until = app.clock.now(), g["valid_until"]
    if today <= until:
        draft = drafts.guideline_expiring(g["ref"], name_of(g["municipality"]), g["owner"], until)
        _raise(app, s, draft, now, batch, guideline_id=g["id"], guideline_ref=g["ref"])
        return 1
    alert_repo.flag_expired(s, guideline_id, today)
    cases = alert_repo.open_cases_bound_to(s, guideline_id, terminal)
    draft = drafts.guideline_expired(g["ref"], name_of(g["municipality"]), g["owner"], until, len(cases))
    _raise(app, s, draft, now, batch, guideline_id=guideline_id, guideline_ref=g["ref"])
    for case in cases:
        draft = drafts.case_guideline_expired(_subject(case), g["ref"], until)
        _raise(
            app,
            s,
            draft,
            now,
            batch,
            case_id=case["id"],
            case_ref=case["ref"],
            guideline_id=guideline_id,
            guideline_ref=g["ref"],
        )
    return 1 + len(cases)


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


def upcoming(app: App, until: date) -> list[dict[str, Any]]:
    """Every deadline from now until ``until``: open timers, guideline warnings, expiries and follow-ups."""
    warn = timedelta(days=app.settings.lead_times.guideline_warning_days)
    today = app.clock.today()
    out: list[dict[str, Any]] = []
    with app.db.read() as s:
        for t in timer_repo.upcoming(s, until):
            out.append(
                {
                    "due_on": t["due_on"].isoformat(),
                    "case_ref": t["case_ref"],
                    "guideline_ref": None,
                    "kind": t["kind"],
                    "action": t["action"],
                    "who": t["officer"],
                }
            )
        for g in alert_repo.guidelines_with_end(s):
            if g["expired_flagged_on"] is not None:
                continue
            expiring, expired = shift(g["valid_until"], -warn.days), shift(g["valid_until"], 1)
            warned = alert_repo.exists(s, kind="guideline_expiring", guideline_id=g["id"], due_on=g["valid_until"])
            for kind, day in (("guideline_expiring", expiring), ("guideline_expired", expired)):
                # An expiry not yet flagged is listed even when overdue; a moot or raised warning is not.
                if day <= until and (kind == "guideline_expired" or (g["valid_until"] >= today and not warned)):
                    out.append(
                        {
                            "due_on": day.isoformat(),
                            "case_ref": None,
                            "guideline_ref": g["ref"],
                            "kind": kind,
                            "action": f"alert:{kind}",
                            "who": g["owner"],
                        }
                    )
        for g in alert_repo.guidelines_with_review(s):
            for day in _reviews_between(s, g, today, until):
                out.append(
                    {
                        "due_on": day.isoformat(),
                        "case_ref": None,
                        "guideline_ref": g["ref"],
                        "kind": "guideline_review_due",
                        "action": "alert:guideline_review_due",
                        "who": g["owner"],
                    }
                )
    out.sort(key=lambda item: (item["due_on"], item["case_ref"] or "", item["guideline_ref"] or ""))
    return out


def _reviews_between(s: Connection, g: sa.RowMapping, today: date, until: date) -> list[date]:
    """A guideline's own follow-ups from today to ``until``, and an earlier one not yet alerted."""
    days = []
    last = min(until, g["valid_until"]) if g["valid_until"] is not None else until
    day = review_due(_review_start(g), g["guideline_review_months"], g["valid_until"], last)
    while day is not None and day > today:
        days.append(day)
        day = review_due(_review_start(g), g["guideline_review_months"], g["valid_until"], shift(day, -1))
    overdue = _review_due(s, g, today)
    return sorted([*days, *([overdue] if overdue is not None else [])])
