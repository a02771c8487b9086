"""A database's clock: real or simulated, and where the log's time order is checked from

Revision ID: 0012
Revises: 0011
Create Date: 2027-02-01

``db_clock`` holds one row: ``mode`` (``real`` or ``simulated``), ``now`` (the stored instant of
a simulated database) and ``ordered_from_seq``, the cut-over point of the time-order rule: the
first ``seq`` written after this revision. An existing database becomes ``real``; its records
that run backwards in time are reported by ``audit verify`` as warnings naming the cut-over.
Downgrading drops the table (a simulated database then reads the system clock).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "db_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("now", sa.String(length=32), nullable=True),
        sa.Column("ordered_from_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        "INSERT INTO db_clock (id, mode, now, ordered_from_seq) "
        "SELECT 1, 'real', NULL, COALESCE(MAX(seq), 0) + 1 FROM transition_log"
    )


def downgrade() -> None:
    op.drop_table("db_clock")
