"""Municipalities stored as SCB codes

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-18

Cases, guidelines, role grants and API tokens named their municipality by free text
("Stenungsund", "Stenungsunds kommun"); from now on they hold its SCB code (kommunkod,
4 digits, or a region's 2-digit code), resolved by ``iop_workflow.municipalities`` from
``config/municipalities.toml``. Only these rows change: the log records keep what they
said, and ``audit verify`` accepts a guideline row whose code is what its record's name
resolves to (service/guidelines.py). A value that names no place (a test's "Atlantis")
is left as it is, and is shown as it is.

The columns keep their names (``municipality``, ``municipalities``) and widths: a code fits.
Downgrade writes each code's name back (the exact text a row had before is not kept).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from iop_workflow.municipalities import name_of, register

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = ("cases", "guidelines", "grants")  # each with a `municipality` column
WILDCARD = "*"


def _to_code(value: str) -> str:
    place = register().find(value)
    return place.code if place is not None else value


def _rewrite(change: Callable[[str], str]) -> None:
    bind = op.get_bind()
    for table in TABLES:
        values = bind.execute(sa.text(f"SELECT DISTINCT municipality FROM {table}")).scalars().all()  # noqa: S608
        for old in values:
            new = old if old == WILDCARD else change(old)
            if new != old:
                bind.execute(
                    sa.text(f"UPDATE {table} SET municipality = :new WHERE municipality = :old"),  # noqa: S608
                    {"new": new, "old": old},
                )
    for token_id, places in bind.execute(sa.text("SELECT id, municipalities FROM api_tokens")).all():
        old_list = json.loads(places)
        new_list = sorted({change(p) for p in old_list})
        if new_list != old_list:
            bind.execute(
                sa.text("UPDATE api_tokens SET municipalities = :m WHERE id = :i"),
                {"m": json.dumps(new_list), "i": token_id},
            )


def upgrade() -> None:
    _rewrite(_to_code)


def downgrade() -> None:
    _rewrite(name_of)
