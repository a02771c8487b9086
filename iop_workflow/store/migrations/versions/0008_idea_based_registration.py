"""An organisation's removal from the register of idea-based organisations

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-18

``organisations.idea_based_registered_on`` (0001) gets its partner
``idea_based_removed_on``: the dates of the organisation's registration under Lag (2022:900)
om registrering av idéburna organisationer, set only by ``iop org registration``, each
setting a record of the organisation's chain ``@org:<org number>``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("idea_based_removed_on", sa.Date(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+): rebuilding the table would trip the cases' foreign key.
    with op.batch_alter_table("organisations", recreate="never") as batch_op:
        batch_op.drop_column("idea_based_removed_on")
