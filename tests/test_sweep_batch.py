"""The sweep's batch path changes nothing but speed: the same database as the per-timer path.

Two databases are built the same way (same fake clock, same calls); one is swept with the
batch path, the other with every timer going the per-timer way; after each sweep their
cases, chains, timers and alerts must be identical. The scenario mixes what the batch path
takes (plain activations, reviews, expiries) with what it must hand over: a refused
transition, a trigger the definition lacks, a timer of a state its case has left, alerts,
and several due timers of one case in one batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import FakeClock, Iop
from iop_workflow.service import sweep
from iop_workflow.settings import Settings
from iop_workflow.store import bulk
from tests.conftest import STOCKHOLM
from tests.helpers import add_orgs, open_case, prepare_signing, to_assessment
from tests.pg import fresh_schema, require_postgres, schema_url

# (start, end) of each signed case's agreement: activations, renewal reviews and expiries
# spread over the sweep dates below, several due on one day.
AGREEMENTS = [
    ("2026-02-01", "2027-01-31"), ("2026-02-01", "2028-01-31"), ("2026-02-02", "2027-02-01"),
    ("2026-03-01", "2027-02-28"), ("2026-03-01", "2027-02-28"), ("2026-04-15", "2029-04-14"),
]  # fmt: skip
SWEEP_DATES = [date(2026, 2, 1), date(2026, 2, 3), date(2026, 3, 20), date(2026, 9, 1), date(2027, 6, 1)]
BATCH = 3  # small, so the scenario spans several batches and one case's timers share a batch


def build(iop: Iop) -> None:
    """The same cases, in the same order, on the same fake dates, every time."""
    iop.init()
    add_orgs(iop)
    for start, end in AGREEMENTS:
        ref = to_assessment(iop)
        prepare_signing(iop, ref, start=start, end=end)
        iop.fire(ref, "sign", actor="eva")
    refused = to_assessment(iop)
    prepare_signing(iop, refused, start="2026-05-01", end="2027-04-30")
    iop.fire(refused, "sign", actor="eva")
    failing, stray = open_case(iop), open_case(iop)
    open_case(iop)  # an idle case: its alert goes the per-timer way
    with iop.app.db.engine.begin() as conn:
        # The refused case's activation moved before its agreement starts: the guard refuses it.
        conn.execute(sa.text("UPDATE timers SET due_on = :d WHERE action = 'fire:activate' AND case_id = "
                             "(SELECT id FROM cases WHERE ref = :r)"), {"d": date(2026, 2, 1), "r": refused})  # fmt: skip
        conn.execute(sa.text("UPDATE timers SET action = 'fire:no_such_trigger' WHERE case_id = "
                             "(SELECT id FROM cases WHERE ref = :r)"), {"r": failing})  # fmt: skip
        conn.execute(sa.text("UPDATE timers SET state = 'dialogue' WHERE case_id = "
                             "(SELECT id FROM cases WHERE ref = :r)"), {"r": stray})  # fmt: skip


def snapshot(iop: Iop) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that matters, without the ids and global seqs that insertion order decides."""
    queries = {
        "cases": "SELECT ref, state, version, period, review_round, review_started_on, review_rounds_in_period,"
        " end_reason, state_entered_on, updated_at, guideline_id FROM cases",
        "log": "SELECT case_ref, case_seq, trigger, from_state, to_state, actor, source, at, data, prev_hash, hash"
        " FROM transition_log",
        "timers": "SELECT c.ref, t.kind, t.state, t.due_on, t.action, t.planned_at, t.fired_at, t.cancelled_at,"
        " t.outcome FROM timers t JOIN cases c ON c.id = t.case_id",
        "alerts": "SELECT kind, case_id, guideline_id, due_on, recipient, message_sv, message_en FROM alerts",
    }
    with iop.app.db.engine.connect() as conn:
        return {
            name: sorted(tuple(map(str, row)) for row in conn.execute(sa.text(sql))) for name, sql in queries.items()
        }


COUNTS = ("due", "fired", "skipped", "alerts", "refused", "failed")


def counts(report: sweep.SweepReport) -> tuple[int, ...]:
    return tuple(getattr(report, name) for name in COUNTS)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'batched.db'}", f"sqlite:///{tmp_path / 'one_by_one.db'}"
        return
    require_postgres()
    with fresh_schema() as first, fresh_schema() as second:
        yield schema_url(first, driver=True), schema_url(second, driver=True)


def connect(url: str, settings: Settings) -> tuple[Iop, FakeClock]:
    clock = FakeClock(datetime(2026, 1, 12, 9, 0, tzinfo=STOCKHOLM))
    return Iop.connect(url, clock=clock, settings=settings, audit_log=False), clock


def test_batch_path_writes_exactly_what_the_per_timer_path_writes(
    two_urls: tuple[str, str], settings: Settings
) -> None:
    (fast, fast_clock), (slow, slow_clock) = connect(two_urls[0], settings), connect(two_urls[1], settings)
    with fast, slow:
        build(fast)
        build(slow)
        assert snapshot(fast) == snapshot(slow)  # the builds agree, so any difference is the sweep's
        totals = [0] * len(COUNTS)
        for day in SWEEP_DATES:
            fast_clock.set_date(day)
            slow_clock.set_date(day)
            batched = sweep.sweep_timers(fast.app, batch_size=BATCH)
            one_by_one = sweep.sweep_timers(slow.app, batch_size=BATCH, batched=False)
            assert counts(batched) == counts(one_by_one), day
            assert snapshot(fast) == snapshot(slow), day
            totals = [t + c for t, c in zip(totals, counts(batched), strict=True)]
        summary = dict(zip(COUNTS, totals, strict=True))
        # Every kind of outcome happened, so every hand-over to the per-timer path was exercised.
        assert all(summary[k] > 0 for k in ("fired", "skipped", "alerts", "refused", "failed")), summary
        assert summary["fired"] >= 2 * len(AGREEMENTS)
        assert fast.verify().ok and slow.verify().ok


def test_a_failed_set_wise_write_rolls_back_and_the_batch_goes_one_by_one(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the log insert of every batch fails after the marks and case updates ran.

    Were those not rolled back with the SAVEPOINT, the per-timer path would find the timers
    already closed and skip them: the cases would move without their log records.
    """
    (fast, fast_clock), (slow, slow_clock) = (
        connect(f"sqlite:///{tmp_path / 'a.db'}", settings),
        connect(f"sqlite:///{tmp_path / 'b.db'}", settings),
    )
    attempts: list[int] = []

    def failing_insert(s: sa.Connection, records: Any) -> list[int]:
        attempts.append(len(records))
        raise bulk.BulkMismatch("injected: the log insert touched other rows than expected")

    with fast, slow:
        build(fast)
        build(slow)
        monkeypatch.setattr(bulk, "insert_logs", failing_insert)
        for day in SWEEP_DATES[:3]:
            fast_clock.set_date(day)
            slow_clock.set_date(day)
            assert counts(sweep.sweep_timers(fast.app, batch_size=BATCH)) == counts(
                sweep.sweep_timers(slow.app, batch_size=BATCH, batched=False)
            )
            assert snapshot(fast) == snapshot(slow), day
        assert attempts, "the batch path never ran: the fault was never injected"
        assert fast.verify().ok
