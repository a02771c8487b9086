"""Tables of the service boundary: role grants, API tokens, login bindings, idempotency keys.

Grants and tokens are data, changed only through the administration chain
(``@admin`` records in ``transition_log``): each row names the log record that
wrote it, and ``audit verify`` recomputes the tables from those records.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from iop_workflow.store.tables import _TS, _Table

WILDCARD = "*"  # a grant to every login, or (as municipality) in every municipality


class GrantRow(_Table, table=True):
    """One role held by one login, in one municipality or everywhere (``*``), until revoked."""

    __tablename__ = "grants"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=200, index=True)
    role: str = Field(max_length=40)
    municipality: str = Field(default=WILDCARD, max_length=100)
    granted_by: str = Field(max_length=200)
    granted_at: datetime = Field(sa_type=_TS)
    granted_seq: int  # the @admin record that granted it
    revoked_by: str | None = Field(default=None, max_length=200)
    revoked_at: datetime | None = Field(default=None, sa_type=_TS)
    revoked_seq: int | None = None


class ApiTokenRow(_Table, table=True):
    """An API token: only its SHA-256 is stored; the token is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    roles: str = Field(sa_type=sa.Text)  # canonical JSON array
    municipalities: str = Field(sa_type=sa.Text)  # canonical JSON array; empty: every municipality
    expires_on: date | None = None
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=_TS)
    created_seq: int
    revoked_by: str | None = Field(default=None, max_length=200)
    revoked_at: datetime | None = Field(default=None, sa_type=_TS)
    revoked_seq: int | None = None
    last_used_at: datetime | None = Field(default=None, sa_type=_TS)


class LoginBindingRow(_Table, table=True):
    """The identity provider's subject a login belongs to, bound at its first sign-in.

    Grants name logins; a login is bound once to (issuer, subject), so a display
    name reassigned at the identity provider never inherits another person's grants.
    """

    __tablename__ = "login_bindings"
    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)

    login: str = Field(max_length=200, primary_key=True)
    issuer: str = Field(max_length=500)
    subject: str = Field(max_length=255)
    bound_at: datetime = Field(sa_type=_TS)
    bound_seq: int


class IdempotencyKeyRow(_Table, table=True):
    """The first response to a POST with an ``Idempotency-Key``, stored in the write's own transaction."""

    __tablename__ = "idempotency_keys"

    principal: str = Field(max_length=300, primary_key=True)
    key: str = Field(max_length=200, primary_key=True)
    method: str = Field(max_length=10)
    path: str = Field(max_length=500)
    body_hash: str = Field(max_length=64)
    status: int
    headers: str = Field(sa_type=sa.Text)  # canonical JSON object: the response headers to replay (Location, ETag)
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=_TS, index=True)
