"""The export formats of the transition log: JSON lines (the audit stream's shape) and CSV."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from iop_workflow.audit.chain import HASHED_FIELDS, canonical_json
from iop_workflow.csvsafe import csv_line as safe_csv_line

SCHEMA_FILE = "record.schema.json"
# The CSV columns: the global order, every hashed field, the hash, and whether the row is masked.
CSV_FIELDS = ("seq", *HASHED_FIELDS, "hash", "masked")


def stream_dict(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as the audit stream carries it: the log fields plus ``event``."""
    return {"event": "transition", **record}


def jsonl_line(record: Mapping[str, Any]) -> str:
    """One line, byte for byte what the structlog sink writes for the same record."""
    return json.dumps(stream_dict(record), sort_keys=True, ensure_ascii=False)


def csv_header() -> str:
    return safe_csv_line(CSV_FIELDS)


def csv_line(record: Mapping[str, Any]) -> str:
    cells: list[Any] = []
    for name in CSV_FIELDS:
        value = record.get(name)
        if name in ("roles", "data"):
            cells.append(canonical_json(value))
        elif name == "masked":
            cells.append("true" if value else "")
        else:
            cells.append(value)
    return safe_csv_line(cells)


@cache
def record_schema() -> dict[str, Any]:
    """The JSON Schema of a record (shipped as ``iop_workflow/audit/record.schema.json``)."""
    text = resources.files("iop_workflow.audit").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
