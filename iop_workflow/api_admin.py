"""The Python API's roles and API tokens (a part of :class:`~iop_workflow.api.Iop`)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, cast

from iop_workflow.api_base import ActorLike, IopBase

if TYPE_CHECKING:
    from iop_workflow import types as shapes  # the documented JSON shapes (TypedDicts)


class AdminApi(IopBase):
    """Grants and API tokens: records of the @admin chain."""

    # -- roles and tokens (admin) ----------------------------------------------
    def grant(
        self, login: str, role: str, *, municipality: str | None = None, actor: ActorLike = None
    ) -> shapes.GrantChange:
        """Grant ``role`` to ``login`` (in ``municipality``, else everywhere); a record of the @admin chain."""
        from iop_workflow.service import identity  # noqa: PLC0415

        return cast("shapes.GrantChange", identity.grant(self.app, self.actor(actor), login, role, municipality))

    def revoke(
        self, login: str, role: str, *, municipality: str | None = None, actor: ActorLike = None
    ) -> shapes.GrantChange:
        from iop_workflow.service import identity  # noqa: PLC0415

        return cast("shapes.GrantChange", identity.revoke(self.app, self.actor(actor), login, role, municipality))

    def grants(self, login: str | None = None) -> list[shapes.Grant]:
        from iop_workflow.service import identity  # noqa: PLC0415

        return cast("list[shapes.Grant]", identity.list_grants(self.app, login))

    def bootstrap(self, *, admin: str | None = None) -> shapes.Bootstrap:
        """Make ``admin`` (default: the OS login) admin, registrar, officer and coordinator, logged."""
        from iop_workflow.service import identity  # noqa: PLC0415

        return cast("shapes.Bootstrap", identity.bootstrap(self.app, admin=admin))

    def create_token(
        self,
        *,
        name: str,
        roles: list[str],
        municipalities: list[str] | None = None,
        expires: date | str | None = None,
        actor: ActorLike = None,
    ) -> shapes.TokenCreated:
        """A new API token; the result's ``token`` is the only time it is shown."""
        from iop_workflow.service import tokens  # noqa: PLC0415

        return cast(
            "shapes.TokenCreated",
            tokens.create(
                self.app, self.actor(actor), name=name, roles=roles, municipalities=municipalities, expires=expires
            ),
        )

    def tokens(self) -> list[shapes.Token]:
        from iop_workflow.service import tokens  # noqa: PLC0415

        return cast("list[shapes.Token]", tokens.listing(self.app))

    def revoke_token(self, token_id: int | str, *, actor: ActorLike = None) -> shapes.TokenRevoked:
        from iop_workflow.service import tokens  # noqa: PLC0415

        return cast("shapes.TokenRevoked", tokens.revoke(self.app, self.actor(actor), token_id))
