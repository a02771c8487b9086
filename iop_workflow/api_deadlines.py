"""The Python API's sweeps, deadlines ahead, the clock and alerts (a part of :class:`~iop_workflow.api.Iop`)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, cast

from iop_workflow.api_base import ActorLike, IopBase

if TYPE_CHECKING:
    from iop_workflow import types as shapes  # the documented JSON shapes (TypedDicts)


class DeadlinesApi(IopBase):
    """Timers and guidelines swept as of the clock's date, and the alerts the sweeps raise."""

    # -- deadlines --------------------------------------------------------------
    def tick(self, *, at: date | str | None = None, dry_run: bool = False) -> shapes.Tick:
        """Run every sweep once as of the clock's date (the shape of ``iop scheduler tick --json``).

        ``at`` (``tick --at``): on a real database only today, any date with ``dry_run``; on a
        simulated one the stored clock first moves forward to ``at`` (an earlier date: UsageError)."""
        from dataclasses import replace  # noqa: PLC0415

        from iop_workflow.service import clock_mode, sweep, validate  # noqa: PLC0415

        app = self.app
        if at is not None:
            as_of = clock_mode.tick_clock(app, validate.day("at", at), dry_run=dry_run)
            app = app if as_of is None else replace(app, clock=as_of)
        return cast("shapes.Tick", sweep.tick(app, dry_run=dry_run).as_dict())

    def clock(self) -> shapes.ClockState:
        """The database's clock: ``mode`` (real or simulated) and the ``now`` and ``today`` this object dates by."""
        from iop_workflow.service import clock_mode  # noqa: PLC0415

        return {"mode": clock_mode.mode(self.app), "now": self.app.clock.now(), "today": self.app.clock.today()}

    def sweep_timers(self, *, dry_run: bool = False, batch_size: int | None = None) -> shapes.Sweep:
        """``batch_size``: timers per transaction (default ``service.sweep.BATCH``)."""
        from iop_workflow.service import sweep  # noqa: PLC0415

        size = sweep.BATCH if batch_size is None else batch_size
        return cast("shapes.Sweep", sweep.sweep_timers(self.app, dry_run=dry_run, batch_size=size).as_dict())

    def sweep_guidelines(self, *, dry_run: bool = False) -> shapes.Sweep:
        from iop_workflow.service import sweep  # noqa: PLC0415

        return cast("shapes.Sweep", sweep.sweep_guidelines(self.app, dry_run=dry_run).as_dict())

    def upcoming(self, until: date) -> list[shapes.Deadline]:
        """Every deadline from now until ``until`` (the shape of ``iop scheduler plan --json``; a text is
        parsed as YYYY-MM-DD)."""
        from iop_workflow.service import sweep  # noqa: PLC0415

        return cast("list[shapes.Deadline]", sweep.upcoming(self.app, until))

    def alerts(
        self, *, lang: str = "sv", include_acknowledged: bool = False, recipient: str | None = None
    ) -> list[shapes.Alert]:
        from iop_workflow.service import alerts  # noqa: PLC0415

        rows = alerts.listing(self.app, lang=lang, include_acknowledged=include_acknowledged, recipient=recipient)
        return cast("list[shapes.Alert]", rows)

    def acknowledge_alert(self, alert_id: int, *, actor: ActorLike = None, lang: str = "sv") -> shapes.Alert:
        from iop_workflow.service import alerts  # noqa: PLC0415

        return cast("shapes.Alert", alerts.acknowledge(self.app, self.actor(actor), alert_id, lang=lang))
