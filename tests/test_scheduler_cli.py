"""The scheduler from the outside: ``iop scheduler tick|plan|run`` and ``iop alerts`` as real processes.

Cases are prepared through the Python API with a FakeClock in January 2026, so their
deadlines lie before the real date the subprocesses' system clock sees.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.settings import Settings
from tests.cli_helpers import IOP, Backend, Cli, today
from tests.helpers import seed_due

EXPECTED_ALERT_KEYS = {"id", "kind", "case_ref", "guideline_ref", "due_on", "message", "acknowledged"}


def state_of(url: str, settings: Settings, ref: str) -> str:
    with Iop.connect(url, settings=settings, audit_log=False) as iop:
        return str(iop.case(ref)["state"])


def test_tick_plan_and_alerts_from_the_command_line(backend: Backend, tmp_path: Path, settings: Settings) -> None:
    [ref] = seed_due(backend.url, settings, signed=1, idle=1)
    cli = Cli(tmp_path, backend.url)
    plan = cli.ok("--json", "scheduler", "plan", "--until", str(today())).json()
    assert [(p["case_ref"] is not None, p["action"]) for p in plan if p["case_ref"] == ref] == [(True, "fire:activate")]
    dry = cli.ok("--json", "scheduler", "tick", "--dry-run").json()
    assert dry["dry_run"] and dry["fired"] == 0 and state_of(backend.url, settings, ref) == "signed"
    report = cli.ok("--json", "scheduler", "tick").json()
    assert {"fired", "skipped", "alerts", "failed"} <= report.keys()
    assert (report["fired"], report["failed"]) == (1, 0)
    assert report["alerts"] >= 2  # the idle case, and Kungälv's expired guideline
    assert state_of(backend.url, settings, ref) == "active"
    again = cli.ok("--json", "scheduler", "tick").json()
    assert (again["fired"], again["alerts"]) == (0, 0)
    alerts = cli.ok("--json", "--lang", "en", "alerts", "list").json()
    assert all(a.keys() >= EXPECTED_ALERT_KEYS for a in alerts)
    idle = next(a for a in alerts if a["kind"] == "case_idle")
    assert "idle" in idle["message"] and not idle["acknowledged"]
    text = cli.ok("alerts", "list").out
    assert "hanterats" in text and "case_idle" not in text and "KS2019/2069" in text  # the kind by its label
    acked = cli.ok("--json", "--actor", "kim", "alerts", "ack", str(idle["id"])).json()
    assert acked["acknowledged"] and acked["acknowledged_by"] == "kim"
    assert all(a["id"] != idle["id"] for a in cli.ok("--json", "alerts", "list").json())
    twice = cli("alerts", "ack", str(idle["id"]))
    assert twice.status == 6 and "redan kvitterat" in twice.err and "Traceback" not in twice.text
    missing = cli("alerts", "ack", "99999")
    assert missing.status == 4 and "Traceback" not in missing.text


def test_tick_refuses_to_backdate_but_may_look_back(tmp_path: Path, settings: Settings) -> None:
    url = f"sqlite:///{tmp_path / 'iop.db'}"
    seed_due(url, settings, signed=1, simulation=True)  # the simulated clock stands at 2026-01-12
    cli = Cli(tmp_path, url)
    refused = cli("scheduler", "tick", "--at", "2026-01-11")
    assert refused.status == 2 and "tiden går bara framåt" in refused.err and "Traceback" not in refused.text
    looked = cli.ok("--json", "scheduler", "tick", "--at", "2026-01-10", "--dry-run").json()
    assert looked["on"] == "2026-01-10" and looked["due"] >= 1 and looked["fired"] == 0  # Kungälv's expiry is due
    future = cli.ok("--json", "scheduler", "tick", "--at", str(today() + timedelta(days=400))).json()
    assert future["fired"] >= 1
    bad = cli("scheduler", "tick", "--at", "2026-02-30")
    assert bad.status == 2 and "Traceback" not in bad.text


@pytest.mark.postgres
def test_two_processes_fire_each_timer_exactly_once_postgres(
    pg_backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    """Two ``iop scheduler tick`` processes at once over 1,000 due alert timers and 3 activations."""
    backend = pg_backend
    refs = seed_due(backend.url, settings, signed=3, idle=1000)
    cli = Cli(tmp_path, backend.url)
    command = [*IOP, "--json", "scheduler", "tick"]
    pipe = subprocess.PIPE
    procs = [subprocess.Popen(command, env=cli.env, stdout=pipe, stderr=pipe, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    reports = [json.loads(out) for out, _err in outs]
    assert sum(r["fired"] for r in reports) == sum(_count(backend, "transition_log WHERE source = 'scheduler'"))
    assert _count(backend, "alerts WHERE kind = 'case_idle'") == [1000]
    assert _count(backend, "alerts WHERE kind = 'guideline_expired'") == [1]
    assert _count(backend, "timers WHERE fired_at IS NOT NULL AND action LIKE 'fire:%'") == _count(
        backend, "transition_log WHERE source = 'scheduler'"
    )
    assert all(state_of(backend.url, settings, ref) in {"active", "review", "ended"} for ref in refs)
    with Iop.connect(backend.url, settings=settings, audit_log=False) as iop:
        assert iop.verify().ok


def _count(backend: Backend, where: str) -> list[int]:
    engine = sa.create_engine(backend.url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [int(conn.execute(sa.text(f"SELECT count(*) FROM {where}")).scalar_one())]
    finally:
        engine.dispose()


def test_daemon_fires_a_due_timer_and_stops_cleanly_on_sigterm(tmp_path: Path, settings: Settings) -> None:
    """The real ``iop scheduler run``: catch-up sweep at start, a structlog line per sweep, exit 0."""
    url = f"sqlite:///{tmp_path / 'iop.db'}"
    [ref] = seed_due(url, settings, signed=1)
    cli = Cli(tmp_path, url)
    proc = subprocess.Popen(
        [*IOP, "scheduler", "run", "--every", "1"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, proc.kill)  # a hung daemon fails the test instead of hanging it
    watchdog.start()
    events: list[dict[str, Any]] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("{"):
                events.append(json.loads(line))
            if any(e["event"] == "sweep" and e["kind"] == "timers" and e["fired"] >= 1 for e in events):
                break
        proc.send_signal(signal.SIGTERM)
        _out, rest = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
    events += [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, rest
    names = [e["event"] for e in events]
    assert names[0] == "scheduler_started"
    assert set(events[0]["jobs"]) == {"sweep-timers", "sweep-guidelines", "audit-checkpoint"}
    assert "transition" in names and names[-1] == "scheduler_stopped"
    assert "Traceback" not in rest
    assert state_of(url, settings, ref) == "active"
    with Iop.connect(url, settings=settings, audit_log=False) as iop:
        last = iop.history(ref)[-1]
        assert (last["trigger"], last["source"], last["actor"]) == ("activate", "scheduler", "system")


PREPARE = """
import gc, json, sys
from pathlib import Path
from datetime import datetime
from zoneinfo import ZoneInfo
from iop_workflow import FakeClock, Iop
from iop_workflow.domain import calendar
from iop_workflow.scheduling.daemon import prepare

