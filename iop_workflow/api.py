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
from iop_workflow.api_facts import FactsApi
from iop_workflow.audit.sink import AuditSink, StreamFailure
from iop_workflow.clock import Clock
from iop_workflow.domain.definition import WorkflowDefinition
from iop_workflow.domain.guidelines import Guideline
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
class Iop(AdminApi, FactsApi, AuditApi):
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

    # -- set-up ---------------------------------------------------------------
    def init(
        self, *, admin: str | None = None, simulation: bool = False, start: date | str | None = None
    ) -> shapes.Init:
        """Create/upgrade the schema, load the shipped guidelines; on a database without an admin, import
        the old ``[roles]`` settings as grants and make ``admin`` (default: the OS login) its admin.
        ``simulation``: a database without records gets a simulated clock (``iop init --simulation``),
        at 09:00 on ``start`` when given, else now."""
        from iop_workflow.errors import UsageError  # noqa: PLC0415
        from iop_workflow.service import admin as admin_service  # noqa: PLC0415
        from iop_workflow.service import validate  # noqa: PLC0415

        if start is not None and not simulation:
            raise UsageError(
                problem="--start sets a simulated clock: give --simulation too",
                problem_sv="--start ställer en simulerad klocka: ange även --simulation",
            )
        first = validate.day("start", start) if start is not None else None
        return cast("shapes.Init", admin_service.init(self.app, admin=admin, simulation=simulation, start=first))

    def load_guideline_file(self, path: Path | str, *, actor: ActorLike = None) -> dict[str, str]:
        """Load a guideline file (role coordinator in its municipality): each changed content a new, logged version."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return admin.load_guideline_file(self.app, self.actor(actor), Path(path))

    def confirm_guideline(
        self,
        ref: str,
        *,
        decided_on: date | str,
        decided_by: str,
        minutes_ref: str,
        valid_from: date | str | None = None,
        valid_until: date | str | None = None,
        actor: ActorLike = None,
    ) -> shapes.GuidelineConfirmed:
        """Confirm guideline ``ref``'s decision against its minutes (role coordinator in its municipality):
        a logged ``guideline:confirm`` record that amends its current version. Exit codes as the CLI's."""
        from iop_workflow.service import guideline_confirm  # noqa: PLC0415

        return cast(
            "shapes.GuidelineConfirmed",
            guideline_confirm.confirm(
                self.app,
                self.actor(actor),
                ref,
                decided_on=decided_on,
                decided_by=decided_by,
                minutes_ref=minutes_ref,
                valid_from=valid_from,
                valid_until=valid_until,
            ),
        )

    def guidelines(self) -> list[Guideline]:
        """Every guideline in the database, as domain values."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return admin.guidelines(self.app)

    def guideline(self, ref: str) -> Guideline:
        from iop_workflow.service import admin  # noqa: PLC0415

        return admin.guideline(self.app, ref)

    def guideline_dicts(self, *, criteria: bool = False, ref: str | None = None) -> list[shapes.GuidelineRow]:
        """The documented JSON shape of ``guideline list`` (in_force as of today); ``ref``: only that one."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return cast("list[shapes.GuidelineRow]", admin.guideline_dicts(self.app, criteria=criteria, ref=ref))

    def add_organisation(
        self,
        *,
        name: str,
        org_number: str,
        legal_form: str,
        non_profit: bool = True,
        protected: bool = False,
        contact_name: str | None = None,
        contact_email: str | None = None,
        contact_phone: str | None = None,
        address: str | None = None,
        actor: ActorLike = None,
    ) -> shapes.Organisation:
        """Add an organisation (role registrar; logged)."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return cast(
            "shapes.Organisation",
            admin.add_org(
                self.app,
                self.actor(actor),
                name=name,
                org_number=org_number,
                legal_form=legal_form,
                non_profit=non_profit,
                protected=protected,
                contact_name=contact_name,
                contact_email=contact_email,
                contact_phone=contact_phone,
                address=address,
            ),
        )

    def record_registration(
        self,
        org_number: str,
        *,
        registered_on: date | str,
        removed_on: date | str | None = None,
        actor: ActorLike = None,
    ) -> shapes.Organisation:
        """Record the organisation's registration under Lag (2022:900) (role registrar; logged)."""
        from iop_workflow.service import registration  # noqa: PLC0415

        found = registration.record(
            self.app, self.actor(actor), org_number, registered_on=registered_on, removed_on=removed_on
        )
        return cast("shapes.Organisation", found)

    def organisations(self) -> list[shapes.Organisation]:
        from iop_workflow.service import admin  # noqa: PLC0415

        return cast("list[shapes.Organisation]", admin.orgs(self.app))

    def organisation(self, org_number: str, *, actor: ActorLike = None) -> shapes.Organisation:
        """One organisation; a protected one's contact data only for ``actor`` (None: this process's
        login) with a need to know (an officer of one of its open cases, an auditor), logged."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return cast("shapes.Organisation", admin.org(self.app, org_number, actor=self.actor(actor)))

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

    # -- deadlines --------------------------------------------------------------
    def tick(self, *, at: date | str | None = None, dry_run: bool = False) -> shapes.Tick:
        """Run every sweep once as of the clock's date (the shape of ``iop scheduler tick --json``).

        ``at`` (``tick --at``): on a real database only today, any date with ``dry_run``; on a
        simulated one the stored clock first moves forward to ``at`` (an earlier date: UsageError)."""
        from dataclasses import replace  # noqa: PLC0415

        from iop_workflow.service import clock_mode, sweep, validate  # noqa: PLC0415

        app = self.app
        if at is not None:
            as_of = clock_mode.tick_clock(app, validate.day("at", at), dry_run=dry_run)
            app = app if as_of is None else replace(app, clock=as_of)
        return cast("shapes.Tick", sweep.tick(app, dry_run=dry_run).as_dict())

    def clock(self) -> shapes.ClockState:
        """The database's clock: ``mode`` (real or simulated) and the ``now`` and ``today`` this object dates by."""
        from iop_workflow.service import clock_mode  # noqa: PLC0415

        return {"mode": clock_mode.mode(self.app), "now": self.app.clock.now(), "today": self.app.clock.today()}

    def sweep_timers(self, *, dry_run: bool = False, batch_size: int | None = None) -> shapes.Sweep:
        """``batch_size``: timers per transaction (default ``service.sweep.BATCH``)."""
        from iop_workflow.service import sweep  # noqa: PLC0415

        size = sweep.BATCH if batch_size is None else batch_size
        return cast("shapes.Sweep", sweep.sweep_timers(self.app, dry_run=dry_run, batch_size=size).as_dict())

    def sweep_guidelines(self, *, dry_run: bool = False) -> shapes.Sweep:
        from iop_workflow.service import sweep  # noqa: PLC0415

        return cast("shapes.Sweep", sweep.sweep_guidelines(self.app, dry_run=dry_run).as_dict())

    def upcoming(self, until: date) -> list[shapes.Deadline]:
        """Every deadline from now until ``until`` (the shape of ``iop scheduler plan --json``; a text is
        parsed as YYYY-MM-DD)."""
        from iop_workflow.service import sweep  # noqa: PLC0415

        return cast("list[shapes.Deadline]", sweep.upcoming(self.app, until))

    def alerts(
        self, *, lang: str = "sv", include_acknowledged: bool = False, recipient: str | None = None
    ) -> list[shapes.Alert]:
        from iop_workflow.service import alerts  # noqa: PLC0415

        rows = alerts.listing(self.app, lang=lang, include_acknowledged=include_acknowledged, recipient=recipient)
        return cast("list[shapes.Alert]", rows)

    def acknowledge_alert(self, alert_id: int, *, actor: ActorLike = None, lang: str = "sv") -> shapes.Alert:
        from iop_workflow.service import alerts  # noqa: PLC0415

        return cast("shapes.Alert", alerts.acknowledge(self.app, self.actor(actor), alert_id, lang=lang))
