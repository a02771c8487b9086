"""What every part of the Python API shares: the application it acts on and how it names an actor."""

from __future__ import annotations

from iop_workflow.service.context import Actor, App

# A login, an Actor, or None (this process's login).
ActorLike = str | Actor | None


class IopBase:
    """A connection to one iop-workflow database: the part every group of methods uses."""

    def __init__(self, app: App, *, source: str = "api") -> None:
        self.app = app
        self.source = source

    def actor(self, who: ActorLike = None) -> Actor:
        return who if isinstance(who, Actor) else self.app.actor(who, source=self.source)
