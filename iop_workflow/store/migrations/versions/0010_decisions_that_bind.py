"""Decisions that bind: notice on the case, what a decision is about, municipal initiative

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-11

- ``cases.notice_given_on`` / ``cases.notice_ends_on``: an uppsägning (trigger ``terminate``)
  given on a date; the agreement ends when the notice period has run (a timer fires
  ``end_by_notice``). NULL: no notice given.
- ``decisions.subject``: NULL for a decision to enter or renew the agreement (every row written
  before), ``ending`` for a decision to end the running one (``end``, ``rescind``). A NULL stays
  out of the row's digest, so rows written before verify as they did.
- ``guidelines.allows_municipal_initiative``: whether the guideline lets a partnership the
  municipality initiated be signed; false for every existing row (the content hash leaves a
  false value out, so loaded guidelines keep their hashes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("notice_given_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("notice_ends_on", sa.Date(), nullable=True))
    with op.batch_alter_table("decisions", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=20), nullable=True))
    with op.batch_alter_table("guidelines", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("allows_municipal_initiative", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("guidelines", recreate="never") as batch_op:
        batch_op.drop_column("allows_municipal_initiative")
    with op.batch_alter_table("decisions", recreate="never") as batch_op:
        batch_op.drop_column("subject")
    with op.batch_alter_table("cases", recreate="never") as batch_op:
        batch_op.drop_column("notice_ends_on")
        batch_op.drop_column("notice_given_on")
