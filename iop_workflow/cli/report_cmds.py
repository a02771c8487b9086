"""``iop report``: the public register of partnerships, and the yearly follow-up to the committee."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from iop_workflow.cli.context import State, emit_json_array, output_file, pass_state


@click.group()
def report() -> None:
    """Reports: the public register of partnerships, the yearly follow-up."""


@report.command("register")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@click.option("--municipality", metavar="M", help="Only this municipality's partnerships.")
@click.option("--include-protected", is_flag=True, help="Do not mask protected organisations (auditors; logged).")
@pass_state
def report_register(state: State, /, *, fmt: str, municipality: str | None, include_protected: bool) -> None:
    """The public list of partnerships: organisation, activity, period, committee (protected data masked)."""
    from iop_workflow.report.render import register_csv, register_markdown  # noqa: PLC0415

    if state.json or fmt == "json":  # streamed: constant memory whatever the number of partnerships
        emit_json_array(
            state.iop.register_rows(municipality=municipality, include_protected=include_protected, actor=state.actor)
        )
        return
    rows = state.iop.register(municipality=municipality, include_protected=include_protected, actor=state.actor)
    if fmt == "csv":
        click.echo(register_csv(rows), nl=False)
    else:
        click.echo(register_markdown(rows, state.lang), nl=False)


@report.command("annual")
@click.option("--year", type=int, required=True, metavar="YYYY", help="The calendar year (2000-2100).")
@click.option("--municipality", metavar="M", help="Only this municipality (default: every one).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "html", "json"]), default="md", show_default=True)
@click.option("--include-protected", is_flag=True, help="Do not mask protected organisations (auditors; logged).")
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE instead of standard output.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@pass_state
def report_annual(
    state: State,
    /,
    *,
    year: int,
    municipality: str | None,
    fmt: str,
    include_protected: bool,
    output: str | None,
    force: bool,
) -> None:
    """The yearly follow-up to the committee: cases by state at the year's end and month by month, what
    was opened, signed, renewed and ended (and why), reviews due, held and overdue, contributions by
    party and kind, guidelines in force and expiring. Computed from the transition log up to the
    year's end, so it reads the same whenever it is run. Exit 6 for a year outside 2000-2100, 4 for
    an unknown municipality, 3 for --include-protected by anyone but an auditor."""
    target = output_file(state, output, force=force) if output else None
    report = state.iop.annual_report(
        year=year, municipality=municipality, include_protected=include_protected, actor=state.actor
    )
    text = _render_annual(report, "json" if state.json else fmt, state.lang)
    if target is None:
        click.echo(text, nl=False)
        return
    from iop_workflow.files import replaced  # noqa: PLC0415

    with replaced(target, state.iop.app.settings.files.bits) as handle:
        handle.write(text)


def _render_annual(report: Mapping[str, Any], fmt: str, lang: str) -> str:
    from iop_workflow.report.formats import render_annual  # noqa: PLC0415

    return render_annual(report, fmt, lang)
