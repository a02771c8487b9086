"""transition_log: drop two indexes that answer no query

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Every record written to ``transition_log`` also went into five B-trees. Two of
them did nothing but cost:

- ``ix_transition_log_case_ref`` repeats the leading column of the unique
  ``(case_ref, case_seq)`` index, which serves every lookup by case on both
  back-ends (a leftmost prefix).
- ``UNIQUE (hash)`` is implied by ``UNIQUE (case_ref, case_seq)``: the hash covers
  ``case_ref`` and ``case_seq``, so two records with one hash are one record or a
  SHA-256 collision. No query looks a record up by its hash; tampering is caught
  by the chain, the checkpoints and the append-only triggers, not by this index.
  Its keys are random, so each insert dirtied a page of its own: on a sweep that
  fires thousands of timers it was the largest share of the pages written (issue
  #4's benchmark).

SQLite cannot drop a table constraint in place, so there the table is rebuilt
(Alembic's batch mode: copy, drop, rename); dropping the old table drops its
append-only triggers, which are then created again. PostgreSQL drops the
constraint and the index in place.
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# Names for the unnamed constraints SQLite reflects, so batch mode can address them.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
_PG_HASH_KEY = "transition_log_hash_key"  # PostgreSQL's own name for UNIQUE (hash)

_SQLITE_GUARDS = (
    """CREATE TRIGGER transition_log_no_update BEFORE UPDATE ON transition_log
    BEGIN SELECT RAISE(ABORT, 'transition_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER transition_log_no_delete BEFORE DELETE ON transition_log
    BEGIN SELECT RAISE(ABORT, 'transition_log is append-only: DELETE refused'); END""",
)


def upgrade() -> None:
    op.drop_index("ix_transition_log_case_ref", table_name="transition_log")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(_PG_HASH_KEY, "transition_log", type_="unique")
        return
    with op.batch_alter_table("transition_log", naming_convention=_SQLITE_NAMES, recreate="always") as batch_op:
        batch_op.drop_constraint("uq_transition_log_hash", type_="unique")
    for statement in _SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.create_unique_constraint(_PG_HASH_KEY, "transition_log", ["hash"])
    else:
        with op.batch_alter_table("transition_log", naming_convention=_SQLITE_NAMES, recreate="always") as batch_op:
            batch_op.create_unique_constraint("uq_transition_log_hash", ["hash"])
        for statement in _SQLITE_GUARDS:
            op.execute(statement)
    op.create_index("ix_transition_log_case_ref", "transition_log", ["case_ref"], unique=False)
