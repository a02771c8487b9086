"""Backup and restore of the embedded SQLite database; PostgreSQL gets the pg_dump commands instead.

``backup`` copies the live database with SQLite's online backup API in one step:
one read transaction, so the copy is a consistent snapshot even while other
processes keep writing (WAL: they are not blocked). The copy goes to a temporary
file in the target's directory, is switched out of WAL mode (one self-contained
file), checked with ``PRAGMA integrity_check``, synced, and only then moved to
its name, so a crash never leaves a half-written backup under that name.

``restore`` copies the file to a temporary file beside the database and checks
it there before anything is replaced: a SQLite file, intact pages, the iop
schema at a revision this version knows, and an audit log that verifies (the
verify service: every chain, every checkpoint, each case's state). Only then it
replaces the database atomically: a new file is linked into place; an existing
one (``force``) is overwritten through the backup API in one write transaction,
which other connections see as one commit and which never leaves a stale WAL
beside the new content.

Errors and exit statuses: PostgreSQL (:class:`NotForBackend`, 2); the file exists
without ``force``, or cannot be read or written (:class:`InvalidInput`, 6); the
copy or the file to restore is not an intact iop database (:class:`BackupRejected`,
7); no database to back up (:class:`DatabaseUnavailable`, 8).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from iop_workflow.errors import DatabaseUnavailable, IntegrityError, InvalidInput, UsageError
from iop_workflow.resources import open_regular, require_regular
from iop_workflow.service.pg_guidance import NotForBackend, pg_commands
from iop_workflow.store.engine import redact
from iop_workflow.store.sqlite_files import fsync, open_sqlite, overwrite, place, temp_beside, wal_of

_HEADER = b"SQLite format 3\x00"
_REQUIRED_TABLES = ("alembic_version", "cases", "transition_log", "timers")


class BackupRejected(IntegrityError):
    """A backup (or the file to restore) is not an intact iop database; nothing was replaced."""

    code = "backup_rejected"

    def __init__(self, *, file: str, problems: list[dict[str, Any]]) -> None:
        super().__init__(problems=problems)
        self.file = file

    def details(self) -> dict[str, Any]:
        return {"file": self.file, "problems": self.problems}

    def _first(self) -> str:
        first = self.problems[0]
        where = (
            f"{first['case_ref']} #{first.get('case_seq') or first.get('seq') or '-'}: "
            if first.get("case_ref")
            else ""
        )
        more = len(self.problems) - 1
        return where + str(first["problem"]) + (f" (+{more})" if more else "")

    def _sv(self) -> str:
        return f"{self.file} är ingen intakt iop-databas; ingenting ersattes: {self._first()}"

    def _en(self) -> str:
        return f"{self.file} is not an intact iop database; nothing was replaced: {self._first()}"


def sqlite_path(url: str, operation: str, file: Path) -> Path:
    """The file of a SQLite URL; :class:`NotForBackend` (with the commands) for PostgreSQL."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        dump, restore = pg_commands(url, str(file))
        raise NotForBackend(
            operation=operation,
            url=redact(url),
            backup_command=dump,
            restore_command=restore,
            password=parsed.password is not None,
        )
    if not parsed.database or parsed.database == ":memory:":
        raise UsageError(problem=f"`iop db {operation}` needs a database file, not {url}")
    return Path(parsed.database).expanduser().absolute()


def backup(
    url: str,
    target: Path,
    *,
    force: bool = False,
    mode: int = 0o600,
    prepare: Callable[[sqlite3.Connection], None] | None = None,
) -> dict[str, Any]:
    """Copy the live database at ``url`` to ``target``; returns what the copy holds.

    ``prepare`` changes the copy before it is checked and put in place (``iop db copy --simulation``)."""
    started = time.perf_counter()
    source = sqlite_path(url, "backup", target)
    target = target.expanduser().absolute()
    if not source.is_file():
        raise DatabaseUnavailable(url=redact(url), problem=f"there is no database file at {source}; nothing to back up")
    _check_target(target, force, field="FILE")
    temp = temp_beside(target, field="FILE")
    try:
        try:
            with open_sqlite(source, readonly=False) as src:
                _require_schema(src, str(source), unavailable_url=redact(url))
                with open_sqlite(temp, readonly=False) as dst:
                    src.backup(dst)
                    dst.execute("PRAGMA journal_mode = DELETE").fetchall()
                    if prepare is not None:
                        prepare(dst)
                    summary = _inspect(dst, str(target))
        except sqlite3.DatabaseError as exc:  # not a database, locked for too long, disk full, ...
            raise DatabaseUnavailable(url=redact(url), problem=str(exc)) from None
        os.chmod(temp, mode)  # a copy of the database: as private as the database ([files] mode)
        fsync(temp)
        place(temp, target, force)
    finally:
        temp.unlink(missing_ok=True)
    return {
        "file": str(target),
        "database": redact(url),
        **summary,
        "bytes": target.stat().st_size,
        "seconds": round(time.perf_counter() - started, 3),
    }


