"""``iop scheduler run``: APScheduler 3 drives the sweeps; the timers themselves are rows.

One ``BlockingScheduler`` per process with its own in-memory job store (never
shared: several daemons on one database are safe because the sweeps are, not
because the schedulers coordinate). One job per sweep kind with a fixed id,
``coalesce=True`` so a daemon that was suspended runs a job once, not once per
missed interval, a generous ``misfire_grace_time``, and a catch-up run of the
sweeps at start; the daily audit checkpoint runs at 23:50. A single worker
thread runs the jobs, so sweeps never overlap in one process. A job that
fails because the database is unavailable is retried soon (after 1, 2, 4, ...
seconds, at most ``retry_max_seconds``) instead of at its next regular run,
which for the daily jobs is a day away. SIGINT and SIGTERM shut down cleanly:
a running sweep finishes its batch, then the process exits 0.
"""

from __future__ import annotations

import gc
import logging
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from iop_workflow.domain import calendar
from iop_workflow.errors import DatabaseUnavailable, IopError
from iop_workflow.service import audit, sweep
from iop_workflow.service.context import App

MISFIRE_GRACE_SECONDS = 6 * 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    every_seconds: int = 900
    guidelines_hour: int = 6
    checkpoint_hour: int = 23
    retry_seconds: float = 1.0
    retry_max_seconds: float = 300.0


class _Retries:
    """One-off retries of jobs that failed because the database was unavailable, backing off."""

    def __init__(self, scheduler: Any, config: DaemonConfig) -> None:
        self.scheduler = scheduler
        self.config = config
        self.failures: dict[str, int] = {}

    def failed(self, name: str, job: Callable[[], None]) -> float:
        """Plan a retry of ``job``; return its delay in seconds."""
        n = self.failures[name] = self.failures.get(name, 0) + 1
        delay = min(self.config.retry_seconds * 2.0 ** (n - 1), self.config.retry_max_seconds)
        when = datetime.now(self.scheduler.timezone) + timedelta(seconds=delay)
        self.scheduler.add_job(
            job, "date", run_date=when, id=f"{name}-retry", name=f"retry {name}", replace_existing=True
        )
        return delay

    def succeeded(self, name: str) -> None:
        if self.failures.pop(name, None) is not None and self.scheduler.get_job(f"{name}-retry") is not None:
            self.scheduler.remove_job(f"{name}-retry")


def _guarded(app: App, name: str, work: Callable[[], Any], retries: _Retries | None = None) -> Callable[[], None]:
    """A job that reports a failure as an event and is retried; never kills the daemon."""

    def job() -> None:
        started = time.perf_counter()
        try:
            work()
        except IopError as exc:
            retry = retries.failed(name, job) if retries is not None and isinstance(exc, DatabaseUnavailable) else None
            app.sink.event(
                "sweep_failed",
                job=name,
                code=exc.code,
                error=exc.message("en"),
                retry_in=retry,
                seconds=round(time.perf_counter() - started, 4),
            )
        except Exception as exc:  # a bug: log it, keep the schedule alive, retry next run
            import traceback  # noqa: PLC0415

            app.sink.event(
                "sweep_failed",
                job=name,
                code="internal_error",
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
            )
        else:
            if retries is not None:
                retries.succeeded(name)

    return job


class _EventLines(logging.Handler):
    """APScheduler's own warnings and errors as events in the daemon's JSON stream."""

    def __init__(self, app: App) -> None:
        super().__init__(level=logging.WARNING)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.app.sink.event(
                "apscheduler", level=record.levelname.lower(), logger=record.name, message=record.getMessage()
            )
        except Exception:  # logging must never stop the daemon
            self.handleError(record)


@contextmanager
def apscheduler_events(app: App) -> Iterator[None]:
    """While the daemon runs, APScheduler's warnings (a run missed, a run skipped because the last one
    still runs) are JSON events like every other line it writes, not plain text among them."""
    logger = logging.getLogger("apscheduler")
    handler = _EventLines(app)
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def prepare(app: App) -> None:
    """Set up a process that will run sweeps for its lifetime, before its first sweep.

    Loads what every sweep uses but would otherwise load during the first one: the
    Swedish holiday tables of this year and the next two (the ``holidays`` package
    loads every country's calendar, about 0.2 s) and the audit and event streams
    (structlog). Then moves everything that exists to the collector's permanent
    generation (``gc.freeze()``): the engine, the definition, the guidelines and the
    imported modules live as long as the process, and a sweep allocates enough to
    trigger full collections that would traverse them all again and again (about a
    tenth of a large sweep's time, ``benchmarks/sweep.py``). Only for a process that
    owns its collector: ``iop scheduler run`` calls it; the library does not.
    """
    # The system's year, not the database clock's: the database may be down at start (the sweeps retry);
    # other years load when first asked for.
    year = datetime.now(app.settings.tz).year
    calendar.load_years(year, year + 1, year + 2)
    app.sink.open()
    gc.freeze()


def run(app: App, config: DaemonConfig = DaemonConfig()) -> int:
    """Block until SIGINT or SIGTERM; return the exit status (0 on a clean shutdown)."""
    from apscheduler.executors.pool import ThreadPoolExecutor  # noqa: PLC0415 - only the daemon loads APScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler  # noqa: PLC0415
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415
    from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

    prepare(app)
    tz = app.settings.tz
    scheduler = BlockingScheduler(
        timezone=tz,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    start = datetime.now(tz)
    retries = _Retries(scheduler, config)
    scheduler.add_job(
        _guarded(app, "sweep-guidelines", lambda: sweep.sweep_guidelines(app), retries),
        CronTrigger(hour=config.guidelines_hour, minute=0, timezone=tz),
        id="sweep-guidelines",
        name="guideline validity",
        next_run_time=start,
        replace_existing=True,
    )
    scheduler.add_job(
        _guarded(app, "sweep-timers", lambda: sweep.sweep_timers(app), retries),
        IntervalTrigger(seconds=config.every_seconds, timezone=tz),
        id="sweep-timers",
        name="due timers",
        next_run_time=start,
        replace_existing=True,
    )

    scheduler.add_job(
        _guarded(app, "audit-checkpoint", lambda: audit.checkpoint(app, sweep.scheduler_actor(app)), retries),
        CronTrigger(hour=config.checkpoint_hour, minute=50, timezone=tz),
        id="audit-checkpoint",
        name="daily audit checkpoint",
        replace_existing=True,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        app.sink.event("scheduler_stopping", signal=signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    app.sink.event(
        "scheduler_started",
        jobs=[job.id for job in scheduler.get_jobs()],
        every_seconds=config.every_seconds,
        timezone=str(tz),
    )
    try:
        with apscheduler_events(app):
            scheduler.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    app.sink.event("scheduler_stopped")
    return 0
