"""What every service command needs: the database, the rules, the clock, the actor."""

from __future__ import annotations

import functools
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import RowMapping

from iop_workflow.audit.sink import AuditSink
from iop_workflow.clock import Clock
from iop_workflow.domain.definition import WorkflowDefinition
from iop_workflow.domain.facts import GuardContext
from iop_workflow.domain.machine import Engine
from iop_workflow.errors import NotFound
from iop_workflow.service import validate
from iop_workflow.settings import Settings
from iop_workflow.store.engine import Database
from iop_workflow.store.guidelines import GuidelineCache

SOURCES = frozenset({"cli", "api", "scheduler"})


@functools.cache
def os_login() -> str:
    """The login of the process's real uid, from the kernel (never LOGNAME/USER, which anyone sets)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (containers)
        return f"uid:{uid}"


# How an actor was established (DESIGN.md "Identity and roles"); recorded in every new log record.
AUTH_METHODS = frozenset({"oidc", "token", "local", "local-asserted", "system"})
WILDCARD = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth:
    """The credential behind an actor: what an auditor needs to tell a proven identity from a claim."""

    method: str
    issuer: str | None = None
    subject: str | None = None
    token_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "issuer": self.issuer, "subject": self.subject, "token_id": self.token_id}


SYSTEM_AUTH = Auth(method="system", subject="scheduler")


# The role that imports a case with its history (service/case_import.py); ``audit verify`` holds a
# record's historical roles (``data.history``) as the step's only when its actor had this role.
IMPORTER = "coordinator"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoricalStep:
    """A step of an imported case's history (``iop case import``): who did it, in which roles, on which day.

    The log's actor stays the importing officer (an established identity); the rules of the step
    (roles, four eyes, the guideline in force, dates) are checked on these, and they are recorded in
    the record's data under ``history``.
    """

    by: str
    roles: frozenset[str]
    on: date

    def as_dict(self) -> dict[str, Any]:
        return {"by": self.by, "roles": sorted(self.roles), "on": self.on.isoformat()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who acts, how that was established, and which roles they hold where.

    ``roles`` are the roles that apply to the command at hand; ``grants`` (role,
    municipality or ``*``) are where they apply. ``grants=None`` is an actor
    without a municipality scope (the scheduler). :meth:`within` narrows an actor
    to one case's municipality.
    """

    name: str
    roles: frozenset[str]
    source: str = "api"
    os_user: str | None = None
    auth: Auth = SYSTEM_AUTH
    grants: tuple[tuple[str, str], ...] | None = None
    step: HistoricalStep | None = None  # set only while an import records a step of a case's history

    @property
    def acting_name(self) -> str:
        """Who did what is being recorded: the actor, or the person an imported step names."""
        return self.step.by if self.step is not None else self.name

    @property
    def acting_roles(self) -> frozenset[str]:
        """The roles the step's rules are checked on: the actor's, or those an imported step declares."""
        return self.step.roles if self.step is not None else self.roles

    @property
    def recorded_os_user(self) -> str | None:
        """The OS login, recorded only when it differs from the actor's name."""
        return self.os_user if self.os_user and self.os_user != self.name else None

    def covers(self, municipality: str) -> bool:
        """Whether any of the actor's grants reaches ``municipality``."""
        return self.grants is None or bool(self._roles_in(municipality))

    def within(self, municipality: str) -> Actor:
        """The actor with the roles it holds in ``municipality`` (grants there or everywhere)."""
        if self.grants is None:
            return self
        roles = self._roles_in(municipality)
        return self if roles == self.roles else replace(self, roles=roles)

    def _roles_in(self, municipality: str) -> frozenset[str]:
        place = municipality.casefold()
        return frozenset(r for r, m in self.grants or () if m == WILDCARD or m.casefold() == place)

    @property
    def municipalities(self) -> frozenset[str] | None:
        """The municipalities the actor may see, or None for all."""
        if self.grants is None or any(m == WILDCARD for _r, m in self.grants):
            return None
        return frozenset(m for _r, m in self.grants)


def case_actor(actor: Actor, case: Mapping[str, Any] | RowMapping) -> Actor:
    """``actor`` with the roles it holds in the case's municipality.

    A case outside every grant of the actor does not exist for it: NotFound, as
    for a ref that was never issued, so scope reveals nothing.
    """
    if not actor.covers(case["municipality"]):
        raise NotFound(kind="case", key=case["ref"])
    return actor.within(case["municipality"])


@dataclass(slots=True, kw_only=True)
class App:
    db: Database
    settings: Settings
    clock: Clock
    definition: WorkflowDefinition
    engine: Engine
    sink: AuditSink
    guidelines: GuidelineCache = field(default_factory=GuidelineCache)

    def actor(self, name: str | None = None, *, source: str = "api") -> Actor:
        """The local principal: the OS login of this process, or ``name`` asserted by an admin.

        Local mode holds the database itself; what it records is ``local`` (or
        ``local-asserted``, naming both logins), never an authenticated identity.
        Roles come from the grants in the database, never from settings.
        """
        from iop_workflow.service import identity  # noqa: PLC0415

        # Recorded in every log row (columns of 100 characters): checked like any text.
        who = validate.text("actor", name, max_len=100) if name else None
        return identity.local_actor(self, who, source=source)

    def day_of(self, actor: Actor) -> date:
        """The business day of what ``actor`` does: today, or an imported step's own day."""
        return actor.step.on if actor.step is not None else self.clock.today()

    def guard_context(self, actor: Actor) -> GuardContext:
        return GuardContext(
            today=self.day_of(actor),
            actor=actor.acting_name,
            roles=actor.acting_roles,
            min_agreement_months=self.settings.min_agreement_months,
        )


def shared_audit_path(settings: Settings, db_url: str) -> bool:
    """Whether :func:`audit_path` names a file other databases write too: a configured one, or the
    default of every database that is not a SQLite file (whose own stream lies beside it)."""
    return bool(settings.audit_log) or _sqlite_file(db_url) is None


def simulated_audit_path(path: Path, db_url: str) -> Path:
    """A simulated database's own stream beside a shared one: ``audit.jsonl`` becomes
    ``audit.simulated-<database>.jsonl``, so what-if records never enter the live stream."""
    name = Path(db_url.split("?", 1)[0].rstrip("/")).stem or "database"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return path.with_name(f"{path.stem}.simulated-{safe}{path.suffix}")


def audit_path(settings: Settings, db_url: str) -> Path | None:
    """Where the JSON-lines audit stream goes: configured, else beside a SQLite file."""
    if settings.audit_log:
        return Path(settings.audit_log).expanduser()
    if (file := _sqlite_file(db_url)) is not None:
        return file.with_suffix(".audit.jsonl")
    from iop_workflow.store.engine import default_sqlite_path  # noqa: PLC0415

    return default_sqlite_path().with_name("audit.jsonl")


def _sqlite_file(db_url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or one in memory."""
    if db_url.startswith("sqlite:///") and not db_url.endswith(":memory:"):
        return Path(db_url[len("sqlite:///") :]).expanduser()
    return None
