"""``iop case ...``: open, list, show, options, fire, assess, assign, history (and ``record``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from iop_workflow import glossary
from iop_workflow.cli.context import State, emit_json, pass_state
from iop_workflow.cli.correct_cmd import correct
from iop_workflow.cli.records import record
from iop_workflow.cli.render import (
    case_summary,
    facts_block,
    history_table,
    options_block,
    state_text,
    table,
    timers_block,
    tr,
)
from iop_workflow.domain.values import END_REASONS, Initiator, Verdict


@click.group()
def case() -> None:
    """Partnership cases, from initiative to an active agreement."""


case.add_command(record)
case.add_command(correct)


@case.command("open")
@click.option("--org", "org_number", required=True, metavar="ORGNR", help="The organisation's number.")
@click.option("--municipality", required=True, metavar="M")
@click.option("--title", required=True, metavar="T")
@click.option("--challenge", required=True, metavar="TEXT", help="The societal challenge the initiative meets.")
@click.option("--unit", metavar="U", help="The municipal unit (förvaltning) responsible.")
@click.option(
    "--initiated-by", type=click.Choice([i.value for i in Initiator]), default="organisation", show_default=True
)
@pass_state
def case_open(state: State, /, **fields: Any) -> None:
    """Register an initiative as a new case; prints its ref."""
    ref = state.iop.open_case(actor=state.actor, **fields)
    if state.json:
        emit_json(state.iop.case(ref, lang=state.lang))
    else:
        click.echo(ref)


@case.command("list")
@click.option("--state", "state_value", metavar="S", help="Only cases in this state (e.g. active).")
@click.option("--municipality", metavar="M", help="Only this municipality's or region's cases (name or SCB code).")
@pass_state
def case_list(state: State, /, *, state_value: str | None, municipality: str | None) -> None:
    """Every case (optionally in one state, one municipality)."""
    rows = state.iop.cases(state=state_value, municipality=municipality, lang=state.lang)
    if state.json:
        emit_json(rows)
        return
    if not rows:
        click.echo(tr("no_cases", state.lang))
        return
    lang = state.lang
    headers = [
        tr("ref", lang),
        tr("state", lang),
        tr("municipality", lang),
        tr("organisation", lang),
        tr("title", lang),
        tr("version", lang),
    ]
    table(
        headers,
        [
            (
                c["ref"],
                state_text(c, lang),
                c["municipality"],
                c["organisation"]["name"],
                c["title"],
                c["version"],
            )
            for c in rows
        ],
    )


@case.command("show")
@click.argument("ref")
@pass_state
def case_show(state: State, /, *, ref: str) -> None:
    """Facts, state, open timers and what may happen next (for you, --actor).

    A protected organisation's contact data shows only to the case's own officers (who opened
    it, or assigned with `iop case assign`) and auditors; each such read is logged."""
    shown = state.iop.show_case(ref, actor=state.actor, lang=state.lang)
    options = state.iop.options(ref, actor=state.actor, lang=state.lang)
    if state.json:
        emit_json({**shown, "options": options})
        return
    case_summary(shown, state.lang)
    facts_block(shown["facts"], state.lang)
    timers_block(shown["timers"], state.lang)
    options_block(options, state.lang)


@case.command("options")
@click.argument("ref")
@pass_state
def case_options(state: State, /, *, ref: str) -> None:
    """Each trigger of the current state: allowed, or EVERY reason it is blocked."""
    options = state.iop.options(ref, actor=state.actor, lang=state.lang)
    if state.json:
        emit_json(options)
        return
    shown = state.iop.case(ref, lang=state.lang)
    click.echo(state.say(f"{shown['ref']}: {shown['state_label']}, ärendeversion {shown['version']}",
                         f"{shown['ref']}: {shown['state_label']} [{shown['state']}], version {shown['version']}"))
    options_block(options, state.lang, heading=False)


def _data_pairs(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        out[key.strip()] = value
    return out


@case.command("fire")
@click.argument("ref", required=False)
@click.argument("trigger", required=False)
@click.option("--reason", metavar="R", help="Why (required by decline, withdraw, end, terminate, rescind, ...).")
@click.option("--end-reason", type=click.Choice(sorted(END_REASONS)), help="For 'end': completed or not_renewed.")
@click.option("--notice-on", metavar="YYYY-MM-DD", help="For 'terminate': the day notice was given (default today).")
@click.option("--data", multiple=True, metavar="KEY=VALUE", callback=_data_pairs, help="Extra data for the log.")
@click.option(
    "--if-version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only if the case is still at version N (else exit 5, nothing written).",
)
@click.option(
    "--from-file",
    metavar="FILE.jsonl",
    help='One JSON object a line: {"ref", "trigger", "reason"?, "data"?, "end_reason"?, '
    '"notice_on"?, "if_version"?, "actor"?}; one transaction each.',
)
@pass_state
def case_fire(
    state: State,
    /,
    *,
    ref: str | None,
    trigger: str | None,
    reason: str | None,
    end_reason: str | None,
    notice_on: str | None,
    data: dict[str, str],
    if_version: int | None,
    from_file: str | None,
) -> None:
    """Fire TRIGGER on case REF; a refusal lists every reason and exits 3."""
    if from_file is not None:
        if ref or trigger or reason or end_reason or notice_on or data or if_version is not None:
            raise click.UsageError("--from-file takes no REF, TRIGGER or other options")
        from iop_workflow.cli.batch import fire_from_file  # noqa: PLC0415 - only batch runs load it

        fire_from_file(state, from_file)
        return
    if not ref or not trigger:
        raise click.UsageError("give REF and TRIGGER, or --from-file FILE")
    fired = state.iop.fire(
        ref,
        trigger,
        actor=state.actor,
        reason=reason,
        data=data or None,
        end_reason=end_reason,
        expected_version=if_version,
        notice_on=notice_on,
    )
    shown = state.iop.case(ref, lang=state.lang)
    if state.json:
        emit_json({"case": shown, "record": fired})
        return
    click.echo(transition_line(state, fired, shown["version"]))


def transition_line(state: State, fired: Mapping[str, Any], version: int) -> str:
    definition = state.iop.app.definition

    def label(value: str | None) -> str:
        if value is None or value not in definition.states:
            return "-"
        return definition.state(value).label(state.lang)

    trigger = fired["trigger"] if state.lang == "en" else glossary.label("trigger", fired["trigger"], state.lang,
                                                                           definition=definition)  # fmt: skip
    return (
        f"{fired['case_ref']}: {trigger}: "
        f"{label(fired['from_state'])} -> {label(fired['to_state'])}"
        f" ({state.say('ärendeversion', 'version')} {version})"
    )


@case.command("assess")
@click.argument("ref")
@click.argument("criterion")
@click.argument("verdict", type=click.Choice([v.value for v in Verdict]))
@click.option("--note", required=True, metavar="TEXT", help="The grounds for the verdict.")
@pass_state
def case_assess(state: State, /, *, ref: str, criterion: str, verdict: str, note: str) -> None:
    """Assess one criterion of the bound guideline (list them: iop guideline show REF)."""
    logged = state.iop.assess(ref, criterion, verdict, note=note, actor=state.actor)
    if state.json:
        emit_json(logged)
        return
    click.echo(state.say(f"{ref}: {criterion} bedömt som {verdict}.", f"{ref}: {criterion} assessed as {verdict}."))


@case.command("assign")
@click.argument("ref")
@click.argument("login")
@click.option("--remove", is_flag=True, help="Take the assignment back (as `iop case unassign`).")
@pass_state
def case_assign(state: State, /, *, ref: str, login: str, remove: bool) -> None:
    """Assign officer LOGIN to the case: they then see a protected organisation's contact data.

    A coordinator, or the officer who opened the case, may; LOGIN must hold the role officer in the
    case's municipality. Logged in the case's chain (record:assignment)."""
    _assign(state, ref, login, remove=remove)


@case.command("unassign")
@click.argument("ref")
@click.argument("login")
@pass_state
def case_unassign(state: State, /, *, ref: str, login: str) -> None:
    """Take back LOGIN's assignment to the case (logged, as `iop case assign --remove`)."""
    _assign(state, ref, login, remove=True)


def _assign(state: State, ref: str, login: str, *, remove: bool) -> None:
    done = state.iop.assign(ref, login, remove=remove, actor=state.actor)
    if state.json:
        emit_json(done)
        return
    if not done["changed"]:
        click.echo(state.say(f"{ref}: {login} är redan tilldelad; inget skrevs.",
                             f"{ref}: {login} is already assigned; nothing was written."))  # fmt: skip
    elif remove:
        click.echo(state.say(f"{ref}: {login} är inte längre tilldelad.", f"{ref}: {login} is no longer assigned."))
    else:
        click.echo(state.say(f"{ref}: {login} är tilldelad som handläggare.",
                             f"{ref}: {login} is assigned as officer."))  # fmt: skip


@case.command("history")
@click.argument("ref")
@pass_state
def case_history(state: State, /, *, ref: str) -> None:
    """The case's transition log, oldest first."""
    records = state.iop.history(ref)
    if state.json:
        emit_json(records)
        return
    definition = state.iop.app.definition
    labels = {v: s.label(state.lang) for v, s in definition.states.items()}
    history_table(records, state.lang, labels, state.settings.tz)
