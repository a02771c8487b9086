"""The one gate for the Python API's arguments: names, presence and types, checked before a method runs.

``@checked`` on :class:`~iop_workflow.api.Iop` wraps every public method. A call with an
unknown keyword (named with the nearest known one), a missing required argument, too many
positional ones or one given twice raises :class:`~iop_workflow.errors.UsageError` (exit 2);
a value of the wrong type raises :class:`~iop_workflow.errors.InvalidInput` (exit 6) naming
the argument and what it takes. Never a raw ``TypeError``. A text where a parameter takes
only a date is parsed as ``YYYY-MM-DD`` (``service.validate.day``); the values themselves
(ranges, choices, formats) are checked by the services, as for the CLI and HTTP.

The checks follow each method's own signature and annotations, so a method's parameters are
declared once, where mypy reads them too.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from iop_workflow.errors import InvalidInput, UsageError

T = TypeVar("T")
Check = Callable[[object], bool]

# How a type is named in a message: (Swedish, English).
_WORDS: dict[type, tuple[str, str]] = {
    str: ("text", "text"),
    bool: ("True eller False", "True or False"),
    int: ("ett heltal", "a whole number"),
    float: ("ett tal", "a number"),
    date: ("ett datum (ÅÅÅÅ-MM-DD)", "a date (YYYY-MM-DD)"),
    datetime: ("en tidpunkt", "a date and time"),
    Path: ("en sökväg", "a path"),
    os.PathLike: ("en sökväg", "a path"),
    list: ("en lista", "a list"),
    Mapping: ("nyckel/värde-par", "a key/value mapping"),
    dict: ("nyckel/värde-par", "a key/value mapping"),
}


@dataclass(frozen=True, slots=True)
class _Param:
    check: Check | None  # None: any value
    sv: str
    en: str
    parse_date: bool  # takes a date but not a text: a text is parsed as YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class _Spec:
    qualname: str
    positional: tuple[str, ...]
    names: frozenset[str]
    required: tuple[str, ...]
    params: dict[str, _Param]

    def usage(self, en: str, sv: str) -> UsageError:
        return UsageError(problem=f"{self.qualname}: {en}", problem_sv=f"{self.qualname}: {sv}")


def checked(cls: type[T]) -> type[T]:
    """Wrap every public method (and classmethod) of ``cls`` and of the classes it is built from
    (``Iop``'s groups of methods) in the gate, each named as a method of ``cls``."""
    own: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):  # the most derived definition of a name wins
        own.update(vars(klass))
    for name, attr in own.items():
        if name.startswith("_"):
            continue
        if isinstance(attr, classmethod):
            setattr(cls, name, classmethod(_gate(attr.__func__, cls.__name__)))
        elif inspect.isfunction(attr):
            setattr(cls, name, _gate(attr, cls.__name__))
    return cls


def _gate(func: Callable[..., Any], owner: str) -> Callable[..., Any]:
    spec: _Spec | None = None

    @functools.wraps(func)
    def wrapper(first: object, /, *args: object, **kwargs: object) -> Any:
        nonlocal spec
        if spec is None:  # built at the first call, when the module's names all exist
            spec = _spec(func, f"{owner}.{func.__name__}")
        return func(first, *_check(spec, args, kwargs), **kwargs)

    return wrapper


def _spec(func: Callable[..., Any], qualname: str) -> _Spec:
    signature = inspect.signature(func)
    params = list(signature.parameters.values())[1:]  # self or cls
    if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params):  # a bug in api.py, caught by its tests
        raise TypeError(f"{qualname}: the API gate takes declared parameters only, not *args or **kwargs")
    positional = tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
    required = tuple(p.name for p in params if p.default is p.empty)
    hints: dict[str, _Param] = {}
    for p in params:
        annotation = p.annotation
        if isinstance(annotation, str):
            annotation = eval(annotation, func.__globals__)  # noqa: S307 - the module's own annotation text
        hints[p.name] = _param(annotation)
    return _Spec(qualname, positional, frozenset(hints), required, hints)


