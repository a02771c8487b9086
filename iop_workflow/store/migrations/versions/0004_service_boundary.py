"""The service boundary: record format 2 (auth in the hash), grants, API tokens, login bindings, idempotency keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

``transition_log`` gains ``auth`` (how the actor was established, JSON) and
``record_format``. Every record written before keeps format 1: its hash covers
exactly the fields it covered when it was written, so it verifies unchanged.
Adding columns is no UPDATE, so the append-only triggers stay as they are.

Grants and tokens are changed only through ``@admin`` records of the log; the
import of the old ``[roles]`` settings into grants is done by ``iop init`` /
``iop db upgrade`` (the service layer reads the settings; a migration cannot).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A downgrade keeps these two columns (see downgrade), so they may be here already.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("transition_log")}
    with op.batch_alter_table("transition_log", recreate="never") as batch_op:
        if "auth" not in present:
            batch_op.add_column(sa.Column("auth", sa.Text(), nullable=True))
        if "record_format" not in present:
            batch_op.add_column(sa.Column("record_format", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("login", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("municipality", sa.String(length=100), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("granted_at", _TS, nullable=False),
        sa.Column("granted_seq", sa.Integer(), nullable=False),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("revoked_seq", sa.Integer(), nullable=True),
    )
    op.create_index("ix_grants_login", "grants", ["login"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("municipalities", sa.Text(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_seq", sa.Integer(), nullable=False),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("revoked_seq", sa.Integer(), nullable=True),
        sa.Column("last_used_at", _TS, nullable=True),
    )
    op.create_table(
        "login_bindings",
        sa.Column("login", sa.String(length=200), primary_key=True),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("bound_at", _TS, nullable=False),
        sa.Column("bound_seq", sa.Integer(), nullable=False),
        sa.UniqueConstraint("issuer", "subject"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=300), primary_key=True),
        sa.Column("key", sa.String(length=200), primary_key=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("login_bindings")
    op.drop_table("api_tokens")
    op.drop_index("ix_grants_login", table_name="grants")
    op.drop_table("grants")
    # transition_log keeps auth and record_format: format-2 records' hashes cover them, and a
    # downgrade must never destroy what proves the log (upgrade finds them and adds nothing).