iop = Iop.connect(sys.argv[1], clock=FakeClock(datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Europe/Stockholm"))),
                  audit_log=Path(sys.argv[2]))
loaded = "holidays" in sys.modules
prepare(iop.app)
print(json.dumps({"holidays_before": loaded, "currsize": calendar._swedish_holidays.cache_info().currsize,
                  "frozen": gc.get_freeze_count(), "gc_on": gc.isenabled(), "swept": iop.sweep_timers()["fired"]}))
"""


def test_daemon_prepare_loads_calendar_and_streams_then_freezes(tmp_path: Path, settings: Settings) -> None:
    """What ``iop scheduler run`` does before its first sweep, in a process of its own (it freezes the collector)."""
    url = f"sqlite:///{tmp_path / 'iop.db'}"
    [ref] = seed_due(url, settings, signed=1)
    audit = tmp_path / "stream.jsonl"
    done = subprocess.run([IOP[0], "-c", PREPARE, url, str(audit)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["holidays_before"] is False  # the calendar was not loaded by connecting
    assert out["currsize"] == 3  # 2026, 2027 and 2028
    assert out["frozen"] > 10_000 and out["gc_on"]  # start-up objects frozen; the collector still runs
    assert audit.exists() and audit.with_name("stream.events.jsonl").exists()  # both streams opened up front
    assert out["swept"] == 1 and state_of(url, settings, ref) == "active"


def test_apscheduler_warnings_are_json_events_while_the_daemon_runs(tmp_path: Path, settings: Settings) -> None:
    """APScheduler logs a missed or skipped run with the logging module; the daemon's stream stays JSON."""
    import logging

    from iop_workflow.scheduling.daemon import apscheduler_events

    stream = tmp_path / "audit.jsonl"
    events = stream.with_name("audit.events.jsonl")
    logger = logging.getLogger("apscheduler.executors.default")
    with Iop.connect(f"sqlite:///{tmp_path / 'iop.db'}", settings=settings, audit_log=stream) as iop:
        with apscheduler_events(iop.app):
            logger.warning("Run time of job %r was missed by %s", "due timers", "0:00:07")
            logger.info("Running job %r", "due timers")  # below WARNING: not an event
        logger.warning("after the daemon: not ours")
        iop.app.sink.close()
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert [(e["event"], e["level"], e["logger"], e["message"]) for e in lines] == [
        (
            "apscheduler",
            "warning",
            "apscheduler.executors.default",
            "Run time of job 'due timers' was missed by 0:00:07",
        )
    ]
    assert logging.getLogger("apscheduler").handlers == [] and logging.getLogger("apscheduler").propagate
