"""Corrections: append-only rows, and the latest corrected value of each fact field."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.store.audit_tables import CORRECTIONS


def insert(s: Connection, values: dict[str, Any]) -> int:
    row = {
        **values,
        "old_value": json.dumps(values["old_value"], ensure_ascii=False),
        "new_value": json.dumps(values["new_value"], ensure_ascii=False),
    }
    return int(s.execute(sa.insert(CORRECTIONS).values(**row).returning(CORRECTIONS.c.id)).scalar_one())


_FOR_CASE = sa.select(CORRECTIONS).where(CORRECTIONS.c.case_ref == sa.bindparam("ref")).order_by(CORRECTIONS.c.id)


def for_case(s: Connection, case_ref: str) -> list[dict[str, Any]]:
    return [_decode(r) for r in s.execute(_FOR_CASE, {"ref": case_ref}).mappings()]


def latest(s: Connection, kind: str, fact_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """fact id -> {field: the latest corrected value (JSON)} for facts of ``kind``."""
    query = sa.select(CORRECTIONS).where(CORRECTIONS.c.fact_kind == kind).order_by(CORRECTIONS.c.id)
    if fact_ids is not None:
        query = query.where(CORRECTIONS.c.fact_id.in_(list(fact_ids)))
    out: dict[int, dict[str, Any]] = {}
    for row in s.execute(query).mappings():
        out.setdefault(int(row["fact_id"]), {})[row["field"]] = json.loads(row["new_value"])
    return out


def _decode(row: sa.RowMapping) -> dict[str, Any]:
    return {**dict(row), "old_value": json.loads(row["old_value"]), "new_value": json.loads(row["new_value"])}


Fixes = dict[tuple[str, int], dict[str, Any]]  # (table, fact id) -> {field: latest corrected value (JSON)}
