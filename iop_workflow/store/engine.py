"""Engines and units of work for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from iop_workflow import files, txscope
from iop_workflow.errors import DatabaseUnavailable

BUSY_TIMEOUT_MS = 10_000


def default_sqlite_path() -> Path:
    import platformdirs  # noqa: PLC0415 - only commands that need the default path pay for it

    return Path(platformdirs.user_data_dir("iop-workflow", appauthor=False)) / "iop.db"


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def make_engine(url: str, *, file_mode: int = 0o600) -> Engine:
    """An engine with the project's connection rules applied."""
    url = normalise_url(url)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseUnavailable(url=url, problem=f"not a database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, file_mode)
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=4)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(url=redact(url), problem=str(exc)) from None
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _pg_lock_timeout)
    return engine


# PostgreSQL waits for another session's lock forever by default. A write gives up after the
# same time SQLite's busy timeout allows, unless the server, database, role or URL (options=-c
# lock_timeout=...) sets a lock_timeout of its own: the operator's setting wins.
_PG_LOCK_TIMEOUT = (
    f"SELECT set_config('lock_timeout', '{BUSY_TIMEOUT_MS}', false) WHERE current_setting('lock_timeout') = '0'"
)


def _pg_lock_timeout(dbapi_conn: Any, _record: Any) -> None:
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True  # a session setting, outside any transaction
    try:
        dbapi_conn.execute(_PG_LOCK_TIMEOUT)
    finally:
        dbapi_conn.autocommit = autocommit


def _sqlite_engine(url: sa.URL, file_mode: int) -> Engine:
    database = url.database or ""
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    if database and database != ":memory:":

        @event.listens_for(engine, "do_connect")
        def _create_private(*_args: Any) -> None:
            # At the first connection (not before: `db restore` may still put a file there), a new
            # database file is made the owner's only ([files] mode); SQLite gives its WAL and
            # shared-memory files the database file's mode. An existing file keeps its mode.
            # Never open an existing database file here: closing any descriptor of it would drop
            # this process's SQLite (POSIX) locks on it, held by its other connections.
            fd = files.created(Path(database).expanduser(), os.O_WRONLY | os.O_CLOEXEC, file_mode)
            if fd is not None:
                os.close(fd)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own implicit BEGIN is deferred and comes late (before the first write, after
        # the reads). In autocommit mode each unit of work sends its own: Database.write a BEGIN
        # IMMEDIATE as its first statement, Database.read a BEGIN; commit and rollback end whatever
        # transaction is open. No hook into SQLAlchemy's dialect or connection events is needed
        # (a connection event would make it dispatch events around every statement).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    return engine


class Savepoint:
    """A SAVEPOINT in the connection's open transaction: ``commit()`` releases it, ``rollback()`` undoes to it.

    Plain SQL rather than ``Connection.begin_nested()``, which names every savepoint anew
    (``sa_savepoint_1``, ``_2``, ...) for the connection's lifetime: each is a statement to
    compile and cache again, and the sweep opens one per timer. One at a time per connection.
    """

    NAME = "iop_step"

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        conn.exec_driver_sql(f"SAVEPOINT {self.NAME}")

    def commit(self) -> None:
        self._conn.exec_driver_sql(f"RELEASE SAVEPOINT {self.NAME}")

    def rollback(self) -> None:
        if self._conn.invalidated:  # the connection was lost, its transaction with it: the caller's error says so
            return
        self._conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {self.NAME}")
        self._conn.exec_driver_sql(f"RELEASE SAVEPOINT {self.NAME}")


_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()


def _writer_lock(database: str) -> threading.RLock:
    """The process's lock for writing one SQLite file (every Database on that file shares it)."""
    key = str(Path(database).expanduser().resolve()) if database and database != ":memory:" else database
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, threading.RLock())


