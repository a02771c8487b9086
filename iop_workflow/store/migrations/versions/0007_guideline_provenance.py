"""Guidelines with a status and the provenance of each deciding fact

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-18

``status`` (adopted, proposal, repealed, superseded), ``minutes_ref``, the guideline's own
follow-up interval ``guideline_review_months`` and ``provenance`` (JSON: for each fact its
source, quote and whether it is verified) are added. ``decided_on``, ``decided_by`` and
``valid_from`` may now be unknown (NULL), and ``follow_up_months`` (each agreement's review
interval) may be left to the configured default.

A row loaded before this revision becomes ``adopted`` with an empty provenance: nothing about
it is verified, so it is in force for nobody until a coordinator confirms it (``iop guideline
confirm``) or ``iop init`` loads the shipped file as a new version. Its load record still proves
it (``store.guidelines.LEGACY``).

On SQLite the table is rebuilt to relax NOT NULL; the foreign keys that point at it (criteria,
cases, alerts) are checked at commit (``defer_foreign_keys``), when the rebuilt table holds the
same ids again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_RELAXED = (("decided_on", sa.Date()), ("decided_by", sa.String(length=300)), ("valid_from", sa.Date()),
            ("follow_up_months", sa.Integer()))  # fmt: skip


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA defer_foreign_keys = ON")
    with op.batch_alter_table("guidelines", recreate="always" if sqlite else "never") as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=20), server_default="adopted", nullable=False))
        batch_op.add_column(sa.Column("minutes_ref", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("guideline_review_months", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("provenance", sa.String(), server_default="{}", nullable=False))
        for name, kind in _RELAXED:
            batch_op.alter_column(name, existing_type=kind, nullable=True)


def downgrade() -> None:
    # An unknown date or body has no value the old schema could hold: refuse rather than invent one.
    unknown = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM guidelines WHERE decided_on IS NULL OR decided_by IS NULL OR valid_from IS NULL"
                " OR follow_up_months IS NULL"
            )
        )
        .scalar_one()
    )
    if unknown:
        raise RuntimeError(f"cannot downgrade below 0007: {unknown} guideline row(s) hold unknown facts")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA defer_foreign_keys = ON")
    with op.batch_alter_table("guidelines", recreate="always" if sqlite else "never") as batch_op:
        for name, kind in _RELAXED:
            batch_op.alter_column(name, existing_type=kind, nullable=False)
        batch_op.drop_column("provenance")
        batch_op.drop_column("guideline_review_months")
        batch_op.drop_column("minutes_ref")
        batch_op.drop_column("status")