def _check(spec: _Spec, args: tuple[object, ...], kwargs: dict[str, object]) -> tuple[object, ...]:
    """The positional arguments to pass on (``kwargs`` is updated in place): dates given as text parsed."""
    if len(args) > len(spec.positional):
        shown = ", ".join(spec.positional) or "-"
        raise spec.usage(
            f"takes {len(spec.positional)} positional arguments ({shown}); give the others by name",
            f"tar {len(spec.positional)} argument utan namn ({shown}); ge övriga med namn",
        )
    given = dict(zip(spec.positional, args, strict=False))
    for name, value in kwargs.items():
        if name not in spec.names:
            raise _unknown(spec, name)
        if name in given:
            raise spec.usage(f"`{name}` is given twice", f"`{name}` anges två gånger")
        given[name] = value
    missing = [name for name in spec.required if name not in given]
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        raise spec.usage(f"missing the required argument {names}", f"saknar det obligatoriska argumentet {names}")
    for name, value in given.items():
        parsed = _value(spec.params[name], name, value)
        if parsed is value:
            continue
        if name in kwargs:
            kwargs[name] = parsed
        else:
            at = spec.positional.index(name)
            args = (*args[:at], parsed, *args[at + 1 :])
    return args


def _value(param: _Param, name: str, value: object) -> object:
    """``value`` as the method takes it (a date given as text, parsed), or InvalidInput naming what it takes."""
    if param.parse_date and isinstance(value, str):
        from iop_workflow.service import validate  # noqa: PLC0415 - the service layer, only when needed

        return validate.day(name, value)
    if param.check is not None and not param.check(value):
        sv, en = _words(type(value))
        raise InvalidInput(
            field=name,
            value=value if value is None else str(value),
            problem_sv=f"måste vara {param.sv}, inte {sv}",
            problem_en=f"must be {param.en}, not {en}",
        )
    return value


def _unknown(spec: _Spec, name: str) -> UsageError:
    known = sorted(spec.names)
    # A name that one of the known ones begins with (start -> start_on, org -> org_number) is nearest.
    prefixed = [k for k in known if k.startswith(name) or name.startswith(k)]
    near = difflib.get_close_matches(name, prefixed or known, n=1, cutoff=0.0 if prefixed else 0.5)
    listed = ", ".join(known)
    if near:
        return spec.usage(
            f"takes no argument `{name}`; did you mean `{near[0]}`? (it takes: {listed})",
            f"tar inget argument `{name}`; menade du `{near[0]}`? (det tar: {listed})",
        )
    return spec.usage(
        f"takes no argument `{name}` (it takes: {listed})", f"tar inget argument `{name}` (det tar: {listed})"
    )


def _param(annotation: object) -> _Param:
    members = _members(annotation)
    if any(m is Any or m is object for m in members):
        return _Param(None, "", "", parse_date=False)
    checks = [_check_of(m) for m in members]
    words = [_words(m) for m in members if m is not type(None)]
    sv = " eller ".join(dict.fromkeys(w[0] for w in words)) or "utelämnat"
    en = " or ".join(dict.fromkeys(w[1] for w in words)) or "left out"
    takes_date = date in members and str not in members
    # The common case first: a value of exactly a member's own class (a str, an int, None, an Actor).
    exact = frozenset(m for m in members if isinstance(m, type) and typing.get_origin(m) is None)

    def check(v: object) -> bool:
        return type(v) in exact or any(c(v) for c in checks)

    return _Param(check, sv, en, parse_date=takes_date)


def _members(annotation: object) -> list[object]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


# Checks that isinstance alone gets wrong: a bool is an int to Python, not to a caller.
_EXACT: dict[object, Check] = {
    type(None): lambda v: v is None,
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def _check_of(member: object) -> Check:
    origin = typing.get_origin(member) or member
    if origin in _EXACT:
        return _EXACT[origin]
    if origin is typing.Literal:
        allowed = typing.get_args(member)
        return lambda v: v in allowed
    if origin is list:
        (item,) = typing.get_args(member) or (object,)
        each = None if item in (Any, object) else _check_of(item)
        return lambda v: isinstance(v, list) and (each is None or all(each(x) for x in v))
    if getattr(origin, "_is_protocol", False):  # e.g. Clock: any object with its methods will do
        return lambda v: True
    if isinstance(origin, type):
        return lambda v: isinstance(v, origin)
    raise TypeError(f"the API gate cannot check the annotation {member!r}")  # a bug in api.py, caught by its tests


def _words(member: object) -> tuple[str, str]:
    if typing.get_origin(member) is typing.Literal:
        shown = ", ".join(str(a) for a in typing.get_args(member))
        return (f"en av: {shown}", f"one of: {shown}")
    origin = typing.get_origin(member) or member
    for kind, words in _WORDS.items():
        if origin is kind:
            return words
    name = getattr(origin, "__name__", str(origin))
    return (f"en {name}", f"a {name}")
