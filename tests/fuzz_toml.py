"""Broken TOML files, generated from the shipped ones: syntax breaks and structural mutations.

Every mutation is bad by construction (the loaders check every key, type and
name), so the loader must refuse it, naming the file and the key:

- ``syntax``: a character inserted, deleted or the text cut short, kept only when
  ``tomllib`` itself rejects the result;
- ``unknown key``: a key added to any table (a scalar, so it cannot pass as a
  state, an actor or a section);
- ``wrong type``: any value replaced by one of another TOML type;
- ``missing``: a required key removed;
- loader-specific values: unknown names, impossible or out-of-order dates,
  out-of-range numbers, control characters, huge strings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from tests import fuzz_strategies as bad

Path_ = tuple[str | int, ...]
Data = dict[str, Any]


def dumps(data: Data) -> str:
    """``data`` as TOML: one ``"key" = <inline value>`` line per top-level key (any tree fits)."""
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in data.items())


def _key(key: str) -> str:
    return _string(key)


def _string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = [escapes.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch) for ch in text]
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"


def nodes(data: Any, path: Path_ = ()) -> list[tuple[Path_, Any]]:
    """Every value below the root with its path, tables and arrays included."""
    out: list[tuple[Path_, Any]] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        out.append(((*path, key), value))
        out.extend(nodes(value, (*path, key)))
    return out


def replaced(data: Data, path: Path_, value: Any = None, *, delete: bool = False) -> Data:
    """A copy of ``data`` with the value at ``path`` replaced (or deleted)."""
    copy = tomllib.loads(dumps(data))
    parent: Any = copy
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


FAMILIES: dict[str, st.SearchStrategy[Any]] = {
    "str": st.text(max_size=8),
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False),
    "bool": st.booleans(),
    "date": st.dates(),
    "datetime": st.datetimes(),
    "list": st.lists(st.integers(), max_size=2),
    "dict": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
}


def family(value: Any) -> str:
    kinds = [(bool, "bool"), (int, "int"), (float, "float"), (datetime, "datetime"), (date, "date"), (str, "str")]
    kinds += [(list, "list"), (dict, "dict")]
    return next(name for kind, name in kinds if isinstance(value, kind))


def wrong_type(data: Data) -> st.SearchStrategy[Data]:
    """Any value replaced by one of another type; each key name is as likely as any other."""
    by_key: dict[str | int, list[tuple[Path_, Any]]] = {}
    for path, value in nodes(data):
        by_key.setdefault("#" if isinstance(path[-1], int) else path[-1], []).append((path, value))

    def swap(spot: tuple[Path_, Any]) -> st.SearchStrategy[Data]:
        others = sorted(set(FAMILIES) - {family(spot[1])})
        return st.sampled_from(others).flatmap(lambda f: FAMILIES[f]).map(lambda v: replaced(data, spot[0], v))

    return st.sampled_from(sorted(by_key, key=str)).flatmap(lambda k: st.sampled_from(by_key[k])).flatmap(swap)


def unknown_key(data: Data) -> st.SearchStrategy[Data]:
    tables = [((), data), *((p, v) for p, v in nodes(data) if isinstance(v, dict))]
    names = bad.identifier_not_in(frozenset()).map(lambda s: "zz_" + s)
    return st.tuples(st.sampled_from(tables), names, st.one_of(st.integers(), st.text(max_size=4))).map(
        lambda t: replaced(data, (*t[0][0], t[1]), t[2]) if t[0][0] else {**data, t[1]: t[2]}
    )


def missing(data: Data, required: Callable[[Path_], bool]) -> st.SearchStrategy[Data]:
    spots = [p for p, _ in nodes(data) if required(p)]
    return st.sampled_from(spots).map(lambda p: replaced(data, p, delete=True))


def syntax(text: str) -> st.SearchStrategy[str]:
    """``text`` broken so that ``tomllib`` rejects it."""
    breaker = st.sampled_from(['"', "[", "]", "=", "{", "}", "\\", "\n= 1", "'''", "\x00", "\x7f", "x y", ",", "#\r"])
    spot = st.integers(0, len(text))
    inserted = st.tuples(spot, breaker).map(lambda t: text[: t[0]] + t[1] + text[t[0] :])
    cut = spot.map(lambda n: text[:n])
    deleted = spot.map(lambda n: text[:n] + text[n + 1 :])
    duplicated = st.sampled_from([line for line in text.splitlines() if "=" in line and not line.startswith("#")]).map(
        lambda line: text + "\n" + line + "\n"
    )
    return st.one_of(inserted, cut, deleted, duplicated).filter(_rejected)


def _rejected(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return True
    return False


def not_utf8(text: str) -> st.SearchStrategy[bytes]:
    raw = text.encode("utf-8")
    invalid = st.sampled_from([b"\xff", b"\xe5", b"\xc0\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
    return st.tuples(st.integers(0, len(raw)), invalid).map(lambda t: raw[: t[0]] + t[1] + raw[t[0] :])


def deep(text: str) -> st.SearchStrategy[str]:
    return st.integers(1_000, 20_000).map(lambda n: f"zz = {'[' * n}{']' * n}\n" + text)


def nasty_text() -> st.SearchStrategy[str]:
    """A text no loaded string may be: control characters, or longer than any column."""
    return st.one_of(bad.with_control(), bad.huge())


def checked(data: Data) -> Data:
    """``data`` survives the TOML round trip (a guard on :func:`dumps`)."""
    assume(tomllib.loads(dumps(data)) == data)
    return data
