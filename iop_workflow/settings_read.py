"""Reading settings values: a section's typed keys, their ``IOP_*`` environment overrides, the shipped file.

A wrong type, a negative or too large whole number, or a control character is a load error naming
the file (or variable) and key. :mod:`iop_workflow.settings` reads each section through here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iop_workflow.domain import tomldoc
from iop_workflow.errors import DefinitionError
from iop_workflow.resources import config_dir

# Whole numbers are days or months added to dates: a century keeps every sum a valid date.
MAX_WHOLE = 36_500
CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def default_config_path() -> Path:
    return config_dir() / "iop.toml"


def env_name(section: str, key: str) -> str:
    return f"IOP_{key}".upper() if section == "iop" else f"IOP_{section}_{key}".upper().replace(".", "_")


def read_section(
    data: dict[str, Any],
    section: str,
    schema: dict[str, type],
    file: str,
    env: Mapping[str, str],
    *,
    prefix: str = "",
) -> dict[str, Any]:
    table = data.get(section, {})
    section = prefix + section
    if not isinstance(table, dict):
        raise DefinitionError(file=file, key=section, problem="must be a table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in schema:
            raise tomldoc.unknown(file, f"{section}.{key}", schema)
        out[key] = typed_value(value, schema[key], file, f"{section}.{key}")
    for key, kind in schema.items():
        name = env_name(section, key)
        if name in env:
            out[key] = env_value(env[name], kind, name)
    return out


def typed_value(value: Any, kind: type, file: str, key: str) -> Any:
    if kind is tuple:
        if not isinstance(value, list):
            raise DefinitionError(file=file, key=key, problem=f"must be a list of strings, not {value!r}")
        return tuple(typed_value(item, str, file, key) for item in value)
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise DefinitionError(file=file, key=key, problem=f"must be a whole number, not {value!r}")
    if kind is int and value < 0:
        raise DefinitionError(file=file, key=key, problem=f"must not be negative ({value})")
    if kind is int and value > MAX_WHOLE:
        raise DefinitionError(file=file, key=key, problem=f"must be at most {MAX_WHOLE} ({value})")
    if kind is str and not isinstance(value, str):
        raise DefinitionError(file=file, key=key, problem=f"must be a string, not {value!r}")
    if kind is str and CONTROL.search(value):
        raise DefinitionError(
            file=file, key=key, problem=f"contains control characters or invalid UTF-8: {value[:80]!r}"
        )
    return value


def env_value(raw: str, kind: type, name: str) -> Any:
    if kind is tuple:  # a comma-separated list
        return tuple(typed_value(item.strip(), str, "environment", name) for item in raw.split(",") if item.strip())
    if kind is int:
        try:
            value = int(raw)
        except ValueError:
            raise DefinitionError(
                file="environment", key=name, problem=f"must be a whole number, not {raw!r}"
            ) from None
        return typed_value(value, int, "environment", name)
    return typed_value(raw, str, "environment", name)
