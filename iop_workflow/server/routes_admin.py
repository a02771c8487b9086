"""Administration over HTTP (role ``admin``): role grants and API tokens, each change an @admin record."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from iop_workflow.server.auth import authenticated
from iop_workflow.server.routes_cases import Body
from iop_workflow.server.state import server_of
from iop_workflow.server.writes import Reply, run
from iop_workflow.service import identity, tokens
from iop_workflow.service.context import Actor

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class GrantIn(Body):
    login: str = Field(max_length=200)
    role: str = Field(max_length=40)
    municipality: str | None = Field(default=None, max_length=100)


class TokenIn(Body):
    name: str = Field(max_length=100)
    roles: list[str] = Field(min_length=1, max_length=10)
    municipalities: list[str] = Field(default_factory=list, max_length=300)
    expires: date | None = None


def _admin(actor: Actor) -> None:
    identity.require_admin(actor, action_sv="administrera", action_en="administer")


@router.get("/grants", summary="Active role grants (of one login, or everybody's)")
@authenticated
def grants(
    request: Request, actor: Actor, login: Annotated[str | None, Query(max_length=200)] = None
) -> list[dict[str, Any]]:
    _admin(actor)
    return identity.list_grants(server_of(request).iop.app, login)


@router.post("/grants", summary="Grant a role", status_code=200)
@authenticated
def grant(request: Request, actor: Actor, body: GrantIn) -> Response:
    app = server_of(request).iop.app
    return run(
        request,
        actor,
        body.model_dump(mode="json"),
        lambda: Reply(200, identity.grant(app, actor, body.login, body.role, body.municipality)),
    )


@router.post("/grants/revoke", summary="Revoke a role")
@authenticated
def revoke(request: Request, actor: Actor, body: GrantIn) -> Response:
    app = server_of(request).iop.app
    return run(
        request,
        actor,
        body.model_dump(mode="json"),
        lambda: Reply(200, identity.revoke(app, actor, body.login, body.role, body.municipality)),
    )


@router.get("/tokens", summary="API tokens (never the token itself)")
@authenticated
def token_list(request: Request, actor: Actor) -> list[dict[str, Any]]:
    _admin(actor)
    return tokens.listing(server_of(request).iop.app)


@router.post("/tokens", status_code=201, summary="Create an API token; the response is the only time it is shown")
@authenticated
def token_create(request: Request, actor: Actor, body: TokenIn) -> Response:
    app = server_of(request).iop.app

    def act() -> Reply:
        return Reply(
            201,
            tokens.create(
                app, actor, name=body.name, roles=body.roles, municipalities=body.municipalities, expires=body.expires
            ),
        )

    return run(request, actor, body.model_dump(mode="json"), act)


@router.post("/tokens/{token_id}/revoke", summary="Revoke an API token")
@authenticated
def token_revoke(request: Request, actor: Actor, token_id: Annotated[int, Field(ge=1, le=2_000_000_000)]) -> Response:
    app = server_of(request).iop.app
    return run(request, actor, {"token": token_id}, lambda: Reply(200, tokens.revoke(app, actor, token_id)))
