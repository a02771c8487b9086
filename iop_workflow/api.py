"""The Python API: one object per database, one method per command.

>>> iop = Iop.connect("sqlite:///iop.db")            # doctest: +SKIP
>>> iop.init()                                        # doctest: +SKIP
>>> ref = iop.open_case(org_number="802479-1322", municipality="Kungälv",
...                     title="Läxhjälp", challenge="...", actor="anna")  # doctest: +SKIP
>>> iop.fire(ref, "start_dialogue", actor="anna")     # doctest: +SKIP

Every write is one database transaction; refusals raise
:class:`~iop_workflow.errors.TransitionNotAllowed` listing every reason,
lost races raise :class:`~iop_workflow.errors.ConcurrentUpdate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from iop_workflow.audit.sink import AuditSink
from iop_workflow.audit.verify import ChainReport
from iop_workflow.clock import Clock, SystemClock
from iop_workflow.domain.definition import WorkflowDefinition
from iop_workflow.domain.guidelines import Guideline
from iop_workflow.domain.machine import Engine
from iop_workflow.resources import shipped_definition
from iop_workflow.service import admin, records, views, workflow
from iop_workflow.service.context import Actor, App, audit_path
from iop_workflow.settings import Settings, load_settings
from iop_workflow.store.engine import Database, default_sqlite_path

ActorLike = str | Actor | None


def resolve_url(url: str | None, settings: Settings) -> str:
    """Explicit URL, else IOP_DATABASE_URL / the config file, else the default SQLite file."""
    return url or settings.database_url or f"sqlite:///{default_sqlite_path()}"


class Iop:
    """A connection to one iop-workflow database."""

    def __init__(self, app: App, *, source: str = "api") -> None:
        self.app = app
        self.source = source

    @classmethod
    def connect(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        definition: WorkflowDefinition | None = None,
        audit_log: Path | bool | None = True,
        audit_to_stderr: bool = False,
        source: str = "api",
    ) -> Iop:
        """Open the database at ``url``. ``audit_log``: True = default file, False = none."""
        settings = settings or load_settings()
        url = resolve_url(url, settings)
        definition = definition or shipped_definition()
        path = audit_path(settings, url) if audit_log is True else (audit_log or None)
        app = App(
            db=Database(url),
            settings=settings,
            clock=clock or SystemClock(settings.tz),
            definition=definition,
            engine=Engine(definition),
            sink=AuditSink(path if isinstance(path, Path) else None, to_stderr=audit_to_stderr),
        )
        return cls(app, source=source)

    def close(self) -> None:
        self.app.sink.close()
        self.app.db.dispose()

    def __enter__(self) -> Iop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def actor(self, who: ActorLike = None) -> Actor:
        return who if isinstance(who, Actor) else self.app.actor(who, source=self.source)

    # -- set-up ---------------------------------------------------------------
    def init(self) -> dict[str, Any]:
        return admin.init(self.app)

    def load_guideline_file(self, path: Path) -> dict[str, str]:
        return admin.load_guideline_file(self.app, path)

    def guidelines(self) -> list[Guideline]:
        """Every guideline in the database, as domain values."""
        return admin.guidelines(self.app)

    def guideline(self, ref: str) -> Guideline:
        return admin.guideline(self.app, ref)

    def guideline_dicts(self, *, criteria: bool = False) -> list[dict[str, Any]]:
        """The documented JSON shape of ``guideline list`` (in_force as of today)."""
        today = self.app.clock.today()
        return [admin.guideline_dict(g, today, criteria=criteria) for g in self.guidelines()]

    def add_organisation(self, *, actor: ActorLike = None, **fields: Any) -> dict[str, Any]:
        return admin.add_org(self.app, self.actor(actor), **fields)

    def organisations(self) -> list[dict[str, Any]]:
        return admin.orgs(self.app)

    def organisation(self, org_number: str) -> dict[str, Any]:
        return admin.org(self.app, org_number)

    # -- the workflow ---------------------------------------------------------
    def open_case(self, *, actor: ActorLike = None, **fields: Any) -> str:
        """Register an initiative; returns the new case's ref."""
        return workflow.open_case(self.app, self.actor(actor), **fields).record.case_ref

    def fire(
        self,
        ref: str,
        trigger: str,
        *,
        actor: ActorLike = None,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        end_reason: str | None = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Fire ``trigger``; returns the committed log record."""
        fired = workflow.fire(
            self.app,
            self.actor(actor),
            ref,
            trigger,
            reason=reason,
            data=data,
            end_reason=end_reason,
            expected_version=expected_version,
        )
        return fired.record.as_dict()

    def options(self, ref: str, *, actor: ActorLike = None, lang: str = "sv") -> list[dict[str, Any]]:
        _facts, opts = workflow.options(self.app, self.actor(actor), ref)
        return views.options_dicts(opts, lang)

    def case(self, ref: str, *, lang: str = "sv") -> dict[str, Any]:
        return views.show(self.app, ref, lang)

    def cases(self, *, state: str | None = None, lang: str = "sv") -> list[dict[str, Any]]:
        return views.list_cases(self.app, lang, state)

    def history(self, ref: str) -> list[dict[str, Any]]:
        return views.history(self.app, ref)

    # -- facts ----------------------------------------------------------------
    def record_meeting(
        self,
        ref: str,
        *,
        actor: ActorLike = None,
        held_on: date | str,
        joint_challenge: str,
        participants: str = "",
        notes: str = "",
    ) -> dict[str, Any]:
        return records.meeting(
            self.app,
            self.actor(actor),
            ref,
            held_on=held_on,
            joint_challenge=joint_challenge,
            participants=participants,
            notes=notes,
        ).as_dict()

    def assess(self, ref: str, criterion: str, verdict: str, *, note: str, actor: ActorLike = None) -> dict[str, Any]:
        return records.assessment(
            self.app, self.actor(actor), ref, criterion=criterion, verdict=verdict, note=note
        ).as_dict()

    def record_legal_check(self, ref: str, *, actor: ActorLike = None, **fields: Any) -> dict[str, Any]:
        return records.legal_check(self.app, self.actor(actor), ref, **fields).as_dict()

    def record_agreement(self, ref: str, *, actor: ActorLike = None, **fields: Any) -> dict[str, Any]:
        return records.agreement(self.app, self.actor(actor), ref, **fields).as_dict()

    def record_contribution(self, ref: str, *, actor: ActorLike = None, **fields: Any) -> dict[str, Any]:
        return records.contribution(self.app, self.actor(actor), ref, **fields).as_dict()

    def record_decision(self, ref: str, *, actor: ActorLike = None, **fields: Any) -> dict[str, Any]:
        return records.decision(self.app, self.actor(actor), ref, **fields).as_dict()

    def record_review(self, ref: str, *, actor: ActorLike = None, **fields: Any) -> dict[str, Any]:
        return records.review(self.app, self.actor(actor), ref, **fields).as_dict()

    # -- audit ----------------------------------------------------------------
    def verify(self) -> ChainReport:
        return admin.verify(self.app)
