"""Outages: the database going away under a running daemon, two daemons on one database,
and a scheduler that was stopped for 30 days.

The daemons are real ``iop scheduler run`` processes on the real PostgreSQL server;
the outage is a TCP proxy between one daemon and the server that is cut and restored,
so the shared server stays up for every other test. Cases are prepared through the
API with a FakeClock in January 2026, so their deadlines lie before the date the
daemons' system clock sees.

CI runs a sweep batch and 200 more due timers; ``IOP_OUTAGE_TIMERS=2000`` runs the full size.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import FakeClock, Iop
from iop_workflow.service.sweep import BATCH
from iop_workflow.settings import Settings
from tests.cli_helpers import Backend, Cli, today
from tests.conftest import STOCKHOLM
from tests.helpers import add_orgs, open_case, prepare_signing, seed_due, to_assessment
from tests.pg import PG_URL
from tests.procs import Daemon, Gate
from tests.tcp_proxy import Proxy

TIMERS = int(os.environ.get("IOP_OUTAGE_TIMERS", str(BATCH + 200)))  # a second batch, at least
SIGNED = 5


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


OPEN_DUE = "SELECT count(*) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_on <= CURRENT_DATE"


def assert_each_timer_fired_once(backend: Backend, settings: Settings, signed: list[str], idle: int) -> None:
    """No timer lost (none due is open), none doubled (one alert per idle case, one activation per signed)."""
    assert query(backend.url, OPEN_DUE) == [(0,)]
    per_case = query(backend.url, "SELECT count(*), count(DISTINCT case_id) FROM alerts WHERE kind = 'case_idle'")
    assert per_case == [(idle, idle)]
    assert query(backend.url, "SELECT count(*) FROM alerts WHERE kind = 'guideline_expired'") == [(1,)]
    with Iop.connect(backend.url, settings=settings, audit_log=False) as iop:
        for ref in signed:
            assert [r["trigger"] for r in iop.history(ref) if r["source"] == "scheduler"] == ["activate"]
            assert iop.case(ref)["state"] == "active"
        assert iop.verify().ok
    assert query(backend.url, "SELECT count(*) FROM transition_log WHERE source = 'scheduler'") == [(len(signed),)]


def is_sweep(event: dict[str, Any], kind: str = "timers") -> bool:
    return event["event"] == "sweep" and event.get("kind") == kind


class AlertHold:
    """Hold the sweep, mid-transaction, at the INSERT of one case's alert, until :meth:`release`.

    A trigger in the test's own schema makes that INSERT wait for an advisory lock this
    object holds (the key is the schema's, so parallel tests do not meet).
    """

    def __init__(self, backend: Backend, case_id: int) -> None:
        import psycopg

        schema = backend.schema
        backend.execute(
            f"CREATE FUNCTION {schema}.hold_alert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.case_id = {case_id} THEN PERFORM pg_advisory_xact_lock(hashtext('{schema}')); END IF; "
            "RETURN NEW; END $$",
            f"CREATE TRIGGER hold_alert BEFORE INSERT ON {schema}.alerts FOR EACH ROW "
            f"EXECUTE FUNCTION {schema}.hold_alert()",
        )
        self.schema = schema
        self.conn = psycopg.connect(PG_URL, autocommit=True)
        self.conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (schema,))
        self.held = True

    def waiting(self) -> set[int]:
        """The client ports (as the server sees them) of backends waiting at the hold."""
        rows = self.conn.execute("SELECT client_port FROM pg_stat_activity WHERE wait_event = 'advisory'").fetchall()
        return {int(port) for (port,) in rows if port is not None}

    def backends(self, ports: set[int]) -> set[int]:
        """The process ids of the server backends serving connections from ``ports``."""
        rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)", (sorted(ports),))
        return {int(pid) for (pid,) in rows.fetchall()}

    def alive(self, pids: set[int]) -> bool:
        rows = self.conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (sorted(pids),))
        return bool(rows.fetchone()[0])  # type: ignore[index]

    def release(self) -> None:
        if self.held:
            self.conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (self.schema,))
            self.held = False

    def close(self) -> None:
        """Release the hold and take the probe out: verify names any trigger the schema does not have."""
        self.release()
        self.conn.execute(f"DROP TRIGGER IF EXISTS hold_alert ON {self.schema}.alerts")
        self.conn.execute(f"DROP FUNCTION IF EXISTS {self.schema}.hold_alert()")
        self.conn.close()


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def is_failure(event: dict[str, Any], job: str = "sweep-timers") -> bool:
    return bool(event["event"] == "sweep_failed" and event["job"] == job)


@pytest.mark.postgres
def test_database_lost_mid_sweep_daemon_logs_retries_and_resumes(
    pg_backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    backend = pg_backend
    signed = seed_due(backend.url, settings, idle=TIMERS, signed=SIGNED)
    total = TIMERS + SIGNED
    # Held at the alert of a timer in the middle of the sweep's second batch: the first has committed.
    assert total > BATCH
    position = BATCH + min(BATCH, total - BATCH) // 2
    [(case_id,)] = query(backend.url, f"SELECT case_id FROM timers ORDER BY due_on, id OFFSET {position} LIMIT 1")
    hold = AlertHold(backend, int(case_id))  # type: ignore[call-overload]
    proxy = Proxy(backend.url)
    cli = Cli(tmp_path, proxy.url())
    daemon = Daemon(cli.env, "--every", "3600")  # every sweep after the first is a retry
    try:
        wait_until(lambda: bool(hold.waiting() & proxy.server_side_ports()))
        cut_off = hold.backends(proxy.server_side_ports())
        proxy.cut()  # the database goes away in the middle of the second batch
        failed = daemon.wait_for(is_failure)
        hold.release()
        wait_until(lambda: not hold.alive(cut_off))  # the server has rolled the half-written batch back
        left = query(backend.url, OPEN_DUE)[0][0]
        assert left == total - BATCH  # the first batch stays fired, the second is undone
        again = daemon.wait_for(is_failure, after=failed + 1)  # still down: it retries, and says so again
        proxy.restore()
        resumed = daemon.wait_for(is_sweep, after=again + 1)
    finally:
        hold.close()
        status = daemon.stop()
        proxy.close()
    assert status == 0
    # APScheduler's own warning when a sweep outlasts the interval is the only text that is not an event.
    assert all("maximum number of running instances reached" in line for line in daemon.other), daemon.other
    assert (daemon.events[resumed]["due"], daemon.events[resumed]["failed"]) == (left, 0)
    failures = [e for e in daemon.events if e["event"] == "sweep_failed"]
    assert [(e["code"], e["retry_in"]) for e in failures] == [("database_unavailable", 1), ("database_unavailable", 2)]
    assert "server closed the connection unexpectedly" in failures[0]["error"]
    assert "Connection refused" in failures[1]["error"]
    assert all("traceback" not in e and proxy_host(proxy) in e["error"] for e in failures)
    assert_each_timer_fired_once(backend, settings, signed, TIMERS)
    # The stream never doubles a record (a batch whose commit was cut off may be missing from it:
    # `iop audit export` regenerates it from the database).
    streamed = [(e["case_ref"], e["case_seq"]) for e in daemon.events if e["event"] == "transition"]
    assert len(streamed) == len(set(streamed)) <= SIGNED


def proxy_host(proxy: Proxy) -> str:
    return f"127.0.0.1:{proxy.port}"


@pytest.mark.postgres
def test_a_failed_sweep_is_retried_soon_not_at_the_next_interval(
    pg_backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    """The database is down when the daemon starts; an hour-long interval must not mean an hour's wait."""
    backend = pg_backend
    signed = seed_due(backend.url, settings, idle=3, signed=1)
    proxy = Proxy(backend.url)
    proxy.cut()
    cli = Cli(tmp_path, proxy.url())
    daemon = Daemon(cli.env, "--every", "3600")
    try:
        first = daemon.wait_for(is_failure)
        assert daemon.events[first]["retry_in"] == 1
        second = daemon.wait_for(is_failure, after=first + 1)
        assert daemon.events[second]["retry_in"] == 2  # backing off while the database stays away
        proxy.restore()
        daemon.wait_for(lambda e: is_sweep(e) and e["fired"] == 1, after=second + 1, timeout=30)
        daemon.wait_for(lambda e: is_sweep(e, "guidelines") and e["alerts"] == 1, timeout=30)
    finally:
        status = daemon.stop()
        proxy.close()
    assert status == 0
    assert_each_timer_fired_once(backend, settings, signed, 3)


@pytest.mark.postgres
def test_two_daemons_on_one_database_fire_each_timer_once(
    pg_backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    """Two ``iop scheduler run`` processes released at once on one schema; their catch-up sweeps overlap."""
    backend = pg_backend
    signed = seed_due(backend.url, settings, idle=TIMERS, signed=SIGNED)
    cli = Cli(tmp_path, backend.url)
    gate = Gate(tmp_path)
    daemons = [Daemon(cli.env, "--every", "1", gate=gate) for _ in range(2)]
    try:
        gate.open([d.proc for d in daemons])
        for daemon in daemons:  # each has run a sweep that found nothing left to do
            daemon.wait_for(lambda e: is_sweep(e) and e["due"] == 0)
    finally:
        statuses = [d.stop() for d in daemons]
    assert statuses == [0, 0]
    assert all("Traceback" not in line for d in daemons for line in d.other)
    assert not [e for d in daemons for e in d.events if e["event"] in {"sweep_failed", "timer_failed"}]
    alerts = [sum(e["alerts"] for e in d.events if is_sweep(e)) for d in daemons]
    fired = [sum(e["fired"] for e in d.events if is_sweep(e)) for d in daemons]
    assert sum(alerts) == TIMERS and sum(fired) == SIGNED  # between them, each timer once
    assert all(n > 0 for n in alerts)  # and both took part: the gate made their sweeps overlap
    assert_each_timer_fired_once(backend, settings, signed, TIMERS)


OUTAGE_DAYS = 30


def at_nine(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=STOCKHOLM)


def build_month(url: str, settings: Settings, first: date) -> list[str]:
    """Deadlines on the days after ``first``: an idle alert on each of the next 30 days, and an
    agreement start every third day; the refs of the signed cases. Built on a FakeClock that ends on ``first``."""
    idle_days = settings.lead_times.idle_days
    clock = FakeClock(at_nine(first - timedelta(days=idle_days - 1)))
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init(simulation=True)  # `tick --at` a month ahead: the stored clock moves there
        add_orgs(iop)
        for day in range(1, OUTAGE_DAYS + 1):  # opened `idle_days` before the day its alert is due
            clock.set_date(first + timedelta(days=day - idle_days))
            open_case(iop)
        clock.set_date(first)
        signed = []
        for day in range(3, OUTAGE_DAYS + 1, 3):
            ref = to_assessment(iop)
            start = first + timedelta(days=day)
            prepare_signing(iop, ref, start=start.isoformat(), end=(start + timedelta(days=729)).isoformat())
            iop.fire(ref, "sign", actor="eva")
            signed.append(ref)
    return signed


def outcome(url: str, settings: Settings) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """What the scheduler did: its transitions, and the alerts it raised (with their due dates)."""
    with Iop.connect(url, settings=settings, audit_log=False) as iop:
        moves = sorted((r["case_ref"], r["trigger"], r["to_state"]) for r in iop.export() if r["source"] == "scheduler")
        alerts = sorted((a["case_ref"] or a["guideline_ref"], a["kind"], a["due_on"]) for a in iop.alerts())
    return moves, alerts


def test_thirty_days_down_one_tick_fires_each_missed_timer_once(
    backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    """``iop scheduler tick --at`` after a month without a scheduler does what 30 daily ticks would have."""
    first = today()
    signed = build_month(backend.url, settings, first)
    cli = Cli(tmp_path, backend.url)
    back = str(first + timedelta(days=OUTAGE_DAYS))
    report = cli.ok("--json", "scheduler", "tick", "--at", back).json()
    assert (report["fired"], report["alerts"], report["failed"], report["refused"]) == (
        len(signed),
        OUTAGE_DAYS + 1,
        0,
        0,
    )
    again = cli.ok("--json", "scheduler", "tick", "--at", back).json()
    assert (again["due"], again["fired"], again["alerts"]) == (0, 0, 0)

    # The same month on a scheduler that never stopped: one tick a day.
    daily_url = f"sqlite:///{tmp_path / 'daily.db'}"
    assert build_month(daily_url, settings, first) == signed
    clock = FakeClock(at_nine(first))
    with Iop.connect(daily_url, clock=clock, settings=settings, audit_log=False) as iop:
        for day in range(1, OUTAGE_DAYS + 1):
            clock.set_date(first + timedelta(days=day))
            assert iop.tick()["failed"] == 0
    moves, alerts = outcome(backend.url, settings)
    assert (moves, alerts) == outcome(daily_url, settings)
    assert moves == sorted((ref, "activate", "active") for ref in signed)  # each once
    assert len(alerts) == len(set(alerts)) == OUTAGE_DAYS + 1
    assert query(backend.url, OPEN_DUE.replace("CURRENT_DATE", f"'{back}'")) == [(0,)]
