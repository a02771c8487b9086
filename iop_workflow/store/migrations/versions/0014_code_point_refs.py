"""Case refs in code-point order on PostgreSQL

Revision ID: 0014
Revises: 0013
Create Date: 2027-02-15

``audit verify`` streams the log grouped by case ref, and the cases and open timers beside it,
all in code-point order (Python's string order, in which it merges them; SQLite's ``BINARY``).
On PostgreSQL that order is the ``"C"`` collation. With ``transition_log.case_ref`` and
``cases.ref`` in the database's default collation, ``ORDER BY case_ref COLLATE "C", case_seq``
could not use the ``(case_ref, case_seq)`` index: the server sorted the whole log before it sent
the first row. The two columns now have the ``"C"`` collation, and their indexes (rebuilt by the
change) serve that order. Equality is unchanged (a deterministic collation compares bytes for
equality); a list ordered by ref on PostgreSQL now comes in the order SQLite already gives.
SQLite: nothing to do.
"""

from __future__ import annotations

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

# (table, column, type): the ref columns read in code-point order.
_REFS = (("transition_log", "case_ref", "VARCHAR(120)"), ("cases", "ref", "VARCHAR(40)"))


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, type_ in _REFS:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE {type_} COLLATE "{collation}"')


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
