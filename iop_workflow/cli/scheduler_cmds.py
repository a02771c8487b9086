"""``iop scheduler run | tick | plan`` and ``iop alerts list | ack``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import click

from iop_workflow.cli.context import State, emit_json, pass_state
from iop_workflow.cli.render import action_text, deadline_kind, outcome_text, table
from iop_workflow.service.validate import in_range

EXIT_SWEEP_FAILED = 1


@click.group()
def scheduler() -> None:
    """The clock: timers, guideline validity, the daemon."""


@scheduler.command("tick")
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Run as of this date: today on a real database (any date with --dry-run); on a simulated "
    "one the stored clock moves forward to it.",
)
@click.option("--dry-run", is_flag=True, help="List what would fire; write nothing.")
@pass_state
def tick(state: State, /, *, at: Any, dry_run: bool) -> int:
    """Run every sweep once and exit (for cron, tests and simulations)."""
    day = in_range("--at", at.date()) if at is not None else None
    report = state.iop.tick(at=day, dry_run=dry_run)
    if state.json:
        emit_json(report)
    else:
        _print_tick(state, report)
    return EXIT_SWEEP_FAILED if report["failed"] else 0


def _print_tick(state: State, report: Mapping[str, Any]) -> None:
    items = [item for sweep in report["sweeps"] for item in sweep["items"]]
    if items:
        table(
            [
                state.say("Förfaller", "Due"),
                state.say("Ärende/riktlinje", "Case/guideline"),
                state.say("Åtgärd", "Action"),
                state.say("Utfall", "Outcome"),
            ],
            [
                (
                    i["due_on"],
                    i.get("case_ref") or i.get("guideline_ref"),
                    action_text(i["action"], state.lang) if i.get("action") else "",
                    outcome_text(i["outcome"], state.lang),
                )
                for i in items
            ],
        )
    verb = state.say("skulle", "would") if report["dry_run"] else ""
    click.echo(
        state.say(
            f"{report['on']}: {report['due']} förfallna{' (torrkörning)' if verb else ''}; "
            f"{report['fired']} händelser, {report['alerts']} larm, {report['skipped']} överhoppade, "
            f"{report['refused']} nekade, {report['failed']} misslyckade.",
            f"{report['on']}: {report['due']} due{' (dry run)' if verb else ''}; {report['fired']} fired, "
            f"{report['alerts']} alerts, {report['skipped']} skipped, {report['refused']} refused, "
            f"{report['failed']} failed.",
        )
    )


@scheduler.command("plan")
@click.option(
    "--until",
    "until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="List deadlines up to this date (default: 90 days ahead).",
)
@pass_state
def plan(state: State, /, *, until: Any) -> None:
    """Upcoming deadlines: open timers and guideline expiries, earliest first."""
    iop = state.iop
    last = in_range("--until", until.date()) if until is not None else iop.app.clock.today() + timedelta(days=90)
    rows = iop.upcoming(last)
    if state.json:
        emit_json(rows)
        return
    if not rows:
        click.echo(state.say(f"Inga tidsgränser till och med {last}.", f"No deadlines up to {last}."))
        return
    table(
        [
            state.say("Förfaller", "Due"),
            state.say("Ärende/riktlinje", "Case/guideline"),
            state.say("Typ", "Kind"),
            state.say("Åtgärd", "Action"),
            state.say("Vem", "Who"),
        ],
        [
            (
                r["due_on"],
                r["case_ref"] or r["guideline_ref"],
                deadline_kind(r["kind"], state.lang),
                action_text(r["action"], state.lang),
                r["who"],
            )
            for r in rows
        ],
    )


@scheduler.command("run")
@click.option(
    "--every",
    "every",
    type=click.IntRange(1, 86400),
    default=900,
    show_default=True,
    metavar="SECONDS",
    help="How often the timer sweep runs.",
)
@click.option(
    "--guidelines-hour",
    type=click.IntRange(0, 23),
    default=6,
    show_default=True,
    help="Local hour of the daily guideline sweep (it also runs at start).",
)
@pass_state
def run(state: State, /, *, every: int, guidelines_hour: int) -> int:
    """Run the scheduler daemon until SIGINT or SIGTERM (structured log lines on stderr)."""
    from iop_workflow.scheduling.daemon import DaemonConfig  # noqa: PLC0415
    from iop_workflow.scheduling.daemon import run as run_daemon  # noqa: PLC0415

    iop = state.connect(audit_to_stderr=True)
    return run_daemon(iop.app, DaemonConfig(every_seconds=every, guidelines_hour=guidelines_hour))


@click.group()
def alerts() -> None:
    """Alerts raised by deadlines: who must act, on what, by when."""


@alerts.command("list")
@click.option("--all", "include_all", is_flag=True, help="Include acknowledged alerts.")
@click.option("--for", "recipient", metavar="WHO", help="Only alerts to this person (or role:NAME).")
@pass_state
def alerts_list(state: State, /, *, include_all: bool, recipient: str | None) -> None:
    """Open alerts, earliest deadline first."""
    rows = state.iop.alerts(lang=state.lang, include_acknowledged=include_all, recipient=recipient)
    if state.json:
        emit_json(rows)
        return
    if not rows:
        click.echo(state.say("Inga öppna larm.", "No open alerts."))
        return
    table(
        [
            "ID",
            state.say("Förfaller", "Due"),
            state.say("Typ", "Kind"),
            state.say("Ärende/riktlinje", "Case/guideline"),
            state.say("Till", "To"),
            state.say("Meddelande", "Message"),
        ],
        [
            (
                r["id"],
                r["due_on"],
                deadline_kind(r["kind"], state.lang),
                r["case_ref"] or r["guideline_ref"],
                r["recipient"],
                r["message"]
                + (f" [{state.say('kvitterat', 'acknowledged')}: {r['acknowledged_by']}]" if r["acknowledged"] else ""),
            )
            for r in rows
        ],
    )


@alerts.command("ack")
@click.argument("alert_id", type=int, metavar="ID")
@pass_state
def alerts_ack(state: State, /, *, alert_id: int) -> None:
    """Acknowledge an alert (it leaves the open list; the row is kept)."""
    row = state.iop.acknowledge_alert(alert_id, actor=state.actor, lang=state.lang)
    if state.json:
        emit_json(row)
    else:
        click.echo(
            state.say(
                f"Larm {alert_id} kvitterat av {row['acknowledged_by']}.",
                f"Alert {alert_id} acknowledged by {row['acknowledged_by']}.",
            )
        )
