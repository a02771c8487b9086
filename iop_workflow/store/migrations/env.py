"""Alembic environment: always run from iop_workflow.store.migrate with a live connection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import iop_workflow.store.audit_tables  # registers the audit-trail tables too
import iop_workflow.store.identity_tables  # grants, tokens, bindings, idempotency keys
import iop_workflow.store.tables  # noqa: F401 - registers the tables on SQLModel.metadata

connection = context.config.attributes["connection"]


def _compare_type(_ctx: Any, _found: Any, _model: Any, inspected: Any, metadata: Any) -> bool | None:
    """SQLite enforces no VARCHAR length, and changing one means rebuilding the table (and
    dropping the log's append-only triggers): a length difference there is no difference."""
    model = metadata.impl if isinstance(metadata, sa.TypeDecorator) else metadata  # sqlmodel's AutoString
    if connection.dialect.name == "sqlite" and isinstance(inspected, sa.String) and isinstance(model, sa.String):
        return False
    return None  # Alembic's own comparison


context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=_compare_type,
)
with context.begin_transaction():
    context.run_migrations()
