"""Prometheus metrics: requests by route and status, latency, transitions; database gauges at scrape time.

A registry per app (not the global one), so tests and several apps in one
process never share counters. The gauges read the database when scraped: the
open timers already due say whether the scheduler keeps up, whatever process runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _DatabaseGauges(Collector):
    def __init__(self, read: Callable[[], tuple[int, int, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            last_seq, due, alerts = self._read()
        except Exception:
            yield GaugeMetricFamily("iop_database_up", "Whether the database answered the scrape", value=0)
            return
        yield GaugeMetricFamily("iop_database_up", "Whether the database answered the scrape", value=1)
        yield GaugeMetricFamily("iop_log_last_seq", "Highest seq of the transition log", value=last_seq)
        yield GaugeMetricFamily("iop_timers_due", "Open timers due today or earlier (sweeps behind if > 0)", value=due)
        yield GaugeMetricFamily("iop_alerts_open", "Alerts not yet acknowledged", value=alerts)


class Metrics:
    def __init__(self, read_database: Callable[[], tuple[int, int, int]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "iop_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "iop_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=self.registry
        )
        self.transitions = Counter(
            "iop_transitions", "Transitions fired through this server", ["trigger"], registry=self.registry
        )
        self.registry.register(_DatabaseGauges(read_database))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def database_reader(iop: object) -> Callable[[], tuple[int, int, int]]:
    """(last log seq, open timers due by today, open alerts) from ``iop``'s database."""
    import sqlalchemy as sa  # noqa: PLC0415

    from iop_workflow.api import Iop  # noqa: PLC0415
    from iop_workflow.store import cases as repo  # noqa: PLC0415
    from iop_workflow.store.tables import Alert, Timer  # noqa: PLC0415

    assert isinstance(iop, Iop)
    timers, alerts = Timer.__table__, Alert.__table__  # type: ignore[attr-defined]

    def read() -> tuple[int, int, int]:
        today: date = iop.app.clock.today()
        with iop.app.db.read() as s:
            last = s.execute(sa.select(sa.func.coalesce(sa.func.max(repo.LOG.c.seq), 0))).scalar_one()
            due = s.execute(
                sa.select(sa.func.count())
                .select_from(timers)
                .where(timers.c.due_on <= today, timers.c.fired_at.is_(None), timers.c.cancelled_at.is_(None))
            ).scalar_one()
            open_alerts = s.execute(
                sa.select(sa.func.count()).select_from(alerts).where(alerts.c.acknowledged_at.is_(None))
            ).scalar_one()
        return int(last), int(due), int(open_alerts)

    return read
