"""The Python API: one object per database, one method per command.

>>> iop = Iop.connect("sqlite:///iop.db")            # doctest: +SKIP
>>> iop.init()                                        # doctest: +SKIP
>>> ref = iop.open_case(org_number="802479-1322", municipality="Kungälv",
...                     title="Läxhjälp", challenge="...", actor="anna")  # doctest: +SKIP
>>> iop.fire(ref, "start_dialogue", actor="anna")     # doctest: +SKIP

Every write is one database transaction; refusals raise
:class:`~iop_workflow.errors.TransitionNotAllowed` listing every reason,
lost races raise :class:`~iop_workflow.errors.ConcurrentUpdate`.

Keyword names are the documented JSON keys (``start_on``, ``org_number``, ``held_on``, ...),
which the CLI's options mirror (``--start-on``); return values are the TypedDicts of
:mod:`iop_workflow.types`, the documented ``--json`` shapes. Arguments pass one gate
(:mod:`iop_workflow.api_args`): an unknown, missing or repeated one is a
:class:`~iop_workflow.errors.UsageError`, a value of the wrong type an
:class:`~iop_workflow.errors.InvalidInput`, never a raw ``TypeError``.

:class:`Iop` is built from groups of methods (mixins of :class:`~iop_workflow.api_base.IopBase`):
this module holds the connection and the workflow (cases, transitions, reads);
:mod:`~iop_workflow.api_setup` the set-up, guidelines and organisations; :mod:`~iop_workflow.api_facts`
the recorded facts; :mod:`~iop_workflow.api_deadlines` the sweeps and alerts;
:mod:`~iop_workflow.api_admin` roles and tokens; :mod:`~iop_workflow.api_audit` audit and reports.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from iop_workflow.api_admin import AdminApi
from iop_workflow.api_args import checked
from iop_workflow.api_audit import AuditApi
from iop_workflow.api_base import ActorLike
from iop_workflow.api_deadlines import DeadlinesApi
from iop_workflow.api_facts import FactsApi
from iop_workflow.api_setup import SetupApi
from iop_workflow.audit.sink import AuditSink, StreamFailure
from iop_workflow.clock import Clock
from iop_workflow.domain.definition import WorkflowDefinition
from iop_workflow.domain.machine import Engine
from iop_workflow.resources import shipped_definition
from iop_workflow.service import views, workflow
from iop_workflow.service.clock_mode import DatabaseClock
from iop_workflow.service.context import Actor, App, audit_path, shared_audit_path
from iop_workflow.settings import Settings, load_settings
from iop_workflow.store.engine import Database, default_sqlite_path

# Reads (case, options, history) need views and workflow only; every other service
# module is imported by the method that uses it, so `iop case show` does not load
# the set-up, recording, sweep and alert code.
if TYPE_CHECKING:
    from iop_workflow import types as shapes  # the documented JSON shapes (TypedDicts)


def resolve_url(url: str | None, settings: Settings) -> str:
    """Explicit URL, else IOP_DATABASE_URL / the config file, else the default SQLite file."""
    return url or settings.database_url or f"sqlite:///{default_sqlite_path()}"


def _stream_failed(app: App, failure: StreamFailure) -> None:
    from iop_workflow.service import stream  # noqa: PLC0415 - only when a line could not be written

    stream.record_failure(app, failure)


@checked
class Iop(SetupApi, FactsApi, DeadlinesApi, AdminApi, AuditApi):
    """A connection to one iop-workflow database."""

    @classmethod
    def connect(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        definition: WorkflowDefinition | None = None,
        audit_log: str | os.PathLike[str] | bool | None = True,
        audit_to_stderr: bool = False,
        source: str = "api",
    ) -> Iop:
        """Open the database at ``url``. ``audit_log``: True = default file, False or None = none, else its path."""
        settings = settings or load_settings()
        url = resolve_url(url, settings)
        definition = definition or shipped_definition()
        if audit_log is True:
            path = audit_path(settings, url)
        elif audit_log is False or audit_log is None:
            path = None
        else:
            path = Path(audit_log).expanduser()
        db = Database(url, file_mode=settings.files.bits)
        db_clock = DatabaseClock(db, settings)
        # A simulated database never writes into a stream other databases share (a configured file,
        # or the default of PostgreSQL): its records go to a file of its own beside it.
        divert = db_clock.stream_of(url) if audit_log is True and shared_audit_path(settings, url) else None
        app = App(
            db=db,
            settings=settings,
            clock=clock or db_clock,  # an injected clock wins (service/clock_mode.py)
            definition=definition,
            engine=Engine(definition),
            sink=AuditSink(path, to_stderr=audit_to_stderr, mode=settings.files.bits, divert=divert),
        )
        app.sink.listeners.append(lambda failure: _stream_failed(app, failure))
        return cls(app, source=source)

    @property
    def stream_failures(self) -> list[StreamFailure]:
        """Lines of the audit stream this object could not write (their records are in the database)."""
        return list(self.app.sink.failures)

    def close(self) -> None:
        self.app.sink.close()
        self.app.db.dispose()

    def __enter__(self) -> Iop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the workflow ---------------------------------------------------------
    def open_case(
        self,
        *,
        org_number: str,
        municipality: str,
        title: str,
        challenge: str,
        unit: str | None = None,
        initiated_by: str = "organisation",
        actor: ActorLike = None,
    ) -> str:
        """Register an initiative; returns the new case's ref."""
        fired = workflow.open_case(
            self.app,
            self.actor(actor),
            org_number=org_number,
            municipality=municipality,
            title=title,
            challenge=challenge,
            unit=unit,
            initiated_by=initiated_by,
        )
        return fired.record.case_ref

    def import_case(self, path: str | os.PathLike[str], *, actor: ActorLike = None) -> shapes.Imported:
        """Import an existing partnership with its history from a TOML or JSON file (docs/import.md), in one
        transaction through the live rules (role coordinator); returns ``ref``, ``state``, ``sha256``,
        ``history_from``, ``records``, ``file``. A refusal names the file's entry and writes nothing."""
        from iop_workflow.service import case_import  # noqa: PLC0415

        return cast("shapes.Imported", case_import.import_case(self.app, self.actor(actor), Path(path)))

    def fire(
        self,
        ref: str,
        trigger: str,
        *,
        actor: ActorLike = None,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        end_reason: str | None = None,
        if_version: int | None = None,
        notice_on: date | str | None = None,
    ) -> shapes.Record:
        """Fire ``trigger``; returns the committed log record (``notice_on``: for ``terminate``;
        ``if_version``: only if the case is still at that version, else ConcurrentUpdate)."""
        fired = workflow.fire(
            self.app,
            self.actor(actor),
            ref,
            trigger,
            reason=reason,
            data=data,
            end_reason=end_reason,
            expected_version=if_version,
            notice_on=notice_on,
        )
        return cast("shapes.Record", fired.record.as_dict())

    def options(self, ref: str, *, actor: ActorLike = None, lang: str = "sv") -> list[shapes.Option]:
        _facts, opts = workflow.options(self.app, self.actor(actor), ref)
        return cast("list[shapes.Option]", views.options_dicts(opts, lang))

    def case(self, ref: str, *, lang: str = "sv") -> shapes.Case:
        """The case as the database's own user reads it: no scope, protected contact data masked, nothing logged."""
        return cast("shapes.Case", views.show(self.app, ref, lang))

    def show_case(self, ref: str, *, actor: ActorLike = None, lang: str = "sv") -> shapes.Case:
        """The case as ``iop case show`` gives it to ``actor`` (None: this process's login): within its
        municipalities, a protected organisation's contact data shown only with a need to know (the
        case's own officers, auditors), and each such read logged as an access event."""
        return cast("shapes.Case", views.show(self.app, ref, lang, actor=self.actor(actor), contact=True))

    def assign(self, ref: str, login: str, *, remove: bool = False, actor: ActorLike = None) -> shapes.Assignment:
        """Assign officer ``login`` to case ``ref`` (``remove``: take it back): a ``record:assignment`` record."""
        from iop_workflow.service import assignments  # noqa: PLC0415

        return cast("shapes.Assignment", assignments.assign(self.app, self.actor(actor), ref, login, remove=remove))

    def cases(
        self, *, state: str | None = None, municipality: str | None = None, lang: str = "sv"
    ) -> list[shapes.CaseRow]:
        """Cases, optionally in one state and one municipality (any spelling ``--municipality`` takes)."""
        return cast("list[shapes.CaseRow]", views.list_cases(self.app, lang, state, municipality=municipality))

    def case_page(
        self,
        *,
        state: str | None = None,
        municipality: str | None = None,
        limit: int = 50,
        after: str | None = None,
        lang: str = "sv",
        actor: ActorLike = None,
    ) -> views.Page:
        """At most ``limit`` cases after ref ``after`` (the paging read ``GET /v1/cases`` shares); with
        ``actor``, only the cases of the municipalities their grants cover."""
        return views.page(
            self.app, lang, state, municipality=municipality, limit=limit, after=after, actor=self._reader(actor)
        )

    def iter_cases(
        self,
        *,
        state: str | None = None,
        municipality: str | None = None,
        after: str | None = None,
        lang: str = "sv",
        actor: ActorLike = None,
    ) -> Iterator[shapes.CaseRow]:
        """Every case (after ref ``after``; with ``actor``, of their municipalities), one at a time in
        constant memory."""
        cases = views.iter_cases(
            self.app, lang, state, municipality=municipality, after=after, actor=self._reader(actor)
        )
        return cast("Iterator[shapes.CaseRow]", cases)

    def count_cases(
        self,
        *,
        state: str | None = None,
        municipality: str | None = None,
        after: str | None = None,
        actor: ActorLike = None,
    ) -> int:
        """How many cases :meth:`iter_cases` would give."""
        return views.count_cases(self.app, state, municipality=municipality, after=after, actor=self._reader(actor))

    def _reader(self, who: ActorLike) -> Actor | None:
        """The actor a read is scoped to; None (no scope) when none is named."""
        return None if who is None else self.actor(who)

    def history(self, ref: str) -> list[shapes.Record]:
        return cast("list[shapes.Record]", views.history(self.app, ref))
