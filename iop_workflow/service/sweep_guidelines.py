"""The guidelines' sweep and the calendar of what is coming.

``sweep_guidelines`` warns a guideline's owner ahead of its last valid day and, once it has
passed, flags it expired and alerts every open case bound to it; it alerts the owner to the
guideline's own follow-up when that is due. ``upcoming`` lists every deadline until a day: open
timers, guideline warnings, expiries and follow-ups (``iop scheduler plan``).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.domain import alerts as drafts
from iop_workflow.domain.calendar import shift
from iop_workflow.domain.guidelines import review_due
from iop_workflow.municipalities import name_of
from iop_workflow.service.context import App
from iop_workflow.service.sweep_common import Batch, SweepReport, announce, emit, raise_alert, subject
from iop_workflow.store import alerts as alert_repo
from iop_workflow.store import timers as timer_repo


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
    batch = Batch()
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
    emit(app, batch)
    report.seconds = time.perf_counter() - started
    announce(app, report)
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


def _guideline_review(app: App, s: Connection, guideline_id: int, *, today: date, batch: Batch) -> int:
    """Alert the owner of guideline ``guideline_id`` to its own follow-up, re-checked under its row lock."""
    g = alert_repo.lock_guideline(s, guideline_id)
    due = _review_due(s, g, today)
    if due is None:
        return 0  # another sweeper was first
    draft = drafts.guideline_review_due(g["ref"], name_of(g["municipality"]), g["owner"], due)
    raise_alert(app, s, draft, app.clock.now(), batch, guideline_id=g["id"], guideline_ref=g["ref"])
    return 1


def _guideline(
    app: App, s: Connection, guideline_id: int, *, today: date, warn: timedelta, terminal: set[str], batch: Batch
) -> int:
    """Raise what guideline ``guideline_id`` needs today, re-checked under its row lock; return how many alerts."""
    g = alert_repo.lock_guideline(s, guideline_id)
    if not _guideline_due(s, g, today, warn):
        return 0  # another sweeper was first
    now, until = app.clock.now(), g["valid_until"]
    if today <= until:
        draft = drafts.guideline_expiring(g["ref"], name_of(g["municipality"]), g["owner"], until)
        raise_alert(app, s, draft, now, batch, guideline_id=g["id"], guideline_ref=g["ref"])
        return 1
    alert_repo.flag_expired(s, guideline_id, today)
    cases = alert_repo.open_cases_bound_to(s, guideline_id, terminal)
    draft = drafts.guideline_expired(g["ref"], name_of(g["municipality"]), g["owner"], until, len(cases))
    raise_alert(app, s, draft, now, batch, guideline_id=guideline_id, guideline_ref=g["ref"])
    for case in cases:
        draft = drafts.case_guideline_expired(subject(case), g["ref"], until)
        raise_alert(
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
