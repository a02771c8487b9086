"""Reading a TOML document the product loads (settings, the workflow definition, a guideline):
one place for the syntax error and for the unknown-key check with the nearest known key.

Text in, data or :class:`DefinitionError` out; reading the file (size limit, regular file) is
``resources.read_text``'s.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from iop_workflow.errors import DefinitionError

_LISTED = 10  # an unknown key with no near match lists the known keys when there are at most this many


def parse(text: str, *, file: str) -> dict[str, Any]:
    """The document's top-level table; DefinitionError (key ``(syntax)``) when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(file=file, key="(syntax)", problem=f"not valid TOML: {exc}") from exc
    except RecursionError:
        raise DefinitionError(file=file, key="(syntax)", problem="not valid TOML: nested too deeply") from None


def unknown(file: str, key: str, known: Iterable[str], what: str = "unknown key") -> DefinitionError:
    """``key`` (dotted) is not one of ``known`` (its last part's siblings): name the nearest, if any,
    else the known ones when they are few."""
    prefix, _, name = key.rpartition(".")
    names = sorted(known)
    near = difflib.get_close_matches(name, names, n=1)
    if near:
        hint = f"; did you mean {(prefix + '.' if prefix else '') + near[0]!r}?"
    elif 0 < len(names) <= _LISTED:
        hint = f" (known: {', '.join(names)})"
    else:
        hint = ""
    return DefinitionError(file=file, key=key, problem=f"{what}{hint}")


def check_keys(
    table: Mapping[str, Any], *, file: str, key: str, allowed: Iterable[str], required: Iterable[str] = ()
) -> None:
    """Every key of ``table`` (found at dotted ``key``; "" for the top level) is allowed, and every
    required one is there."""
    known = frozenset(allowed)
    for k in table:
        if k not in known:
            raise unknown(file, f"{key}.{k}" if key else k, known)
    for k in sorted(frozenset(required) - set(table)):
        raise DefinitionError(file=file, key=f"{key}.{k}" if key else k, problem="missing")
