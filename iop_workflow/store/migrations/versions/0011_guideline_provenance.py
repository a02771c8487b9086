"""Guidelines with a status and the provenance of each deciding fact

Revision ID: 0011
Revises: 0010
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

On SQLite NOT NULL is relaxed by SQLite's documented edit of the table's stored definition (no
rebuild: criteria, cases and alerts point at the table). Downgrading gives unknown facts a
placeholder and unlinks those rows from their records (``iop init`` records them again).
"""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_RELAXED = (
    ("decided_on", sa.Date()),
    ("decided_by", sa.String(length=300)),
    ("valid_from", sa.Date()),
    ("follow_up_months", sa.Integer()),
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("guidelines", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=20), server_default="adopted", nullable=False))
        batch_op.add_column(sa.Column("minutes_ref", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("guideline_review_months", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("provenance", sa.String(), server_default="{}", nullable=False))
        if not sqlite:
            for name, kind in _RELAXED:
                batch_op.alter_column(name, existing_type=kind, nullable=True)
    if sqlite:
        _sqlite_not_null(nullable=True)


def _sqlite_not_null(*, nullable: bool) -> None:
    """Drop (or restore) NOT NULL on the relaxed columns by editing the table's stored definition.

    SQLite's own documented procedure for removing NOT NULL constraints (ALTER TABLE, "making other
    kinds of table schema changes"): the rows on disk are unchanged, so no rebuild is needed. A
    rebuild would drop a table that criteria, cases and alerts point at, which SQLite refuses inside
    the upgrade's transaction. Adding NOT NULL back is safe once no row holds a NULL there.
    """
    conn = op.get_bind()
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'guidelines'"
    ).scalar_one()
    for name, _kind in _RELAXED:
        found = re.search(rf'(\b{name}\b"?\s+[A-Z]+(?:\(\d+\))?)(\s+NOT NULL)?', sql)
        if found is None:
            raise RuntimeError(f"guidelines.{name} not found in the table's definition")
        column = found.group(1) + ("" if nullable else " NOT NULL")
        sql = sql[: found.start()] + column + sql[found.end() :]
    version = int(conn.exec_driver_sql("PRAGMA schema_version").scalar_one())
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'guidelines'"), {"sql": sql}
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    check = conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()
    if check != "ok":
        raise RuntimeError(f"the guidelines table's definition did not take: {check}")


def downgrade() -> None:
    # The old schema cannot say "unknown": such a fact gets a placeholder (1900-01-01, "okänt", the
    # default 12 months). A row whose content the old schema cannot hold (a placeholder, a status,
    # a provenance) loses its link to its record, which no longer matches it.
    # `audit verify` names it guideline_without_record and the next `iop init` records it as it stands
    # (as after 0005). Upgrading again keeps the placeholders, unverified: they decide nothing.
    g = sa.table(
        "guidelines",
        sa.column("log_seq", sa.Integer()),
        sa.column("decided_on", sa.Date()),
        sa.column("decided_by", sa.String()),
        sa.column("valid_from", sa.Date()),
        sa.column("follow_up_months", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("minutes_ref", sa.String()),
        sa.column("guideline_review_months", sa.Integer()),
        sa.column("provenance", sa.String()),
    )
    placeholder = date(1900, 1, 1)
    op.get_bind().execute(
        sa.update(g)
        .where(
            sa.or_(
                g.c.decided_on.is_(None),
                g.c.decided_by.is_(None),
                g.c.valid_from.is_(None),
                g.c.follow_up_months.is_(None),
                g.c.status != "adopted",
                g.c.minutes_ref.is_not(None),
                g.c.guideline_review_months.is_not(None),
                g.c.provenance != "{}",
            )
        )
        .values(
            log_seq=None,
            decided_on=sa.func.coalesce(g.c.decided_on, placeholder),
            decided_by=sa.func.coalesce(g.c.decided_by, "okänt"),
            valid_from=sa.func.coalesce(g.c.valid_from, placeholder),
            follow_up_months=sa.func.coalesce(g.c.follow_up_months, 12),
        )
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _sqlite_not_null(nullable=False)
    with op.batch_alter_table("guidelines", recreate="never") as batch_op:
        if not sqlite:
            for name, kind in _RELAXED:
                batch_op.alter_column(name, existing_type=kind, nullable=False)
        batch_op.drop_column("provenance")
        batch_op.drop_column("guideline_review_months")
        batch_op.drop_column("minutes_ref")
        batch_op.drop_column("status")
