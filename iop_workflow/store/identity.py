"""Reads and writes of grants, tokens and login bindings (the service decides and logs)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.store.identity_tables import (
    WILDCARD,
    ApiTokenRow,
    GrantRow,
    IdempotencyKeyRow,
    LoginBindingRow,
)

GRANTS: sa.Table = GrantRow.__table__  # type: ignore[attr-defined]
TOKENS: sa.Table = ApiTokenRow.__table__  # type: ignore[attr-defined]
BINDINGS: sa.Table = LoginBindingRow.__table__  # type: ignore[attr-defined]
IDEMPOTENCY: sa.Table = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]

_ACTIVE = GRANTS.c.revoked_at.is_(None)


def grants_of(s: Connection, logins: Iterable[str]) -> dict[str, set[tuple[str, str]]]:
    """Each login's active (role, municipality) pairs; grants to ``*`` (every login) under ``*``."""
    wanted = sorted({*logins, WILDCARD})
    query = sa.select(GRANTS.c.login, GRANTS.c.role, GRANTS.c.municipality).where(_ACTIVE, GRANTS.c.login.in_(wanted))
    out: dict[str, set[tuple[str, str]]] = {login: set() for login in wanted}
    for row in s.execute(query):
        out[row.login].add((row.role, row.municipality))
    return out


def active_grant(s: Connection, login: str, role: str, municipality: str) -> sa.RowMapping | None:
    query = sa.select(GRANTS).where(
        _ACTIVE, GRANTS.c.login == login, GRANTS.c.role == role, GRANTS.c.municipality == municipality
    )
    return s.execute(query).mappings().first()


def any_admin(s: Connection) -> bool:
    return s.execute(sa.select(GRANTS.c.id).where(_ACTIVE, GRANTS.c.role == "admin").limit(1)).first() is not None


def insert_grant(s: Connection, *, login: str, role: str, municipality: str, by: str, at: datetime, seq: int) -> None:
    s.execute(
        sa.insert(GRANTS).values(
            login=login, role=role, municipality=municipality, granted_by=by, granted_at=at, granted_seq=seq
        )
    )


def revoke_grant(s: Connection, grant_id: int, *, by: str, at: datetime, seq: int) -> None:
    s.execute(sa.update(GRANTS).where(GRANTS.c.id == grant_id).values(revoked_by=by, revoked_at=at, revoked_seq=seq))


def list_grants(s: Connection, login: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(GRANTS).where(_ACTIVE).order_by(GRANTS.c.login, GRANTS.c.role, GRANTS.c.municipality)
    if login is not None:
        query = query.where(GRANTS.c.login == login)
    return [dict(r) for r in s.execute(query).mappings()]


# -- tokens -------------------------------------------------------------------------------
_TOKEN_BY_HASH = sa.select(TOKENS).where(TOKENS.c.token_hash == sa.bindparam("digest"))


def token_by_hash(s: Connection, digest: str) -> sa.RowMapping | None:
    return s.execute(_TOKEN_BY_HASH, {"digest": digest}).mappings().first()


def token_by_id(s: Connection, token_id: int) -> sa.RowMapping | None:
    return s.execute(sa.select(TOKENS).where(TOKENS.c.id == token_id)).mappings().first()


def token_grants(s: Connection, name: str, today: date) -> set[tuple[str, str]]:
    """The (role, municipality or ``*``) pairs of the usable (not revoked, not expired) token ``name``."""
    row = s.execute(sa.select(TOKENS).where(TOKENS.c.name == name, TOKENS.c.revoked_at.is_(None))).mappings().first()
    if row is None or (row["expires_on"] is not None and row["expires_on"] < today):
        return set()
    places = json.loads(row["municipalities"]) or [WILDCARD]
    return {(role, place) for role in json.loads(row["roles"]) for place in places}


def token_name_taken(s: Connection, name: str) -> bool:
    return s.execute(sa.select(TOKENS.c.id).where(TOKENS.c.name == name)).first() is not None


def insert_token(
    s: Connection,
    *,
    name: str,
    digest: str,
    roles: list[str],
    municipalities: list[str],
    expires_on: date | None,
    by: str,
    at: datetime,
    seq: int,
) -> int:
    values = {
        "name": name,
        "token_hash": digest,
        "roles": json.dumps(roles),
        "municipalities": json.dumps(municipalities),
        "expires_on": expires_on,
        "created_by": by,
        "created_at": at,
        "created_seq": seq,
    }
    return int(s.execute(sa.insert(TOKENS).values(**values).returning(TOKENS.c.id)).scalar_one())


def revoke_token(s: Connection, token_id: int, *, by: str, at: datetime, seq: int) -> None:
    s.execute(sa.update(TOKENS).where(TOKENS.c.id == token_id).values(revoked_by=by, revoked_at=at, revoked_seq=seq))


def touch_token(s: Connection, token_id: int, at: datetime) -> None:
    s.execute(sa.update(TOKENS).where(TOKENS.c.id == token_id).values(last_used_at=at))


def list_tokens(s: Connection) -> list[sa.RowMapping]:
    return list(s.execute(sa.select(TOKENS).order_by(TOKENS.c.id)).mappings())


# -- login bindings -------------------------------------------------------------------------
def binding_of_login(s: Connection, login: str) -> sa.RowMapping | None:
    return s.execute(sa.select(BINDINGS).where(BINDINGS.c.login == login)).mappings().first()


def binding_of_subject(s: Connection, issuer: str, subject: str) -> sa.RowMapping | None:
    query = sa.select(BINDINGS).where(BINDINGS.c.issuer == issuer, BINDINGS.c.subject == subject)
    return s.execute(query).mappings().first()


def insert_binding(s: Connection, *, login: str, issuer: str, subject: str, at: datetime, seq: int) -> None:
    s.execute(sa.insert(BINDINGS).values(login=login, issuer=issuer, subject=subject, bound_at=at, bound_seq=seq))
