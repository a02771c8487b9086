"""The Python API's audit, reports and recovery (a part of :class:`~iop_workflow.api.Iop`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from iop_workflow.api_base import ActorLike, IopBase

if TYPE_CHECKING:
    from iop_workflow import types as shapes  # the documented JSON shapes (TypedDicts)
    from iop_workflow.audit.checkpoint import Checkpoint
    from iop_workflow.audit.stream import StreamStatus
    from iop_workflow.audit.verify import ChainReport
    from iop_workflow.service.audit import Export


class AuditApi(IopBase):
    """Verify, checkpoints, export, reports, backup and restore."""

    # -- audit ----------------------------------------------------------------
    def verify(
        self, *, case: str | None = None, digest: str | None = None, authenticated_since: date | str | None = None
    ) -> ChainReport:
        """Recompute every chain (or ``case``'s) and every checkpoint; ``digest``: one filed outside;
        ``authenticated_since``: also list the records from that local date on that the server did not
        authenticate (``unauthenticated``)."""
        from iop_workflow.service import audit  # noqa: PLC0415

        return audit.verify(self.app, case_ref=case, digest=digest, authenticated_since=authenticated_since)

    def checkpoint(self, *, actor: ActorLike = None) -> Checkpoint:
        """Append a checkpoint over every chain head; ``.digest`` is the value to file outside."""
        from iop_workflow.service import audit  # noqa: PLC0415

        return audit.checkpoint(self.app, self.actor(actor))

    def export(
        self,
        *,
        since: date | str | None = None,
        until: date | str | None = None,
        case: str | None = None,
        include_protected: bool = False,
        actor: ActorLike = None,
    ) -> Export:
        """The log's records in seq order, page by page (iterate; ``.count()``); protected data masked
        unless ``include_protected`` (auditors, and officers for their own cases: ``need_to_know``; logged)."""
        from iop_workflow.service import audit  # noqa: PLC0415

        return audit.export(
            self.app, self.actor(actor), since=since, until=until, case_ref=case, include_protected=include_protected
        )

    def stream_status(self) -> StreamStatus:
        """How the audit stream differs from the log (records it lacks, lines the log does not hold)."""
        from iop_workflow.service import stream  # noqa: PLC0415

        return stream.status(self.app)

    def resync_stream(self, *, actor: ActorLike = None) -> shapes.Resync:
        """Rewrite the audit stream from the log (admins): every record once, in seq order."""
        from iop_workflow.service import stream  # noqa: PLC0415

        return cast("shapes.Resync", stream.resync(self.app, self.actor(actor)))

    def register(
        self, *, municipality: str | None = None, include_protected: bool = False, actor: ActorLike = None
    ) -> list[shapes.RegisterRow]:
        """The public list of partnerships (protected contact data masked unless someone with a need
        to know asks with ``include_protected``: auditors, officers for their own cases; logged)."""
        from iop_workflow.service import register  # noqa: PLC0415

        rows = register.register(
            self.app, self.actor(actor), municipality=municipality, include_protected=include_protected
        )
        return cast("list[shapes.RegisterRow]", rows)

    def register_rows(
        self, *, municipality: str | None = None, include_protected: bool = False, actor: ActorLike = None
    ) -> Iterator[shapes.RegisterRow]:
        """:meth:`register`'s rows one at a time, in constant memory (``iop report register --format json``)."""
        from iop_workflow.service import register  # noqa: PLC0415

        rows = register.rows(
            self.app, self.actor(actor), municipality=municipality, include_protected=include_protected
        )
        return cast("Iterator[shapes.RegisterRow]", rows)

    def annual_report(
        self,
        *,
        year: int | str,
        municipality: str | None = None,
        include_protected: bool = False,
        actor: ActorLike = None,
    ) -> shapes.AnnualReport:
        """The yearly follow-up report to the committee (the ``iop report annual --json`` shape), computed by
        replaying the log up to the year's end; protected contact data masked unless someone with a need to
        know asks (logged)."""
        from iop_workflow.service import annual  # noqa: PLC0415

        report = annual.annual(
            self.app, self.actor(actor), year=year, municipality=municipality, include_protected=include_protected
        )
        return cast("shapes.AnnualReport", report)

    def access_events(self) -> list[shapes.AccessEvent]:
        """Every logged read of protected data."""
        from iop_workflow.service import need_to_know  # noqa: PLC0415

        return cast("list[shapes.AccessEvent]", need_to_know.access_events(self.app))

    # -- recovery ---------------------------------------------------------------
    def backup(self, path: Path | str, *, force: bool = False) -> shapes.Backup:
        """Copy the live SQLite database to ``path`` (SQLite's online backup API: a consistent snapshot
        while others write), integrity-checked; PostgreSQL: raises the pg_dump commands (exit 2)."""
        from iop_workflow import files  # noqa: PLC0415
        from iop_workflow.service import backup  # noqa: PLC0415

        if self.app.db.dialect == "sqlite":  # (PostgreSQL: the service refuses with the pg_dump commands)
            files.target(path, force=force, protected=self.protected_files(), field="FILE")
        done = backup.backup(self.app.db.url, Path(path), force=force, mode=self.app.settings.files.bits)
        return cast("shapes.Backup", done)

    def copy_simulated(
        self, path: Path | str | None = None, *, to: str | None = None, force: bool = False
    ) -> dict[str, Any]:
        """A simulated copy of this database, its clock at this database's now: SQLite to the file
        ``path`` (``iop db copy FILE --simulation``), PostgreSQL into the new database ``to``
        (``iop db copy --simulation --to URL``). The other combinations: UsageError (exit 2)."""
        from iop_workflow import files  # noqa: PLC0415
        from iop_workflow.service import clock_mode, pg_copy  # noqa: PLC0415

        pg_copy.check_arguments(self.app.db.dialect, path, to)
        if to is not None:
            return pg_copy.simulated_copy(self.app, to, force=force)
        assert path is not None
        files.target(path, force=force, protected=self.protected_files(), field="FILE")
        return clock_mode.simulated_copy(self.app, Path(path), force=force)

    def protected_files(self) -> list[Path]:
        """The files no output of a command may replace: the SQLite database and its journals, the audit streams."""
        from iop_workflow import files  # noqa: PLC0415

        db, sink = self.app.db, self.app.sink
        return files.guarded(db.engine.url.database if db.dialect == "sqlite" else None, (sink.path, sink.events_path))

    def restore(self, path: Path | str, *, force: bool = False) -> shapes.Backup:
        """Replace this SQLite database with the backup at ``path``, once its audit log verifies."""
        from iop_workflow.service import backup  # noqa: PLC0415
        from iop_workflow.store.guidelines import GuidelineCache  # noqa: PLC0415

        self.app.db.dispose()
        result = backup.restore(self.app.db.url, Path(path), force=force)
        self.app.guidelines = GuidelineCache()  # row ids may differ in the restored database
        return cast("shapes.Backup", result)
