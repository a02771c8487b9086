"""The ``iop`` group, its global options, and the CLI's ONE error boundary (:func:`main`)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import click

from iop_workflow import __version__
from iop_workflow.cli.context import LANGS, State, emit_json, printable
from iop_workflow.errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    DatabaseUnavailable,
    InternalError,
    InvalidInput,
    IopError,
)

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports it

_HELP = """Case workflow for idéburet offentligt partnerskap (IOP).

Officers move cases from initiative to an active partnership; every change is
checked against the workflow in states/ and the municipality's guideline, and
written to a hash-chained log. Exit status: 0 done, 1 internal error (a bug),
2 usage error, 3 not allowed, 4 not found, 5 conflict, 6 invalid input,
7 integrity failure, 8 database unavailable, 9 not authenticated.
"""


# The commands, each as "module:attribute". A command's module is imported when
# that command is used (help imports them all), so `iop case show` does not load
# the code of demo, scheduler, audit, ...
COMMANDS = {
    "init": "iop_workflow.cli.admin_cmds:init",
    "demo": "iop_workflow.cli.demo:demo",
    "guideline": "iop_workflow.cli.admin_cmds:guideline",
    "org": "iop_workflow.cli.admin_cmds:org",
    "case": "iop_workflow.cli.cases:case",
    "scheduler": "iop_workflow.cli.scheduler_cmds:scheduler",
    "alerts": "iop_workflow.cli.scheduler_cmds:alerts",
    "audit": "iop_workflow.cli.audit_cmds:audit",
    "report": "iop_workflow.cli.report_cmds:report",
    "workflow": "iop_workflow.cli.workflow_cmds:workflow",
    "db": "iop_workflow.cli.db_cmds:db",
    "role": "iop_workflow.cli.identity_cmds:role",
    "token": "iop_workflow.cli.identity_cmds:token",
    "serve": "iop_workflow.cli.serve_cmd:serve",
}


class _LazyGroup(click.Group):
    """The ``iop`` group: loads a command from :data:`COMMANDS` the first time it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, _, attr = COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            _attach(command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_LazyGroup, help=_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option("--json", "json_output", is_flag=True, help="Print JSON on stdout (errors too).")
@click.option("--db", metavar="URL", help="Database URL (default: IOP_DATABASE_URL, the config, or a SQLite file).")
@click.option(
    "--actor", metavar="NAME", help="Act as NAME with NAME's roles (admins only; recorded beside your OS login)."
)
@click.option("--lang", type=click.Choice(LANGS), help="Language of messages (default: IOP_LANG, else sv).")
@click.option("--config", metavar="FILE", help="Settings file instead of the shipped config/iop.toml (or IOP_CONFIG).")
@click.version_option(__version__, prog_name="iop")
@click.pass_context
def cli(
    ctx: click.Context, *, json_output: bool, db: str | None, actor: str | None, lang: str | None, config: str | None
) -> None:
    state = ctx.ensure_object(State)
    state.json, state.db, state.lang_option, state.config = json_output, db, lang, config
    if actor is not None and not actor.strip():
        raise click.BadParameter("must not be empty", param_hint="--actor")
    state.actor = actor.strip() if actor else None
    state.parsed = True


def _late(attr: str) -> Any:
    """A callback letting a global option follow the command: ``iop case show REF --json``."""

    def store(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value not in (None, False):
            state = ctx.ensure_object(State)
            if attr == "actor" and not str(value).strip():
                raise click.BadParameter("must not be empty", param_hint="--actor")
            setattr(state, attr, value.strip() if attr == "actor" else value)

    return store


def _late_options() -> list[click.Option]:
    return [
        click.Option(["--json"], is_flag=True, hidden=True, expose_value=False, callback=_late("json")),
        click.Option(["--db"], hidden=True, expose_value=False, callback=_late("db")),
        click.Option(["--actor"], hidden=True, expose_value=False, callback=_late("actor")),
        click.Option(
            ["--lang"], type=click.Choice(LANGS), hidden=True, expose_value=False, callback=_late("lang_option")
        ),
        click.Option(["--config"], hidden=True, expose_value=False, callback=_late("config")),
    ]


def _attach(command: click.Command) -> None:
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _attach(sub)
    else:
        command.params.extend(_late_options())


def _wants_json(state: State, args: Sequence[str]) -> bool:
    head = list(args[: args.index("--")]) if "--" in args else list(args)
    return state.json or "--json" in head


def error_log_path() -> Path:
    """Where tracebacks of internal errors go: ``cli-errors.log`` in the data directory."""
    import platformdirs  # noqa: PLC0415

    return Path(platformdirs.user_data_dir("iop-workflow", appauthor=False)) / "cli-errors.log"


def _log_traceback(args: Sequence[str]) -> str:
    import traceback  # noqa: PLC0415

    text = traceback.format_exc()
    path = error_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            handle.write(f"--- {stamp} iop {__version__} argv={list(args)!r}\n{text}\n")
    except OSError as exc:
        return f"(could not write {path}: {exc.strerror})"
    return str(path)


def _report(error: IopError, state: State, as_json: bool) -> int:
    lang = state.safe_lang()
    message = error.message(lang)
    if isinstance(error, DatabaseUnavailable) and _schema_missing(error.problem):
        hint = "Kör `iop init` för att skapa schemat." if lang == "sv" else "Run `iop init` first."
        message = f"{message.rstrip('.')}. {hint}"
    if as_json:
        emit_json({"error": {"code": error.code, "message": message, "details": error.all_details()}})
    else:
        click.echo(printable(message), err=True)
    return error.exit_status


def _schema_missing(problem: str) -> bool:
    lowered = problem.lower()
    return "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered)


def _database_error(exc: BaseException, state: State) -> IopError | None:
    """A driver error that is not a bug: the schema is missing (PostgreSQL raises these raw)."""
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    orig = getattr(exc, "orig", None)
    text = (str(orig) if orig is not None else str(exc)).strip().splitlines()[0]
    if not _schema_missing(text):
        return None
    url = state.db or "(database)"
    if state._iop is not None:
        from iop_workflow.store.engine import redact  # noqa: PLC0415 - sqlalchemy is loaded already here

        url = redact(state._iop.app.db.url)
    return DatabaseUnavailable(url=url, problem=text)


def _usage(exc: click.ClickException, as_json: bool) -> int:
    # Click's message quotes what was typed: escape its control characters (``message``
    # is typed Final, but click sets it per instance, like any attribute).
    vars(exc)["message"] = printable(exc.message)
    if as_json:
        ctx = getattr(exc, "ctx", None)
        details: dict[str, Any] = {"command": ctx.command_path if ctx is not None else "iop"}
        if ctx is not None:
            details["usage"] = ctx.get_usage()
        emit_json({"error": {"code": "usage_error", "message": exc.format_message(), "details": details}})
    else:
        exc.show()
    return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code


def _check_encoding(args: Sequence[str], state: State) -> None:
    """Refuse an argument that is not valid UTF-8 before anything runs.

    Python hands such bytes over as lone surrogates; no database driver or
    UTF-8 stream can carry them, so they would fail late, as a bug.
    """
    for number, arg in enumerate(args, start=1):
        if any("\ud800" <= ch <= "\udfff" for ch in arg):
            state.lang_option = next(
                (lang for flag, lang in pairwise(args) if flag == "--lang" and lang in LANGS), None
            )
            raise InvalidInput(
                field=f"argument {number}",
                value=arg,
                problem_sv="är inte giltig UTF-8 (kontrollera terminalens teckenkodning)",
                problem_en="is not valid UTF-8 (check the terminal's character encoding)",
            )


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status. The ONE place errors become statuses."""
    args = list(sys.argv[1:] if argv is None else argv)
    state = State()
    try:
        _check_encoding(args, state)
        try:
            result = cli.main(args=args, prog_name="iop", standalone_mode=False, obj=state)
        finally:
            state.close()
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except click.ClickException as exc:
        status = _usage(exc, _wants_json(state, args))
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Avbrutet." if state.safe_lang() == "sv" else "Aborted.", err=True)
        status = EXIT_INTERRUPTED
    except IopError as exc:
        status = _report(exc, state, _wants_json(state, args))
    except BrokenPipeError:  # `iop case history REF | head`: the reader left, not a bug
        _silence_stdout()
        status = EXIT_BROKEN_PIPE
    except Exception as exc:
        known = _database_error(exc, state)
        status = _bug(exc, state, args) if known is None else _report(known, state, _wants_json(state, args))
    else:
        status = result if isinstance(result, int) else EXIT_OK
    warning = state.stream_warning()
    if warning is not None:  # the database is the truth: the command's status stands
        click.echo(printable(warning), err=True)
    return status


def _silence_stdout() -> None:
    import os  # noqa: PLC0415

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _bug(exc: Exception, state: State, args: Sequence[str]) -> int:
    """An unexpected exception: say it is a bug, log the traceback, never show it."""
    where = _log_traceback(args)
    bug = InternalError(detail=f"{type(exc).__name__}: {exc}")
    text = f"{bug.message(state.safe_lang()).rstrip('.')}: {where}"
    if _wants_json(state, args):
        details = {**bug.details(), "log": where}
        emit_json({"error": {"code": bug.code, "message": text, "details": details}})
    else:
        click.echo(printable(text), err=True)
    return EXIT_INTERNAL


def main() -> None:
    """Console-script entry point: ``iop``."""
    sys.exit(run())
