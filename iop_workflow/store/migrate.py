"""Schema management through Alembic (``iop db upgrade``)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from iop_workflow.store.engine import Database
from iop_workflow.store.tables import schema_metadata

_HERE = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """The one way into the migrations (env.py reads its connection from here)."""
    schema_metadata()  # env.py's target_metadata gets the schema-only declarations too
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def all_tables() -> list[sa.Table]:
    """Every table the migrations make (``alembic_version`` aside), each after those its foreign keys point to."""
    import iop_workflow.store.audit_tables  # noqa: PLC0415 - registers the audit-trail tables
    import iop_workflow.store.identity_tables  # noqa: F401, PLC0415 - grants, tokens, bindings, idempotency keys

    return list(schema_metadata().sorted_tables)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    with db.write() as conn:
        command.upgrade(alembic_config(conn), revision)
