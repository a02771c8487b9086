"""What every service command needs: the database, the rules, the clock, the actor."""

from __future__ import annotations

import functools
import getpass
from dataclasses import dataclass, field
from pathlib import Path

from iop_workflow.audit.sink import AuditSink
from iop_workflow.clock import Clock
from iop_workflow.domain.definition import WorkflowDefinition
from iop_workflow.domain.facts import GuardContext
from iop_workflow.domain.machine import Engine
from iop_workflow.service import validate
from iop_workflow.settings import Settings
from iop_workflow.store.engine import Database
from iop_workflow.store.guidelines import GuidelineCache

SOURCES = frozenset({"cli", "api", "scheduler"})


@functools.cache
def os_login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who acts. On a CLI the name is asserted, not authenticated; the OS login is kept too."""

    name: str
    roles: frozenset[str]
    source: str = "api"
    os_user: str | None = None

    @property
    def recorded_os_user(self) -> str | None:
        """The OS login, recorded only when it differs from the asserted name."""
        return self.os_user if self.os_user and self.os_user != self.name else None


@dataclass(slots=True, kw_only=True)
class App:
    db: Database
    settings: Settings
    clock: Clock
    definition: WorkflowDefinition
    engine: Engine
    sink: AuditSink
    guidelines: GuidelineCache = field(default_factory=GuidelineCache)

    def actor(self, name: str | None = None, *, source: str = "api", roles: frozenset[str] | None = None) -> Actor:
        login = os_login()
        # Recorded in every log row (columns of 100 characters): checked like any text.
        who = validate.text("actor", name, max_len=100) if name else login
        return Actor(
            name=who,
            roles=roles if roles is not None else self.settings.roles_of(who),
            source=source,
            os_user=login,
        )

    def guard_context(self, actor: Actor) -> GuardContext:
        return GuardContext(
            today=self.clock.today(),
            actor=actor.name,
            roles=actor.roles,
            min_agreement_months=self.settings.min_agreement_months,
        )


def audit_path(settings: Settings, db_url: str) -> Path | None:
    """Where the JSON-lines audit stream goes: configured, else beside a SQLite file."""
    if settings.audit_log:
        return Path(settings.audit_log).expanduser()
    if db_url.startswith("sqlite:///") and not db_url.endswith(":memory:"):
        return Path(db_url[len("sqlite:///") :]).expanduser().with_suffix(".audit.jsonl")
    from iop_workflow.store.engine import default_sqlite_path  # noqa: PLC0415

    return default_sqlite_path().with_name("audit.jsonl")
