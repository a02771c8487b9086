"""``iop workflow show | check | diagram``: the definition in states/ (no database needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from iop_workflow.cli.context import State, emit_json, pass_state
from iop_workflow.cli.render import table, yes_no
from iop_workflow.errors import EXIT_INVALID, IopError


@click.group()
def workflow() -> None:
    """The workflow definition (states/partnership.toml)."""


@workflow.command("show")
@pass_state
def workflow_show(state: State) -> None:
    """States (with their timers) and transitions (with guards and roles)."""
    from iop_workflow.resources import shipped_definition  # noqa: PLC0415

    d = shipped_definition()
    lang = state.lang
    states: list[dict[str, Any]] = [
        {
            "value": v,
            "label": s.label(lang),
            "terminal": s.terminal,
            "end_reasons": list(s.end_reasons),
            "timers": [{"kind": t.kind, "anchor": t.anchor, "action": t.action} for t in s.timers],
        }
        for v, s in d.states.items()
    ]
    transitions = [
        {
            "trigger": t.trigger,
            "label": t.label(lang),
            "sources": list(t.sources),
            "dest": t.dest,
            "guards": list(t.guards),
            "roles": sorted(t.roles),
            "inputs": sorted(t.inputs),
        }
        for t in d.transitions
    ]
    records = [
        {"kind": r.kind, "states": list(r.states), "roles": sorted(r.roles), "guards": list(r.guards)}
        for r in d.records.values()
    ]
    if state.json:
        emit_json(
            {
                "name": d.name,
                "file": d.file,
                "version": d.version,
                "initial": d.initial,
                "states": states,
                "transitions": transitions,
                "records": records,
            }
        )
        return
    title = d.title_en if lang == "en" else d.title_sv
    click.echo(f"{title} ({d.name}), version {d.version[:12]}, {d.file}")
    table(
        [
            state.say("Läge", "State"),
            state.say("Benämning", "Label"),
            state.say("Slutläge", "Terminal"),
            state.say("Bevakningar", "Timers"),
        ],
        [
            (
                s["value"],
                s["label"],
                yes_no(s["terminal"], lang),
                "\n".join(f"{t['kind']} ({t['action']})" for t in s["timers"]),
            )
            for s in states
        ],
    )
    table(
        [
            state.say("Händelse", "Trigger"),
            state.say("Benämning", "Label"),
            state.say("Från", "From"),
            state.say("Till", "To"),
            state.say("Villkor", "Guards"),
            state.say("Roller", "Roles"),
        ],
        [
            (
                t["trigger"],
                t["label"],
                "\n".join(t["sources"]) or "(ny)",
                t["dest"],
                "\n".join(t["guards"]),
                ", ".join(t["roles"]),
            )
            for t in transitions
        ],
    )
    table(
        [
            state.say("Uppgift", "Record"),
            state.say("I läge", "In states"),
            state.say("Villkor", "Guards"),
            state.say("Roller", "Roles"),
        ],
        [(r["kind"], "\n".join(r["states"]), "\n".join(r["guards"]), ", ".join(r["roles"])) for r in records],
    )


def _problem(where: str, error: IopError, lang: str) -> dict[str, Any]:
    return {"where": where, "code": error.code, "message": error.message(lang)}


def _check_files(lang: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    from iop_workflow.resources import config_dir, load_definition, load_guideline, states_dir  # noqa: PLC0415

    definitions, guidelines, problems = [], [], []
    for path in sorted(states_dir().glob("*.toml")):
        try:
            d = load_definition(path)
        except IopError as exc:
            problems.append(_problem(str(path), exc, lang))
        else:
            definitions.append(
                {
                    "file": str(path),
                    "name": d.name,
                    "version": d.version,
                    "states": len(d.states),
                    "transitions": len(d.transitions),
                }
            )
    seen: dict[str, str] = {}
    for path in sorted((config_dir() / "guidelines").glob("*.toml")):
        try:
            g = load_guideline(path)
        except IopError as exc:
            problems.append(_problem(str(path), exc, lang))
            continue
        if g.ref in seen:
            problems.append({"where": str(path), "code": "duplicate_guideline", "message": f"{g.ref}: {seen[g.ref]}"})
        seen[g.ref] = str(path)
        guidelines.append({"file": str(path), "ref": g.ref, "municipality": g.municipality})
    return definitions, guidelines, problems


@workflow.command("check")
@pass_state
def workflow_check(state: State) -> None:
    """Validate states/ and the shipped guidelines; with a database, list cases in unknown states.

    The database is checked when one is named (--db, IOP_DATABASE_URL or the
    config). Exit 6 if anything is wrong.
    """
    lang = state.lang
    definitions, guidelines, problems = _check_files(lang)
    checked: int | None = None
    if state.db or state.settings.database_url:
        from iop_workflow.resources import shipped_definition  # noqa: PLC0415

        known = shipped_definition().states
        cases = state.iop.cases(lang=lang)
        checked = len(cases)
        for c in cases:
            if c["state"] not in known:
                problems.append(
                    {
                        "where": c["ref"],
                        "code": "unknown_state",
                        "message": state.say(
                            f"läget {c['state']!r} finns inte i arbetsflödet",
                            f"state {c['state']!r} is not in the workflow",
                        ),
                    }
                )
    report = {
        "ok": not problems,
        "definitions": definitions,
        "guidelines": guidelines,
        "cases_checked": checked,
        "problems": problems,
    }
    if state.json:
        emit_json(report)
    else:
        for d in definitions:
            click.echo(
                f"{d['file']}: {d['name']} {d['version'][:12]}, {d['states']} "
                f"{state.say('lägen', 'states')}, {d['transitions']} "
                f"{state.say('övergångar', 'transitions')}"
            )
        click.echo(
            state.say(f"{len(guidelines)} riktlinjer: ", f"{len(guidelines)} guidelines: ")
            + ", ".join(g["ref"] for g in guidelines)
        )
        if checked is None:
            click.echo(
                state.say(
                    "Ingen databas angiven (--db): ärendena kontrollerades inte.",
                    "No database named (--db): cases were not checked.",
                )
            )
        else:
            click.echo(state.say(f"{checked} ärenden kontrollerade.", f"{checked} cases checked."))
        for p in problems:
            click.echo(f"  - {p['where']}: {p['message']}")
        click.echo(
            state.say(
                "OK." if not problems else f"{len(problems)} fel.",
                "OK." if not problems else f"{len(problems)} problem(s).",
            )
        )
    if problems:
        raise click.exceptions.Exit(EXIT_INVALID)


@workflow.command("diagram")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@click.option("--definition", "path", metavar="FILE", help="Another definition file (default: the shipped one).")
@pass_state
def workflow_diagram(state: State, /, *, fmt: str, path: str | None) -> None:
    """The state diagram as Mermaid (paste into Markdown) or Graphviz DOT."""
    from iop_workflow.cli.diagram import dot, mermaid  # noqa: PLC0415
    from iop_workflow.resources import load_definition, shipped_definition  # noqa: PLC0415

    d = load_definition(Path(path)) if path else shipped_definition()
    text = mermaid(d, state.lang) if fmt == "mermaid" else dot(d, state.lang)
    if state.json:
        emit_json({"format": fmt, "version": d.version, "source": text})
    else:
        click.echo(text, nl=False)
