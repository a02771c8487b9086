"""``iop case correct``: a logged correction or retraction of a recorded fact (never an edit)."""

from __future__ import annotations

import click

from iop_workflow.cli.context import State, emit_json, pass_state
from iop_workflow.domain.definition import RECORD_TABLES

# The kinds of `case record` (the definition module lists them); service/correctable.py says which fields each has.
KINDS = tuple(RECORD_TABLES)


@click.command("correct")
@click.argument("ref")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("entry", type=click.IntRange(min=1), metavar="ENTRY")
@click.option("--field", metavar="F", help="The field to correct, e.g. decided_on, amount, end_on.")
@click.option("--value", metavar="V", help="The right value (dates YYYY-MM-DD).")
@click.option("--retract", is_flag=True, help="Withdraw the whole fact (e.g. one recorded twice) instead.")
@click.option("--reason", metavar="TEXT", help="Why the recorded value was wrong (required).")
@pass_state
def correct(
    state: State,
    /,
    *,
    ref: str,
    kind: str,
    entry: int,
    field: str | None,
    value: str | None,
    retract: bool,
    reason: str | None,
) -> None:
    """Correct FIELD of the KIND fact recorded by log entry ENTRY (the # in `case history`),
    or withdraw that fact with --retract.

    The fact as recorded stays; the correction or retraction is a new log record and is
    shown by `case show` and `case history`. A retracted fact no longer counts for the
    rules, the reports or the views.
    """
    if retract:
        if field is not None or value is not None:
            raise click.UsageError("--retract withdraws the whole fact; it takes no --field or --value")
        _retract(state, ref, kind, entry, reason)
        return
    if field is None or value is None or reason is None:
        options = (("--field", field), ("--value", value), ("--reason", reason))
        missing = [name for name, given in options if given is None]
        raise click.UsageError(f"Missing option {', '.join(missing)} (or give --retract)")
    from iop_workflow.glossary import label  # noqa: PLC0415 - the glossary reads its file

    logged = state.iop.correct(ref, kind, entry, field=field, value=value, reason=reason, actor=state.actor)
    if state.json:
        emit_json(logged)
        return
    fix = logged["data"]["correction"]
    click.echo(
        state.say(
            f"{ref}: {label('field', field or '', 'sv')} i post #{entry} ({label('fact_kind', kind, 'sv')}) "
            f"rättad: {fix['from']} -> {fix['to']} "
            f"(loggpost {logged['case_seq']}).",
            f"{ref}: {field} of entry #{entry} ({kind}) corrected: {fix['from']} -> {fix['to']} "
            f"(log entry {logged['case_seq']}).",
        )
    )


def _retract(state: State, ref: str, kind: str, entry: int, reason: str | None) -> None:
    from iop_workflow.glossary import label  # noqa: PLC0415 - the glossary reads its file

    logged = state.iop.retract(ref, kind, entry, reason=reason, actor=state.actor)
    if state.json:
        emit_json(logged)
        return
    click.echo(
        state.say(
            f"{ref}: post #{entry} ({label('fact_kind', kind, 'sv')}) återtagen (loggpost {logged['case_seq']}); "
            "den räknas inte längre.",
            f"{ref}: entry #{entry} ({kind}) retracted (log entry {logged['case_seq']}); it no longer counts.",
        )
    )
