"""What every command shares: the global options, the settings and the API object.

Both are built lazily: a command that never touches the database never imports
the database layers.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from iop_workflow.api import Iop
    from iop_workflow.settings import Settings

LANGS = ("sv", "en")


@dataclass(slots=True)
class State:
    """The parsed global options; ``main()`` reads it back to render errors."""

    json: bool = False
    db: str | None = None
    actor: str | None = None
    lang_option: str | None = None
    config: str | None = None
    parsed: bool = False
    _settings: Settings | None = None
    _iop: Iop | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _apis: list[Iop] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from iop_workflow.settings import load_settings  # noqa: PLC0415

            self._settings = load_settings(Path(self.config) if self.config else None)
        return self._settings

    @property
    def lang(self) -> str:
        """``--lang``, else the settings (which read IOP_LANG), else Swedish."""
        if self.lang_option:
            return self.lang_option
        return self.settings.lang

    def safe_lang(self) -> str:
        """The language for an error message: never fails, even with a broken config."""
        if self.lang_option:
            return self.lang_option
        if self._settings is not None:
            return self._settings.lang
        env = os.environ.get("IOP_LANG", "")
        return env if env in LANGS else "sv"

    @property
    def iop(self) -> Iop:
        """The API on ``--db``, else IOP_DATABASE_URL / the config, else the default file."""
        if self._iop is None:
            self._iop = api_class().connect(self.db, settings=self.settings, source="cli")
            self._closers.append(self._iop.close)
            self._apis.append(self._iop)
            if self.actor is not None:  # acting as another login is refused up front unless you are an admin
                self._iop.actor(self.actor)
        return self._iop

    def connect(self, **options: Any) -> Iop:
        """A further API object with its own options (a clock, the daemon's stderr stream)."""
        iop = api_class().connect(self.db, settings=self.settings, source="cli", **options)
        self._closers.append(iop.close)
        self._apis.append(iop)
        return iop

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def stream_warning(self) -> str | None:
        """One line for stderr when audit-stream lines could not be written (the changes committed)."""
        failures = [f for api in self._apis for f in api.stream_failures]
        if not failures:
            return None
        first, n = failures[0], len(failures)
        if self.safe_lang() == "en":
            return (
                f"Warning: the audit stream {first.path} could not be written ({first.error}); {n} record(s) "
                "are in the database but not in the stream. Fix it and run `iop audit export --resync`."
            )
        return (
            f"Varning: granskningsströmmen {first.path} kunde inte skrivas ({first.error}); {n} post(er) finns "
            "i databasen men inte i strömmen. Åtgärda felet och kör `iop audit export --resync`."
        )

    def say(self, sv: str, en: str) -> str:
        return en if self.lang == "en" else sv


def api_class() -> type[Iop]:
    """The API class. The first call imports the database layers with the collector paused.

    That import (sqlalchemy, sqlmodel, pydantic, our tables) leaves over 80,000
    long-lived objects that the cyclic collector tracks. With the collector
    running, the full collections during the import and at interpreter exit
    traverse every one of them: about 100 ms of CPU of an ``iop case show``. So the
    import runs with the collector off, and what exists then is moved to the
    permanent generation (``gc.freeze()``, the gc module's tool for long-lived
    start-up state); the collector is back on before the command runs, for the
    objects it creates. CLI only: the library never touches the collector.
    """
    if "iop_workflow.api" not in sys.modules:
        enabled = gc.isenabled()
        gc.disable()
        try:
            import iop_workflow.api  # noqa: F401, PLC0415
        finally:
            gc.freeze()
            if enabled:
                gc.enable()
    from iop_workflow.api import Iop  # noqa: PLC0415

    return Iop


pass_state = click.make_pass_decorator(State)


def emit_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout: UTF-8, dates ISO-8601, decimals as text."""
    click.echo(_json_text(value))


def emit_json_array(items: Iterable[Any]) -> None:
    """Print ``items`` as one JSON array, each element written as it comes (constant memory for a
    streamed list); the same text :func:`emit_json` prints for the list. Nothing is printed when
    the first element fails (a refused filter, say)."""
    stream = iter(items)
    first = next(stream, _END)
    if first is _END:
        click.echo("[]")
        return
    click.echo("[\n" + _indented(first), nl=False)
    for item in stream:
        click.echo(",\n" + _indented(item), nl=False)
    click.echo("\n]")


_END = object()


def _indented(value: Any) -> str:
    return "\n".join("  " + line for line in _json_text(value).split("\n"))


def _json_text(value: Any) -> str:
    import json  # noqa: PLC0415

    text = json.dumps(value, ensure_ascii=False, indent=2, default=_json_default)
    # A lone surrogate (an echoed non-UTF-8 argument) is written as its JSON escape,
    # so stdout stays valid UTF-8 and the document stays parseable.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def printable(text: str) -> str:
    """``text`` with control characters (but tab and newline) shown as escapes such as ``\\x1b``.

    An error message echoes what the user gave; this keeps an escape sequence in
    that input from driving the terminal.
    """
    return "".join(repr(ch)[1:-1] if _is_control(ch) else ch for ch in text)


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return (code < 0x20 and ch not in "\t\n") or 0x7F <= code <= 0x9F


def _json_default(value: Any) -> Any:
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    return str(value)


def output_file(state: State, output: str, *, force: bool) -> Path:
    """Where ``--output`` may write (``iop_workflow/files.py``), checked before anything is computed."""
    from iop_workflow import files  # noqa: PLC0415

    return files.target(output, force=force, protected=state.iop.protected_files())
