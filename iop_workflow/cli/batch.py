"""``iop case fire --from-file FILE.jsonl``: many triggers, one transaction each.

The whole file is read and checked first (a malformed file fires nothing, exit
6); then each line is fired on its own and reported as done, refused (with
every reason) or conflict. If any line failed, the exit status is the most
important one among the failures (see ``PRIORITY``), else 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from iop_workflow.cli.context import State, emit_json, printable
from iop_workflow.errors import (
    EXIT_CONFLICT,
    EXIT_INVALID,
    EXIT_NOT_ALLOWED,
    EXIT_NOT_FOUND,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    ConcurrentUpdate,
    DefinitionError,
    IopError,
    TransitionNotAllowed,
)

# Most important first: input that can never succeed outranks a lost race,
# which outranks a rule that may be met later.
PRIORITY = (EXIT_UNAVAILABLE, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_CONFLICT, EXIT_NOT_ALLOWED)
_KEYS: dict[str, tuple[type, ...]] = {
    "ref": (str,),
    "trigger": (str,),
    "reason": (str, type(None)),
    "data": (dict, type(None)),
    "end_reason": (str, type(None)),
    "notice_on": (str, type(None)),
    "if_version": (int, type(None)),
    "actor": (str, type(None)),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    number: int
    ref: str
    trigger: str
    values: dict[str, Any] = field(default_factory=dict)


def read_lines(path: Path) -> list[Line]:
    """Every non-blank line as a checked :class:`Line`; DefinitionError (exit 6) names the line."""
    from iop_workflow.resources import read_text  # noqa: PLC0415 - names the file when unreadable / not UTF-8

    file = str(path)
    text = read_text(path, field="--from-file")
    out = [_parse(file, number, raw) for number, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
    if not out:
        raise DefinitionError(file=file, key="(content)", problem="no lines to fire")
    return out


def _parse(file: str, number: int, raw: str) -> Line:
    try:
        item = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise DefinitionError(file=file, key=f"line {number}", problem=f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise DefinitionError(file=file, key=f"line {number}", problem="not valid JSON: nested too deeply") from None
    if not isinstance(item, dict):
        raise DefinitionError(file=file, key=f"line {number}", problem="must be a JSON object")
    try:  # an escaped lone surrogate ("\udce5") is valid JSON but no valid text
        json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise DefinitionError(
            file=file, key=f"line {number}", problem="not valid JSON: an escape names a lone surrogate"
        ) from None
    for key, value in item.items():
        if key not in _KEYS:
            raise DefinitionError(
                file=file, key=f"line {number}.{key}", problem=f"unknown key (known: {', '.join(_KEYS)})"
            )
        if not isinstance(value, _KEYS[key]) or isinstance(value, bool):
            raise DefinitionError(file=file, key=f"line {number}.{key}", problem=f"wrong type: {value!r}")
    for key in ("ref", "trigger"):
        if not item.get(key):
            raise DefinitionError(file=file, key=f"line {number}.{key}", problem="missing")
    return Line(number=number, ref=item["ref"], trigger=item["trigger"], values=item)


def _no_constant(name: str) -> Any:
    """NaN and Infinity: Python's json reads them, JSON has no such values."""
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _fire(state: State, line: Line) -> dict[str, Any]:
    v = line.values
    result: dict[str, Any] = {"line": line.number, "ref": line.ref, "trigger": line.trigger}
    try:
        fired = state.iop.fire(
            line.ref,
            line.trigger,
            actor=v.get("actor") or state.actor,
            reason=v.get("reason"),
            data=v.get("data"),
            end_reason=v.get("end_reason"),
            if_version=v.get("if_version"),
            notice_on=v.get("notice_on"),
        )
    except TransitionNotAllowed as exc:
        status = "refused"
        error: IopError = exc
    except ConcurrentUpdate as exc:
        status, error = "conflict", exc
    except IopError as exc:
        status, error = "failed", exc
    else:
        return {**result, "status": "done", "state": fired["to_state"], "seq": fired["seq"]}
    message = error.message(state.lang)
    return {
        **result,
        "status": status,
        "exit_status": error.exit_status,
        "error": {"code": error.code, "message": message, "details": error.details()},
    }


def _show(state: State, result: dict[str, Any]) -> None:
    head = f"{state.say('rad', 'line')} {result['line']}: {printable(result['ref'])} {printable(result['trigger'])}: "
    if result["status"] == "done":
        click.echo(head + state.say(f"klart ({result['state']})", f"done ({result['state']})"))
        return
    word = {
        "refused": state.say("vägrad", "refused"),
        "conflict": state.say("konflikt", "conflict"),
        "failed": state.say("misslyckades", "failed"),
    }[result["status"]]
    click.echo(f"{head}{word}: {printable(result['error']['message'])}")


def fire_from_file(state: State, file: str) -> None:
    lines = read_lines(Path(file))
    results = [_fire(state, line) for line in lines]
    failed = [r for r in results if r["status"] != "done"]
    if state.json:
        emit_json({"results": results, "done": len(results) - len(failed), "failed": len(failed)})
    else:
        for result in results:
            _show(state, result)
        click.echo(
            state.say(
                f"{len(results) - len(failed)} klara, {len(failed)} misslyckade.",
                f"{len(results) - len(failed)} done, {len(failed)} failed.",
            )
        )
    if failed:
        statuses = {r["exit_status"] for r in failed}
        raise click.exceptions.Exit(next((s for s in PRIORITY if s in statuses), EXIT_NOT_ALLOWED))
