"""Every write over HTTP: authentication, idempotency key, If-Match, the service call and the stored response,
one transaction (:func:`unit`, opened for every POST by ``server/auth.py``).

The order, for a POST:
0. an API token is looked up (and its last use recorded) in the unit, so that a write
   costs one transaction, not a read transaction and then a write;
1. the key is claimed: a row inserted as the transaction's first statement. When the
   key is already stored (or a concurrent twin holds it, which the insert waits for),
   the insert fails, the transaction rolls back, and the request is a replay: same
   principal, key, method, path and body is answered from the stored first response,
   before any other check, and writes nothing; the same key with another body is 422;
2. the case is locked and its version checked against If-Match
   (428 missing, 412 stale), the service runs inside this transaction (its own
   ``db.write()`` joins it), and the response is stored with the key;
3. after commit, the audit stream's lines go out.
A refusal (any 4xx) rolls everything back: no change, no key stored, so a
corrected retry with the same key is a new attempt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from iop_workflow import txscope
from iop_workflow.errors import ConcurrentUpdate, IopError
from iop_workflow.server.problems import HttpProblem
from iop_workflow.server.state import server_of
from iop_workflow.service.context import Actor, case_actor
from iop_workflow.store import cases as repo
from iop_workflow.store.identity import IDEMPOTENCY

MAX_KEY = 200
T = TypeVar("T")


@dataclass(slots=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None  # the body as sent (and stored with an idempotency key), rendered once

    def rendered(self) -> str:
        if self.text is None:
            self.text = json.dumps(
                self.body, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default
            )
        return self.text

    def response(self) -> Response:
        return Response(self.rendered(), status_code=self.status, headers=self.headers, media_type="application/json")


def principal_key(actor: Actor) -> str:
    a = actor.auth
    return f"{a.method}|{a.issuer or ''}|{a.subject or ''}|{a.token_id or ''}|{actor.name}"[:300]


def _key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise HttpProblem(
            400,
            "bad_idempotency_key",
            "Bad request",
            f"Idempotency-Key: 1–{MAX_KEY} synliga tecken.",
            f"Idempotency-Key: 1 to {MAX_KEY} printable characters.",
        )
    return key


def _fingerprint(request: Request, body: Any) -> str:
    text = json.dumps([request.method, request.url.path, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stored(s: Connection, who: str, key: str) -> sa.RowMapping | None:
    query = sa.select(IDEMPOTENCY).where(IDEMPOTENCY.c.principal == who, IDEMPOTENCY.c.key == key)
    return s.execute(query).mappings().first()


def _replay(row: sa.RowMapping, fingerprint: str) -> Response:
    if row["body_hash"] != fingerprint:
        raise HttpProblem(
            422,
            "idempotency_key_reused",
            "Invalid input",
            "Idempotency-Key användes redan för en annan begäran.",
            "The Idempotency-Key was already used for another request.",
        )
    headers = {**json.loads(row["headers"]), "Idempotent-Replayed": "true"}
    return Response(row["body"], status_code=row["status"], headers=headers, media_type="application/json")


def if_match(request: Request, ref: str, version: int) -> None:
    """428 without If-Match, 412 when it names another version (``*`` matches any)."""
    header = request.headers.get("if-match")
    if header is None:
        raise HttpProblem(
            428,
            "if_match_required",
            "Precondition required",
            "If-Match krävs: hämta ärendet och skicka dess ETag.",
            "If-Match is required: fetch the case and send its ETag.",
        )
    tags = [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]
    if "*" not in tags and str(version) not in tags:
        found = tags[0] if tags else ""
        expected = int(found) if found.isdigit() else 0
        raise ConcurrentUpdate(case_ref=ref, expected_version=expected, found_version=version)


def etag(version: int) -> str:
    return f'"{version}"'


def unit(request: Request, handler: Callable[[], T]) -> T | Response:
    """Run ``handler`` (a POST) as ONE transaction of the database, then send the audit stream's lines.

    Whatever the handler reads and writes joins it: the API token's lookup, the idempotency key,
    the case's lock and version, the service's change and the stored response. On a refusal
    everything rolls back; when the request's idempotency key is stored for the same principal
    (a replay, or a concurrent twin that committed first), the stored response answers it.
    Inside an open unit, ``handler`` simply runs in it.
    """
    app = server_of(request).iop.app
    if txscope.joined(app.db) is not None:
        return handler()
    try:
        with txscope.deferring() as after:
            with app.db.write():
                response = handler()
            for done in after:
                done()
    except (IopError, HttpProblem, sa_exc.IntegrityError):
        claim: tuple[str, str, str] | None = getattr(request.state, "idempotency", None)
        if claim is None:
            raise
        who, key, fingerprint = claim
        with app.db.read() as s:
            row = _stored(s, who, key)
        if row is None:
            raise
        return _replay(row, fingerprint)
    if getattr(request.state, "idempotency", None) is not None:
        purge_expired(request)
    return response


def run(
    request: Request, actor: Actor, body: Any, action: Callable[[], Reply], *, case_ref: str | None = None
) -> Response:
    """Do ``action`` with the idempotency key and If-Match (for ``case_ref``), in the request's :func:`unit`."""
    return unit(request, lambda: _in_unit(request, actor, body, action, case_ref))