class Database:
    """One engine plus its units of work."""

    def __init__(self, url: str, *, file_mode: int = 0o600) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, file_mode=file_mode)
        self._immediate = self.engine.dialect.name == "sqlite"
        # SQLite has one writer at a time. Threads of this process queue for it here and are
        # woken the moment it is free; SQLite's own busy handler (for other processes) polls
        # with sleeps of up to 100 ms, which under contention leaves the file idle most of the time.
        self._writer = _writer_lock(self.engine.url.database or "") if self._immediate else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One transaction that commits on success and rolls back on any error.

        Core statements on a Connection: the hot path needs no ORM session. On SQLite it
        takes the write lock up front (BEGIN IMMEDIATE), so its reads and its version check
        see the same, latest data and it never fails late with SQLITE_BUSY_SNAPSHOT;
        readers stay deferred and never block.

        Inside a write this database already has open in the same context (the HTTP
        layer's, see ``txscope``), it joins that transaction: no second BEGIN, no commit.
        """
        if (outer := txscope.joined(self)) is not None:
            yield outer
            return
        with self._guard(), self._queue(), self.engine.connect() as conn, txscope.holding(self, conn), conn.begin():
            if self._immediate:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only unit of work; inside an open write of this database, that write (it sees its changes)."""
        if (outer := txscope.joined(self)) is not None:
            yield outer
            return
        with self._guard(), self.engine.begin() as conn:
            if self._immediate:
                conn.exec_driver_sql("BEGIN")
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[sa.Connection]:
        """A read-only unit of work that sees one consistent snapshot to its end, however long it reads
        (``iop db copy --to``): on PostgreSQL REPEATABLE READ, READ ONLY; on SQLite a read transaction is one."""
        with self._guard(), self.engine.connect() as conn, conn.begin():
            if self._immediate:
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    def _queue(self) -> Any:
        """Wait for this process's other writers of the SQLite file (no more than the busy timeout)."""
        if self._writer is None:
            return nullcontext()
        if not self._writer.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            problem = f"locked by another writer for longer than {BUSY_TIMEOUT_MS // 1000} s"
            raise DatabaseUnavailable(url=redact(self.url), problem=problem)
        return _Release(self._writer)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise DatabaseUnavailable(url=redact(self.url), problem=describe(exc)) from exc
        except ProgrammingError as exc:
            if "does not exist" not in str(exc.orig):
                raise
            problem = f"the schema is missing or out of date; run `iop init` ({describe(exc)})"
            raise DatabaseUnavailable(url=redact(self.url), problem=problem) from exc
        except DBAPIError as exc:
            # 25006: a read-only transaction (a hot standby, or a role that may only read).
            if exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) == "25006":
                raise DatabaseUnavailable(url=redact(self.url), problem=describe(exc)) from exc
            raise

    def dispose(self) -> None:
        self.engine.dispose()


class _Release:
    """Releases an already acquired lock on exit."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        self._lock.release()


# What a driver's message means, in words an officer can act on (first match wins).
_EXPLAINED: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda t: "locked" in t or "busy" in t, f"locked by another writer for longer than {BUSY_TIMEOUT_MS // 1000} s"),
    (lambda t: "lock timeout" in t, "locked by another session for longer than the lock timeout (lock_timeout)"),
    (lambda t: "readonly" in t or "read-only" in t, "the database is read-only"),
    (lambda t: "no such table" in t, "the schema is missing; run `iop init`"),
    (lambda t: "no such column" in t, "the schema is older than this version of iop; run `iop init` to upgrade it"),
    (lambda t: "disk" in t and "full" in t, "the disk is full"),
    (lambda t: "disk i/o error" in t, "the disk cannot be written: full, over a size limit or failing"),
    (
        lambda t: "unable to open database file" in t,
        "the database file cannot be opened: check its directory, permissions and disk",
    ),
)


def describe(exc: DBAPIError) -> str:
    """A one-line, human description of a driver error."""
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    lowered = text.lower()
    return next((f"{why} ({text})" for test, why in _EXPLAINED if test(lowered)), text)
