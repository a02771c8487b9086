"""API tokens: principals of their own (``token:NAME``) for back-office systems.

A token is ``iop_`` + 32 random base62 characters + a 6-character checksum
(CRC-32 of the rest), so a mistyped or truncated token is refused before any
database read, and a secret scanner can recognise one. Only its SHA-256 is
stored; the token itself is shown once, by ``create``. Creating and revoking
are records of the administration chain.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import zlib
from datetime import date, datetime, timedelta
from typing import Any

from iop_workflow.errors import InvalidInput, NotAuthenticated, NotFound
from iop_workflow.municipalities import name_of
from iop_workflow.service import validate
from iop_workflow.service.context import WILDCARD, Actor, App, Auth
from iop_workflow.service.identity import (
    admin_record,
    admin_write,
    build_actor,
    municipality_code,
    record_seq,
    record_time,
    require_admin,
    role_name,
)
from iop_workflow.store import identity as store

PREFIX = "iop_"
_ALPHABET = string.digits + string.ascii_letters  # base62
_BODY = 32  # about 190 bits
_CHECK = 6
TOUCH_EVERY = timedelta(seconds=60)  # last_used is written at most this often per token


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECK)


def new_token() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY))
    return f"{PREFIX}{body}{_checksum(body)}"


def well_formed(token: str) -> bool:
    """Prefix, length, alphabet and checksum: no database read for a token that cannot be one."""
    if not token.startswith(PREFIX) or len(token) != len(PREFIX) + _BODY + _CHECK:
        return False
    rest = token[len(PREFIX) :]
    if not rest.isascii() or not rest.isalnum():  # base62: ASCII letters and digits only
        return False
    return secrets.compare_digest(_checksum(rest[:_BODY]), rest[_BODY:])


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _name(value: object) -> str:
    name = validate.text("name", value, max_len=100)
    if not all(ch.isalnum() or ch in "-_." for ch in name):
        raise InvalidInput(
            field="name",
            value=name,
            problem_sv="bara bokstäver, siffror, - _ och .",
            problem_en="letters, digits, - _ and . only",
        )
    return name


def create(
    app: App,
    actor: Actor,
    *,
    name: str,
    roles: list[str],
    municipalities: list[str] | None = None,
    expires: date | str | None = None,
) -> dict[str, Any]:
    """Make a token; the result holds ``token``, the only time it is ever shown."""
    name = _name(name)
    wanted = sorted({role_name(r) for r in roles})
    if not wanted:
        raise InvalidInput(field="roles", value="", problem_sv="minst en roll", problem_en="at least one role")
    places = sorted({municipality_code(m) for m in municipalities or []} - {WILDCARD})  # SCB codes
    until = validate.day("expires", expires) if expires is not None else None
    if until is not None and until < app.clock.today():
        raise InvalidInput(
            field="expires", value=until.isoformat(), problem_sv="ligger i det förflutna", problem_en="is in the past"
        )
    for place in places or [WILDCARD]:
        require_admin(actor, place, action_sv="skapa API-nycklar", action_en="create API tokens")
    token = new_token()
    digest = token_hash(token)
    with admin_write(app) as s:
        if store.token_name_taken(s, name):
            raise InvalidInput(
                field="name",
                value=name,
                problem_sv="namnet används redan av en nyckel",
                problem_en="a token already has that name",
            )
        data = {
            "name": name,
            "roles": wanted,
            **_places(places),
            "expires": until.isoformat() if until else None,
            "token_sha256": digest,
        }
        record = admin_record(app, s, actor, "admin:token_create", data)
        token_id = store.insert_token(
            s,
            name=name,
            digest=digest,
            roles=wanted,
            municipalities=places,
            expires_on=until,
            by=actor.name,
            at=record_time(record),
            seq=record_seq(record),
        )
    app.sink.emit(record)
    return {
        "id": token_id,
        "name": name,
        "token": token,
        "roles": wanted,
        **_places(places),
        "expires": until.isoformat() if until else None,
    }


def _places(codes: list[str]) -> dict[str, list[str]]:
    """A token's municipalities (names) and their SCB codes, in the same order."""
    return {"municipalities": [name_of(c) for c in codes], "municipality_codes": list(codes)}


def listing(app: App) -> list[dict[str, Any]]:
    """Every token (never the secret): id, name, roles, municipalities, expires, revoked, last_used."""
    with app.db.read() as s:
        rows = store.list_tokens(s)
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "roles": json.loads(r["roles"]),
            **_places(json.loads(r["municipalities"])),
            "expires": r["expires_on"].isoformat() if r["expires_on"] else None,
            "revoked": r["revoked_at"] is not None,
            "last_used": r["last_used_at"],
            "created_by": r["created_by"],
            "created_at": r["created_at"],
        }
        for r in rows
    ]


def revoke(app: App, actor: Actor, token_id: int | str) -> dict[str, Any]:
    number = validate.whole("id", token_id, low=1, high=2_000_000_000)
    require_admin(actor, action_sv="återkalla API-nycklar", action_en="revoke API tokens")
    with admin_write(app) as s:
        row = store.token_by_id(s, number)
        if row is None:
            raise NotFound(kind="token", key=str(number))
        if row["revoked_at"] is not None:
            return {"id": number, "name": row["name"], "revoked": True, "changed": False}
        record = admin_record(app, s, actor, "admin:token_revoke", {"id": number, "name": row["name"]})
        store.revoke_token(s, number, by=actor.name, at=record_time(record), seq=record_seq(record))
    app.sink.emit(record)
    return {"id": number, "name": row["name"], "revoked": True, "changed": True}


def authenticate(app: App, token: str, *, source: str = "api") -> Actor:
    """The principal a token stands for; NotAuthenticated when it is malformed, unknown, revoked or expired."""
    if not well_formed(token):
        raise NotAuthenticated(problem="malformed API token")
    now = app.clock.now()
    with app.db.read() as s:
        row = store.token_by_hash(s, token_hash(token))
    if row is None:
        raise NotAuthenticated(problem="unknown API token")
    if row["revoked_at"] is not None:
        raise NotAuthenticated(problem="API token revoked")
    if row["expires_on"] is not None and row["expires_on"] < app.clock.today():
        raise NotAuthenticated(problem="API token expired")
    if _stale(row["last_used_at"], now):
        with app.db.write() as s:
            store.touch_token(s, int(row["id"]), now)
    places = json.loads(row["municipalities"]) or [WILDCARD]
    pairs = [(role, place) for role in json.loads(row["roles"]) for place in places]
    return build_actor(f"token:{row['name']}", pairs, source=source, auth=Auth(method="token", token_id=int(row["id"])))


def _stale(last: datetime | None, now: datetime) -> bool:
    if last is None:
        return True
    if last.tzinfo is None:  # SQLite hands back naive UTC
        from datetime import UTC  # noqa: PLC0415

        last = last.replace(tzinfo=UTC)
    return now - last >= TOUCH_EVERY
