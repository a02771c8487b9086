"""Each fact row bound to the log record that wrote it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Every fact table (meetings, assessments, legal_checks, agreements, contributions,
decisions, reviews) gets ``log_seq``: the ``seq`` of its ``record:<kind>`` record
(unique: one row per record). New rows are written with it; ``audit verify``
compares each row with its record (service/fact_proof.py).

Existing rows are bound here, once, by the positional inference the corrections used
until now: a case's fact rows and its ``record:<kind>`` records are written one each in
one transaction, serialised per case, so the n-th record of a kind wrote the n-th row
of that kind (both ordered by their own numbering). A row the inference cannot bind
(more rows than records) keeps ``log_seq`` NULL and ``audit verify`` names it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

# table -> the trigger of the records that write its rows
TABLES = {
    "meetings": "record:meeting",
    "assessments": "record:assessment",
    "legal_checks": "record:legal-check",
    "agreements": "record:agreement",
    "contributions": "record:contribution",
    "decisions": "record:decision",
    "reviews": "record:review",
}


def upgrade() -> None:
    for table, trigger in TABLES.items():
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.add_column(sa.Column("log_seq", sa.Integer(), nullable=True))
        sql = (
            f"UPDATE {table} SET log_seq = bound.seq FROM ("  # noqa: S608 - table names: the constants above
            f" SELECT f.id AS fact_id, r.seq AS seq FROM"
            f" (SELECT id, case_id, ROW_NUMBER() OVER (PARTITION BY case_id ORDER BY id) AS n FROM {table}) f"
            f" JOIN cases c ON c.id = f.case_id"
            f" JOIN (SELECT seq, case_ref, ROW_NUMBER() OVER (PARTITION BY case_ref ORDER BY case_seq) AS n"
            f'       FROM transition_log WHERE "trigger" = :trigger) r'
            f" ON r.case_ref = c.ref AND r.n = f.n"
            f") AS bound WHERE {table}.id = bound.fact_id"
        )
        op.execute(sa.text(sql).bindparams(trigger=trigger))
        op.create_index(f"ix_{table}_log_seq", table, ["log_seq"], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_log_seq", table_name=table)
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.drop_column("log_seq")
