"""Who is calling: the principal comes from the credential, never from a header or body field.

``Authorization: Bearer iop_...`` is an API token; any other bearer value is an
OIDC JWT. A POST is one transaction (``server/writes.py``): its API token is looked up
inside it. An OIDC token is verified and its login resolved before, because a key
fetch or a first sign-in's binding record have no place inside a write. Failed
authentications are counted per client address (X-Forwarded-For is believed only
from a configured trusted proxy) and answered 429 past the limit.
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Depends, Request

from iop_workflow.errors import NotAuthenticated
from iop_workflow.server import writes
from iop_workflow.server.problems import HttpProblem
from iop_workflow.server.ratelimit import client_address
from iop_workflow.server.state import Server, server_of
from iop_workflow.service import identity, tokens
from iop_workflow.service.context import Actor

R = TypeVar("R")


def client_of(request: Request) -> str:
    server = server_of(request)
    peer = request.client.host if request.client is not None else None
    return client_address(peer, request.headers.get("x-forwarded-for"), server.settings.server.trusted_proxies)


def authenticated(handler: Callable[..., R]) -> Callable[..., R]:
    """A sync handler whose ``actor`` (or ``_actor``) parameter is the authenticated principal.

    Two steps, so that a request costs one thread-pool hop, not two:
    :func:`screened`, an async dependency with no database access, answers 429 to a
    client over its failure limit and 401 to a request without a bearer credential
    before the body is read; :func:`principal` then authenticates the credential in
    the handler's own worker thread, before the handler runs (for a POST with an API
    token, inside the write's transaction: :func:`writes.unit`). A request whose
    credential is well-formed but whose body is invalid is answered 422 before the
    credential is looked up (the OpenAPI document, which says what is valid, is public).
    """
    hints = typing.get_type_hints(handler, include_extras=True)
    signature = inspect.signature(handler)
    (who,) = [name for name in signature.parameters if name in {"actor", "_actor"}]
    takes_request = "request" in signature.parameters
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values() if p.name != who
    ]
    if not takes_request:
        params.insert(0, inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request))
    params.append(
        inspect.Parameter("_screened", inspect.Parameter.KEYWORD_ONLY, default=Depends(screened), annotation=None)
    )

    @functools.wraps(handler)
    def run(**kwargs: Any) -> R:
        kwargs.pop("_screened", None)
        request = kwargs["request"] if takes_request else kwargs.pop("request")
        if request.method != "POST":
            return handler(**kwargs, **{who: principal(request)})
        early = None if _bearer(request.headers.get("authorization")).startswith(tokens.PREFIX) else principal(request)

        def write() -> R:
            return handler(**kwargs, **{who: principal(request) if early is None else early})

        # Every POST handler answers with a Response (server/writes.py), as the unit's replay does.
        return typing.cast(R, writes.unit(request, write))

    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=params, return_annotation=hints.get("return", signature.return_annotation)
    )
    return run


async def screened(request: Request) -> None:
    """429 past the failure limit, 401 without a bearer credential: on the event loop, no database access."""
    server, client = server_of(request), client_of(request)
    _within_limit(server, client)
    try:
        _bearer(request.headers.get("authorization"))
    except NotAuthenticated:
        server.limiter.failed(client)
        raise


def principal(request: Request) -> Actor:
    """The authenticated principal; 401 when there is none, 429 after too many failures."""
    server, client = server_of(request), client_of(request)
    _within_limit(server, client)
    try:
        actor = _authenticate(server, _bearer(request.headers.get("authorization")))
    except NotAuthenticated:
        server.limiter.failed(client)
        raise
    request.state.principal = actor.name
    return actor


def _within_limit(server: Server, client: str) -> None:
    wait = server.limiter.retry_after(client)
    if wait is not None:
        seconds = str(max(1, math.ceil(wait)))
        raise HttpProblem(
            429,
            "too_many_failed_authentications",
            "Too many requests",
            f"För många misslyckade inloggningar; försök igen om {seconds} s.",
            f"Too many failed authentications; try again in {seconds} s.",
            headers={"Retry-After": seconds},
        )


def _bearer(header: str | None) -> str:
    if not header:
        raise NotAuthenticated(problem="no Authorization header (Bearer token expected)")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise NotAuthenticated(problem="Bearer token expected")
    return credential


def _authenticate(server: Server, credential: str) -> Actor:
    app = server.iop.app
    if credential.startswith(tokens.PREFIX):
        return tokens.authenticate(app, credential)
    if server.oidc is None:
        raise NotAuthenticated(problem="OIDC is not configured: use an API token")
    claims = server.oidc.verify(credential)
    return identity.oidc_actor(app, issuer=claims.issuer, subject=claims.subject, login=claims.login)