def _in_unit(request: Request, actor: Actor, body: Any, action: Callable[[], Reply], case_ref: str | None) -> Response:
    """Claim the key, lock and check the case, act, store the response: inside the open unit."""
    key = _key(request)
    app = server_of(request).iop.app
    with app.db.write() as s:
        if key is not None:
            claim = (principal_key(actor), key, _fingerprint(request, body))
            request.state.idempotency = claim  # what :func:`unit` answers a replay from, after rolling back
            _claim(s, claim, request, app.clock.now())
        if case_ref is not None:
            case = repo.case_row(s, case_ref, lock=True)
            case_actor(actor, case)
            if_match(request, case_ref, int(case["version"]))
        reply = action()
        if case_ref is not None and "ETag" not in reply.headers:
            reply.headers["ETag"] = etag(_version(s, case_ref))
        if key is not None:
            _store(s, claim, reply)
    return reply.response()


_CLAIM = sa.insert(IDEMPOTENCY)
_STORE = sa.update(IDEMPOTENCY).where(
    IDEMPOTENCY.c.principal == sa.bindparam("w_who"), IDEMPOTENCY.c.key == sa.bindparam("w_key")
)


def _claim(s: Connection, claim: tuple[str, str, str], request: Request, now: Any) -> None:
    who, key, fingerprint = claim
    s.execute(
        _CLAIM,
        {
            "principal": who,
            "key": key,
            "method": request.method,
            "path": request.url.path[:500],
            "body_hash": fingerprint,
            "status": 0,
            "headers": "{}",
            "body": "",
            "created_at": now,
        },
    )


def _store(s: Connection, claim: tuple[str, str, str], reply: Reply) -> None:
    who, key, _fingerprint = claim
    body = reply.rendered()  # byte for byte what the first response sends, so a replay is the same response
    headers = {k: v for k, v in reply.headers.items() if k in {"ETag", "Location"}}
    s.execute(
        _STORE,
        {
            "w_who": who,
            "w_key": key,
            "status": reply.status,
            "headers": json.dumps(headers, sort_keys=True),
            "body": body,
        },
    )


def _default(value: Any) -> Any:
    iso = getattr(value, "isoformat", None)
    return iso() if callable(iso) else str(value)


_VERSION = sa.select(repo.CASES.c.version).where(repo.CASES.c.ref == sa.bindparam("ref"))


def _version(s: Connection, ref: str) -> int:
    return int(s.execute(_VERSION, {"ref": ref}).scalar_one())


def purge_expired(request: Request) -> None:
    """Forget idempotency keys older than ``[server] idempotency_hours``, at most once an hour per process."""
    server = server_of(request)
    now = server.iop.app.clock.now()
    if server.purged_at is not None and now - server.purged_at < timedelta(hours=1):
        return
    server.purged_at = now
    cutoff = now - timedelta(hours=server.settings.server.idempotency_hours)
    with server.iop.app.db.write() as s:
        s.execute(sa.delete(IDEMPOTENCY).where(IDEMPOTENCY.c.created_at < cutoff))
