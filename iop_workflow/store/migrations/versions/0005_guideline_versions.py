"""Guideline versions, each bound to the log record that loaded it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A guideline whose content changes is a new row (``version`` + 1); old versions stay,
so a case bound to one keeps it. ``loaded_by`` is who loaded the version (``system``
for a shipped file loaded by ``iop init``) and ``log_seq`` the record of the
``@guideline:<ref>`` chain that holds its full content. Rows loaded before this
revision have no record yet: the next ``iop init`` records them as they stand (and
``audit verify`` names them until then).

``transition_log.case_ref`` is widened to 120 characters for those chain refs
(PostgreSQL only: SQLite does not enforce a length, and rebuilding the table would
drop its append-only triggers).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("guidelines", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("loaded_by", sa.String(length=100), server_default="system", nullable=False))
        batch_op.add_column(sa.Column("log_seq", sa.Integer(), nullable=True))
    op.drop_index("ix_guidelines_ref", table_name="guidelines")
    op.create_index("ix_guidelines_ref", "guidelines", ["ref"], unique=False)
    op.create_index("uq_guidelines_ref_version", "guidelines", ["ref", "version"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE transition_log ALTER COLUMN case_ref TYPE VARCHAR(120)")


def downgrade() -> None:
    # Only one row per ref fits the old schema, and cases, assessments and alerts point at old
    # versions: refuse rather than rewrite what they refer to.
    versions = op.get_bind().execute(sa.text("SELECT count(*) FROM guidelines WHERE version > 1")).scalar_one()
    if versions:
        raise RuntimeError(f"cannot downgrade below 0005: {versions} guideline row(s) are later versions")
    op.drop_index("uq_guidelines_ref_version", table_name="guidelines")
    op.drop_index("ix_guidelines_ref", table_name="guidelines")
    op.create_index("ix_guidelines_ref", "guidelines", ["ref"], unique=True)
    with op.batch_alter_table("guidelines", recreate="never") as batch_op:
        batch_op.drop_column("log_seq")
        batch_op.drop_column("loaded_by")
        batch_op.drop_column("version")
    # transition_log.case_ref stays 120 wide: @guideline records may be in the log, which is never rewritten.
