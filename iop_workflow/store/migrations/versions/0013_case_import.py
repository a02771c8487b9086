"""Cases imported with their history

Revision ID: 0013
Revises: 0011
Create Date: 2027-02-01

``iop case import FILE`` brings an existing partnership in with its history. Its case row
records where that history starts (``history_from``: its facts are dated within
[history_from, today] instead of [opened_on, today]) and the SHA-256 of the import file
(``import_sha256``), which its opening record also holds (``audit verify`` compares the two).
Both are NULL for every case opened live, so existing rows need nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", recreate="never") as batch:
        batch.add_column(sa.Column("history_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("import_sha256", sa.String(length=64), nullable=True))
    # One case per import file: a second import of the same file is refused (NULLs do not collide).
    op.create_index("ix_cases_import_sha256", "cases", ["import_sha256"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_cases_import_sha256", table_name="cases")
    with op.batch_alter_table("cases", recreate="never") as batch:
        batch.drop_column("import_sha256")
        batch.drop_column("history_from")
