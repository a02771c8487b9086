"""``iop report``: the public register of partnerships."""

from __future__ import annotations

import click

from iop_workflow.cli.context import State, emit_json, pass_state


@click.group()
def report() -> None:
    """Reports: the public register of partnerships."""


@report.command("register")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@click.option("--municipality", metavar="M", help="Only this municipality's partnerships.")
@click.option("--include-protected", is_flag=True, help="Do not mask protected organisations (auditors; logged).")
@pass_state
def report_register(state: State, /, *, fmt: str, municipality: str | None, include_protected: bool) -> None:
    """The public list of partnerships: organisation, activity, period, committee (protected data masked)."""
    from iop_workflow.report.render import register_csv, register_markdown  # noqa: PLC0415

    rows = state.iop.register(municipality=municipality, include_protected=include_protected, actor=state.actor)
    if state.json or fmt == "json":
        emit_json(rows)
    elif fmt == "csv":
        click.echo(register_csv(rows), nl=False)
    else:
        click.echo(register_markdown(rows, state.lang), nl=False)
