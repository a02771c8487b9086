"""Where the shipped data lives, and reading it from disk.

In a repository checkout ``states/`` and ``config/`` sit beside the package; in
an installed wheel they are package data under ``iop_workflow/_data/``.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path

from iop_workflow.domain.definition import GROUPS, WorkflowDefinition
from iop_workflow.domain.definition_parse import parse_definition
from iop_workflow.domain.guards import GUARDS
from iop_workflow.domain.guidelines import Guideline, parse_guideline
from iop_workflow.domain.timers import ANCHORS
from iop_workflow.errors import DefinitionError, InvalidInput

_PACKAGE = Path(__file__).resolve().parent


def data_root() -> Path:
    """The directory holding ``states/`` and ``config/``."""
    installed = _PACKAGE / "_data"
    if (installed / "states").is_dir():
        return installed
    return _PACKAGE.parent


def states_dir() -> Path:
    return data_root() / "states"


def config_dir() -> Path:
    return data_root() / "config"


# The most any text input (a settings, workflow or guideline TOML file, a batch file) may hold.
MAX_INPUT_BYTES = 4 * 1024 * 1024
_KINDS = (
    (stat.S_ISDIR, "en katalog", "a directory"),
    (stat.S_ISFIFO, "en FIFO (namngiven rörledning)", "a FIFO (named pipe)"),
    (stat.S_ISCHR, "en teckenenhet", "a character device"),
    (stat.S_ISBLK, "en blockenhet", "a block device"),
    (stat.S_ISSOCK, "en socket", "a socket"),
)


def require_regular(path: Path, *, field: str = "file", mode: int | None = None) -> None:
    """Refuse (InvalidInput, exit 6) a path that names no regular file: a directory, FIFO, device or
    socket. Checked with ``stat`` (symlinks followed), so nothing is opened: opening a FIFO blocks.
    A path that does not exist passes: the reader's own error names it. ``mode``: an ``st_mode`` seen."""
    if mode is None:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return
    if stat.S_ISREG(mode):
        return
    sv, en = next(((sv, en) for test, sv, en in _KINDS if test(mode)), ("ingen vanlig fil", "not a regular file"))
    raise InvalidInput(
        field=field,
        value=str(path),
        problem_sv=f"är {sv}, ingen vanlig fil; den läses inte",
        problem_en=f"is {en}, not a regular file; not read",
    )


def open_regular(path: Path, *, field: str = "file") -> int:
    """A read-only descriptor of the regular file ``path``; anything else refused before reading.

    ``stat`` first, then ``open`` with O_NONBLOCK (a FIFO swapped in between cannot block the
    open) and ``fstat`` of what was opened. OSError from ``open`` is the caller's to report.
    """
    require_regular(path, field=field)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        require_regular(path, field=field, mode=os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, *, field: str = "file", limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (InvalidInput beyond)."""
    try:
        fd = open_regular(path, field=field)
    except OSError as exc:
        raise DefinitionError(file=str(path), key="(file)", problem=f"cannot read: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(limit + 1)
        except OSError as exc:
            raise DefinitionError(file=str(path), key="(file)", problem=f"cannot read: {exc.strerror}") from exc
    if len(raw) > limit:
        raise InvalidInput(
            field=field,
            value=str(path),
            problem_sv=f"är större än {limit:,} byte; större filer läses inte".replace(",", " "),
            problem_en=f"is larger than {limit:,} bytes; larger files are not read",
        )
    return raw


def read_text(path: Path, *, field: str = "file", limit: int = MAX_INPUT_BYTES) -> str:
    """The file's text as UTF-8, or a DefinitionError naming the file.

    Only a regular file of at most ``limit`` bytes is read: a directory, FIFO, device
    (``/dev/zero``) or socket, or a larger file, is InvalidInput (exit 6) before reading.
    """
    raw = read_bytes(path, field=field, limit=limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError(
            file=str(path), key="(encoding)", problem=f"not UTF-8 (byte {exc.start}: {raw[exc.start]:#04x})"
        ) from exc


def load_definition(path: Path | None = None) -> WorkflowDefinition:
    """The definition a service runs on: unlike an old version read back for ``audit verify``, it
    must name its groups of states (``[groups]``), which the register, records and reports read."""
    path = path or states_dir() / "partnership.toml"
    d = parse_definition(read_text(path), file=str(path), guards=GUARDS, anchors=ANCHORS)
    if not d.groups:
        raise DefinitionError(file=str(path), key="groups", problem=f"missing (needs: {', '.join(GROUPS)})")
    from iop_workflow import glossary  # noqa: PLC0415 - the glossary reads its file through this module

    glossary.check(d)
    return d


@lru_cache(maxsize=4)
def shipped_definition() -> WorkflowDefinition:
    return load_definition()


def load_guideline(path: Path, *, field: str = "file") -> Guideline:
    return parse_guideline(read_text(path, field=field), file=str(path))


def shipped_guidelines() -> tuple[Guideline, ...]:
    """Every guideline in ``config/guidelines``, refs unique across files."""
    out: dict[str, Guideline] = {}
    for path in sorted((config_dir() / "guidelines").glob("*.toml")):
        g = load_guideline(path)
        if g.ref in out:
            raise DefinitionError(file=str(path), key="guideline.ref", problem=f"duplicate ref {g.ref!r}")
        out[g.ref] = g
    return tuple(out.values())
