"""Where the shipped data lives, and reading it from disk.

In a repository checkout ``states/`` and ``config/`` sit beside the package; in
an installed wheel they are package data under ``iop_workflow/_data/``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from iop_workflow.domain.definition import WorkflowDefinition, parse_definition
from iop_workflow.domain.guards import GUARDS
from iop_workflow.domain.guidelines import Guideline, parse_guideline
from iop_workflow.domain.timers import ANCHORS
from iop_workflow.errors import DefinitionError

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


def read_text(path: Path) -> str:
    """The file's text as UTF-8, or a DefinitionError naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DefinitionError(file=str(path), key="(file)", problem=f"cannot read: {exc.strerror}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError(
            file=str(path), key="(encoding)", problem=f"not UTF-8 (byte {exc.start}: {raw[exc.start]:#04x})"
        ) from exc


def load_definition(path: Path | None = None) -> WorkflowDefinition:
    path = path or states_dir() / "partnership.toml"
    return parse_definition(read_text(path), file=str(path), guards=GUARDS, anchors=ANCHORS)


@lru_cache(maxsize=4)
def shipped_definition() -> WorkflowDefinition:
    return load_definition()


def load_guideline(path: Path) -> Guideline:
    return parse_guideline(read_text(path), file=str(path))


def shipped_guidelines() -> tuple[Guideline, ...]:
    """Every guideline in ``config/guidelines``, refs unique across files."""
    out: dict[str, Guideline] = {}
    for path in sorted((config_dir() / "guidelines").glob("*.toml")):
        g = load_guideline(path)
        if g.ref in out:
            raise DefinitionError(file=str(path), key="guideline.ref", problem=f"duplicate ref {g.ref!r}")
        out[g.ref] = g
    return tuple(out.values())
