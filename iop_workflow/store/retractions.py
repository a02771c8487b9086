"""Retractions: append-only rows naming the recorded facts that no longer count."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.store.audit_tables import RETRACTIONS

Retracted = frozenset[tuple[str, int]]  # (fact table, fact id)


def insert(s: Connection, values: dict[str, Any]) -> int:
    return int(s.execute(sa.insert(RETRACTIONS).values(**values).returning(RETRACTIONS.c.id)).scalar_one())


_BY_REF = sa.select(RETRACTIONS).where(RETRACTIONS.c.case_ref == sa.bindparam("ref")).order_by(RETRACTIONS.c.id)


def for_case_ref(s: Connection, case_ref: str) -> list[sa.RowMapping]:
    """The retractions of case ``case_ref``, oldest first."""
    return list(s.execute(_BY_REF, {"ref": case_ref}).mappings())


def retracted_ids(s: Connection, kind: str, fact_ids: Iterable[int]) -> frozenset[int]:
    """Which of ``fact_ids`` (facts of ``kind``) are retracted."""
    ids = list(fact_ids)
    if not ids:
        return frozenset()
    query = sa.select(RETRACTIONS.c.fact_id).where(RETRACTIONS.c.fact_kind == kind, RETRACTIONS.c.fact_id.in_(ids))
    return frozenset(int(i) for i in s.execute(query).scalars())
