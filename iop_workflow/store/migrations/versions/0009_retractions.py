"""retractions: a recorded fact withdrawn by a logged record, its row kept

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10

``iop case correct REF KIND ENTRY --retract`` writes a ``record:retraction`` record and a
row here; the rules, reports and views read the facts without the retracted ones. The
table is append-only like ``corrections`` (UPDATE and DELETE refused; TRUNCATE too on
PostgreSQL, through the ``iop_append_only()`` function of 0002), and one fact is
retracted at most once (``uq_retractions_fact``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "retractions"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=40), nullable=False),
        sa.Column("fact_kind", sa.String(length=20), nullable=False),
        sa.Column("fact_id", sa.Integer(), nullable=False),
        sa.Column("retracts_case_seq", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("log_seq", sa.Integer(), nullable=False),
        sa.Column("retracted_by", sa.String(length=100), nullable=False),
        sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fact_kind", "fact_id", name="uq_retractions_fact"),
    )
    op.create_index("ix_retractions_case_id", TABLE, ["case_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {verb} refused'); END"
            )
    else:
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION iop_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION iop_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
    op.drop_index("ix_retractions_case_id", table_name=TABLE)
    op.drop_table(TABLE)
