"""Alembic environment: always run from iop_workflow.store.migrate with a live connection."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import iop_workflow.store.audit_tables  # registers the audit-trail tables too
import iop_workflow.store.identity_tables  # grants, tokens, bindings, idempotency keys
import iop_workflow.store.tables  # noqa: F401 - registers the tables on SQLModel.metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
