"""``iop case correct``: a logged correction of a recorded fact (never an edit)."""

from __future__ import annotations

import click

from iop_workflow.cli.context import State, emit_json, pass_state

# The kinds of `case record`; service/correctable.py says which fields each has.
KINDS = ("meeting", "assessment", "legal-check", "agreement", "contribution", "decision", "review")


@click.command("correct")
@click.argument("ref")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("entry", type=click.IntRange(min=1), metavar="ENTRY")
@click.option("--field", required=True, metavar="F", help="The field to correct, e.g. decided_on, amount, end_on.")
@click.option("--value", required=True, metavar="V", help="The right value (dates YYYY-MM-DD).")
@click.option("--reason", required=True, metavar="TEXT", help="Why the recorded value was wrong.")
@pass_state
def correct(state: State, /, *, ref: str, kind: str, entry: int, field: str, value: str, reason: str) -> None:
    """Correct FIELD of the KIND fact recorded by log entry ENTRY (the # in `case history`).

    The fact as recorded stays; the correction is a new log record and is shown
    by `case show` and `case history`.
    """
    logged = state.iop.correct(ref, kind, entry, field=field, value=value, reason=reason, actor=state.actor)
    if state.json:
        emit_json(logged)
        return
    fix = logged["data"]["correction"]
    click.echo(
        state.say(
            f"{ref}: {field} i post #{entry} ({kind}) rättad: {fix['from']} -> {fix['to']} "
            f"(loggpost {logged['case_seq']}).",
            f"{ref}: {field} of entry #{entry} ({kind}) corrected: {fix['from']} -> {fix['to']} "
            f"(log entry {logged['case_seq']}).",
        )
    )
