"""SQLite files for backup and restore: plain sqlite3 connections, temporary files beside a target,
fsync, and the two atomic ways to put a finished copy in place."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from iop_workflow.errors import DatabaseUnavailable, InvalidInput
from iop_workflow.store.engine import BUSY_TIMEOUT_MS


@contextmanager
def open_sqlite(path: Path, *, readonly: bool) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection, closed afterwards (``readonly``: opened read-only when it can be)."""
    conn = None
    if readonly:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.OperationalError:  # e.g. a WAL file without its -shm: open it read-write, only read
            conn.close()
            conn = None
    if conn is None:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        yield conn
    finally:
        conn.close()


def wal_of(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def temp_beside(target: Path, *, field: str) -> Path:
    """A new, empty file in ``target``'s directory (same file system: the final move is atomic)."""
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    except OSError as exc:
        raise InvalidInput(
            field=field,
            value=str(target),
            problem_sv=f"katalogen {target.parent} går inte att skriva i ({exc.strerror})",
            problem_en=f"the directory {target.parent} is not writable ({exc.strerror})",
        ) from None
    os.close(fd)
    return Path(name)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory
    finally:
        os.close(fd)


def place(temp: Path, target: Path, force: bool, *, field: str = "FILE") -> None:
    """Move the finished ``temp`` to ``target``: never over an existing file unless ``force``."""
    if force:
        os.replace(temp, target)
        for leftover in (wal_of(target), target.with_name(target.name + "-shm")):
            leftover.unlink(missing_ok=True)  # a stale WAL would be replayed into the new file
    else:
        try:
            os.link(temp, target)  # atomic and fails if the name exists (no check-then-replace race)
        except FileExistsError:
            raise InvalidInput(
                field=field,
                value=str(target),
                problem_sv="finns redan; --force ersätter den",
                problem_en="already exists; --force replaces it",
            ) from None
        except OSError:  # no hard links here (e.g. FAT, some network file systems)
            if target.exists():
                raise
            os.replace(temp, target)
    fsync_dir(target.parent)


def overwrite(temp: Path, target: Path) -> None:
    """Write ``temp``'s pages over the existing database in one write transaction (SQLite's backup API)."""
    try:
        with open_sqlite(temp, readonly=True) as src, open_sqlite(target, readonly=False) as dst:
            dst.execute("PRAGMA schema_version").fetchone()  # fails on a file that is not a database
            src.backup(dst)
    except sqlite3.DatabaseError as exc:
        if "not a database" not in str(exc) and "malformed" not in str(exc):
            raise DatabaseUnavailable(url=str(target), problem=str(exc)) from None
        place(temp, target, force=True)  # the old file is no database: nothing can be open on it
