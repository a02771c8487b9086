"""Who is calling: the principal comes from the credential, never from a header or body field.

``Authorization: Bearer iop_...`` is an API token; any other bearer value is an
OIDC JWT. Failed authentications are counted per client address (X-Forwarded-For
is believed only from a configured trusted proxy) and answered 429 past the limit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fastapi import Request

from iop_workflow.errors import NotAuthenticated
from iop_workflow.server.problems import HttpProblem
from iop_workflow.server.ratelimit import client_address
from iop_workflow.service import identity, tokens
from iop_workflow.service.context import Actor

if TYPE_CHECKING:
    from iop_workflow.server.state import Server


def server_of(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


def client_of(request: Request) -> str:
    server = server_of(request)
    peer = request.client.host if request.client is not None else None
    return client_address(peer, request.headers.get("x-forwarded-for"), server.settings.server.trusted_proxies)


def principal(request: Request) -> Actor:
    """The authenticated principal (FastAPI dependency); 401 when there is none, 429 after too many failures."""
    server = server_of(request)
    client = client_of(request)
    wait = server.limiter.retry_after(client)
    if wait is not None:
        seconds = str(max(1, math.ceil(wait)))
        raise HttpProblem(429, "too_many_failed_authentications", "Too many requests",
                          f"För många misslyckade inloggningar; försök igen om {seconds} s.",
                          f"Too many failed authentications; try again in {seconds} s.",
                          headers={"Retry-After": seconds})  # fmt: skip
    try:
        actor = _authenticate(server, request.headers.get("authorization"))
    except NotAuthenticated:
        server.limiter.failed(client)
        raise
    request.state.principal = actor.name
    return actor


def _authenticate(server: Server, header: str | None) -> Actor:
    if not header:
        raise NotAuthenticated(problem="no Authorization header (Bearer token expected)")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise NotAuthenticated(problem="Bearer token expected")
    app = server.iop.app
    if credential.startswith(tokens.PREFIX):
        return tokens.authenticate(app, credential)
    if server.oidc is None:
        raise NotAuthenticated(problem="OIDC is not configured: use an API token")
    claims = server.oidc.verify(credential)
    return identity.oidc_actor(app, issuer=claims.issuer, subject=claims.subject, login=claims.login)