def restore(url: str, source: Path, *, force: bool = False) -> dict[str, Any]:
    """Replace the database at ``url`` with the verified content of ``source``."""
    started = time.perf_counter()
    target = sqlite_path(url, "restore", source)
    source = source.expanduser().absolute()
    require_regular(source, field="FILE")  # a FIFO, device or directory: refused before anything opens it
    if not source.is_file():
        raise InvalidInput(field="FILE", value=str(source), problem_sv="filen finns inte", problem_en="no such file")
    if source == target:
        raise InvalidInput(
            field="FILE", value=str(source), problem_sv="är själva databasen", problem_en="is the database itself"
        )
    exists = target.exists() or wal_of(target).exists()
    _check_target(target, force, field="database")
    _require_header(source)
    temp = temp_beside(target, field="database")
    try:
        try:
            with open_sqlite(source, readonly=True) as src, open_sqlite(temp, readonly=False) as dst:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE").fetchall()
                _require_schema(dst, str(source))
                summary = _inspect(dst, str(source))
        except sqlite3.DatabaseError as exc:
            raise BackupRejected(file=str(source), problems=[{"problem": f"not a SQLite database ({exc})"}]) from None
        summary.update(_verify(temp, str(source)))
        fsync(temp)
        if exists:
            overwrite(temp, target)
        else:
            place(temp, target, force, field="database")
    finally:
        temp.unlink(missing_ok=True)
    return {
        "file": str(source),
        "database": redact(url),
        "replaced": exists,
        **summary,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _check_target(target: Path, force: bool, *, field: str) -> None:
    if target.is_dir():
        raise InvalidInput(field=field, value=str(target), problem_sv="är en katalog", problem_en="is a directory")
    if not force and (target.exists() or wal_of(target).exists()):
        raise InvalidInput(
            field=field,
            value=str(target),
            problem_sv="finns redan; --force ersätter den",
            problem_en="already exists; --force replaces it",
        )
    if not target.parent.is_dir():
        raise InvalidInput(
            field=field,
            value=str(target),
            problem_sv=f"katalogen {target.parent} finns inte",
            problem_en=f"the directory {target.parent} does not exist",
        )


def _require_header(path: Path) -> None:
    try:
        with os.fdopen(open_regular(path, field="FILE"), "rb") as handle:
            head = handle.read(len(_HEADER))
    except OSError as exc:
        raise InvalidInput(
            field="FILE",
            value=str(path),
            problem_sv=f"kan inte läsas ({exc.strerror})",
            problem_en=f"cannot be read ({exc.strerror})",
        ) from None
    if head != _HEADER:
        raise BackupRejected(file=str(path), problems=[{"problem": "not a SQLite database"}])


def _require_schema(conn: sqlite3.Connection, file: str, *, unavailable_url: str | None = None) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in _REQUIRED_TABLES if t not in tables]
    if not missing:
        return
    problem = f"not an iop-workflow database (no table {', '.join(missing)})"
    if unavailable_url is not None:
        raise DatabaseUnavailable(url=unavailable_url, problem=f"{problem}; run `iop init`")
    raise BackupRejected(file=file, problems=[{"problem": problem}])


def _inspect(conn: sqlite3.Connection, file: str) -> dict[str, Any]:
    """Page-level integrity and what the copy holds; :class:`BackupRejected` when damaged."""
    found = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    if found != ["ok"]:
        raise BackupRejected(file=file, problems=[{"problem": f"integrity_check: {p}"} for p in found[:20]])
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (cases,) = conn.execute("SELECT count(*) FROM cases").fetchone()
    records, max_seq = conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM transition_log").fetchone()
    (schema,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or (None,)
    return {
        "integrity": "ok",
        "pages": pages,
        "page_size": page_size,
        "cases": cases,
        "records": records,
        "max_seq": max_seq,
        "schema": schema,
    }


def _verify(path: Path, file: str) -> dict[str, Any]:
    """The schema revision is one this version knows; the audit log verifies (the verify service)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - only a restore pays for Alembic

    from iop_workflow.service.audit import verify_on  # noqa: PLC0415
    from iop_workflow.store import migrate  # noqa: PLC0415

    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            script = ScriptDirectory.from_config(migrate.alembic_config())
            known = {rev.revision for rev in script.walk_revisions()}
            if revision not in known:
                problem = f"schema revision {revision!r} is unknown to this version of iop"
                raise BackupRejected(file=file, problems=[{"problem": problem}])
            report = verify_on(conn)
    finally:
        engine.dispose()
    if not report.ok:
        raise BackupRejected(file=file, problems=report.problems)
    head = script.get_current_head()
    return {"verified": True, "checkpoints": report.checkpoints, "schema_current": revision == head}
