"""``iop case ...``: open, list, show, options, fire, assess, assign, history (and ``record``)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from iop_workflow import glossary
from iop_workflow.cli.context import State, emit_json, emit_json_array, pass_state
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
@click.option("--org-number", "--org", "org_number", required=True, metavar="ORGNR", help="The organisation's number.")
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


@case.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_state
def case_import(state: State, /, *, file: Path) -> None:
    """Bring an existing partnership in with its history (TOML or JSON; docs/import.md).

    Every step goes through the rules of a live case, as of its own day, in one transaction
    (role coordinator); a refusal names the file's entry and writes nothing."""
    done = state.iop.import_case(file, actor=state.actor)
    if state.json:
        emit_json(done)
        return
    label = state.iop.app.definition.state(done["state"]).label(state.lang)
    click.echo(
        state.say(
            f"{done['ref']}: importerat i läget {label} ({done['records']} poster), SHA-256 {done['sha256']}",
            f"{done['ref']}: imported in state {label} ({done['records']} records), SHA-256 {done['sha256']}",
        )
    )


PAGE = 50  # cases a person sees at a time (``--limit``'s default for the table)
TABLE_BLOCK = 500  # with --all, the table is printed this many cases at a time (constant memory)


@case.command("list")
@click.option("--state", "state_value", metavar="S", help="Only cases in this state (e.g. active).")
@click.option("--municipality", metavar="M", help="Only this municipality's or region's cases (name or SCB code).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"At most N cases (the table's default: {PAGE}; --json: every case).",
)
@click.option("--after", metavar="REF", help="Only cases after REF in ref order (the next page).")
@click.option("--all", "every", is_flag=True, help="Every case, streamed (the table a block at a time).")
@pass_state
def case_list(
    state: State,
    /,
    *,
    state_value: str | None,
    municipality: str | None,
    limit: int | None,
    after: str | None,
    every: bool,
) -> None:
    """Cases in ref order (optionally in one state, one municipality), a page at a time.

    The table shows the first 50 (--limit N) and how many more there are; --after REF shows
    the next page, --all every case. --json writes every case (or --limit N) as one JSON
    array, streamed."""
    if every and limit is not None:
        raise click.UsageError("--all and --limit exclude each other")
    # Scoped as `case show` is: only the cases of the municipalities the user's grants cover.
    me = state.iop.actor(state.actor)
    filters: dict[str, Any] = {
        "state": state_value,
        "municipality": municipality,
        "after": after,
        "lang": state.lang,
        "actor": me,
    }
    if (state.json and limit is None) or every:
        rows = state.iop.iter_cases(**filters)
        if state.json:
            emit_json_array(rows)
            return
        shown = 0
        while block := list(itertools.islice(rows, TABLE_BLOCK)):
            _case_table(block, state.lang)
            shown += len(block)
        if not shown:
            click.echo(tr("no_cases", state.lang))
        return
    page = state.iop.case_page(limit=limit or PAGE, **filters)
    if state.json:
        emit_json(page.items)
        return
    if not page.items:
        click.echo(tr("no_cases", state.lang))
        return
    _case_table(page.items, state.lang)
    if page.next is not None:
        more = state.iop.count_cases(state=state_value, municipality=municipality, after=page.next, actor=me)
        click.echo(
            state.say(
                f"{more} ärenden till. Nästa sida: samma kommando med --after {page.next}; alla: --all.",
                f"{more} more cases. Next page: the same command with --after {page.next}; all of them: --all.",
            )
        )


def _case_table(rows: Sequence[Mapping[str, Any]], lang: str) -> None:
    headers = [tr(key, lang) for key in ("ref", "state", "municipality", "organisation", "title", "version")]
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
    click.echo(
        state.say(
            f"{shown['ref']}: {shown['state_label']}, ärendeversion {shown['version']}",
            f"{shown['ref']}: {shown['state_label']} [{shown['state']}], version {shown['version']}",
        )
    )
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
        if_version=if_version,
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

    trigger = (
        fired["trigger"]
        if state.lang == "en"
        else glossary.label("trigger", fired["trigger"], state.lang, definition=definition)
    )
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
        click.echo(
            state.say(
                f"{ref}: {login} är redan tilldelad; inget skrevs.",
                f"{ref}: {login} is already assigned; nothing was written.",
            )
        )
    elif remove:
        click.echo(state.say(f"{ref}: {login} är inte längre tilldelad.", f"{ref}: {login} is no longer assigned."))
    else:
        click.echo(
            state.say(f"{ref}: {login} är tilldelad som handläggare.", f"{ref}: {login} is assigned as officer.")
        )


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
