"""Capturing the statements an engine sends, and replaying them through plain ``sqlite3``.

The benchmarks' raw side: the service's own statements, in order, with their parameters
(captured by :class:`Recorder` while :func:`listening`), replayed by :func:`replay` on a copy of
the same file through one connection set up as the product's engine sets up its own
(:func:`open_raw`). :func:`fingerprint` and :func:`table_digests` then show both copies hold the
same rows, so the raw side provably did the same work.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import resource
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# A captured statement: (kind, sql, parameters); kind is one of these.
EXECUTE, EXECUTEMANY, COMMIT, ROLLBACK = "execute", "executemany", "commit", "rollback"
Entry = tuple[str, str, Any]

_TABLES = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+[\"`]?(\w+)", re.IGNORECASE)


def shape(sql: str) -> str:
    """What a statement is: 'SELECT timers+cases', 'INSERT transition_log', 'BEGIN IMMEDIATE', ..."""
    words = sql.split()
    verb = words[0].upper() if words else ""
    if verb == "BEGIN":
        return " ".join(w.upper() for w in words[:2])
    if verb in {"SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT"}:
        return verb
    return f"{verb} {'+'.join(dict.fromkeys(m.lower() for m in _TABLES.findall(sql)))}"


@dataclass(slots=True)
class Recorder:
    """The statements an engine sends, one list per transaction; each pickled to ``out`` once it ends
    (or kept in ``transactions`` when ``out`` is None).

    ``before_cursor_execute`` gives the statements SQLAlchemy sends with their parameters. sqlite3's
    trace callback on the pooled DBAPI connection sees every statement SQLite runs: the ones it
    reports beyond those (a BEGIN the dialect sends straight to the driver) are recorded as they
    are; COMMIT and ROLLBACK come from the engine's commit and rollback events instead.
    """

    out: IO[bytes] | None = None
    pending: list[Entry] = field(default_factory=list)
    transactions: list[list[Entry]] = field(default_factory=list)
    shapes: Counter[str] = field(default_factory=Counter)
    driver_s: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # in cursor.execute
    direct: Counter[str] = field(default_factory=Counter)  # statements seen only by the trace callback
    commits: int = 0
    rollbacks: int = 0
    traced_ends: int = 0  # COMMIT / ROLLBACK seen by the trace callback
    mismatches: int = 0  # statements whose executions the trace callback did not see as expected
    _expect: int = 0  # executions of the current statement the trace callback has still to report
    _started: float = 0.0

    def before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if many and parameters and not isinstance(parameters[0], (tuple, list)):
            many = False  # SQLAlchemy's "insertmanyvalues": one multi-row INSERT, run by cursor.execute
        if many:
            rows = [tuple(p) for p in parameters]
            self.pending.append((EXECUTEMANY, statement, rows))
            self._expect = len(rows)
        else:
            self.pending.append((EXECUTE, statement, tuple(parameters or ())))
            self._expect = 1
        self.shapes[shape(statement)] += 1
        self._started = time.perf_counter()

    def after(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.driver_s[shape(statement)] += time.perf_counter() - self._started
        if self._expect:
            self.mismatches += 1
            self._expect = 0

    def trace(self, sql: str) -> None:
        if sql.startswith("--"):  # a trigger program starting
            return
        if self._expect:
            self._expect -= 1
            return
        if sql.strip().upper() in {"COMMIT", "ROLLBACK"}:
            self.traced_ends += 1
            return
        self.pending.append((EXECUTE, sql, ()))
        self.shapes[shape(sql)] += 1
        self.direct[shape(sql)] += 1

    def checkout(self, dbapi_conn: Any, *_rest: Any) -> None:
        dbapi_conn.set_trace_callback(self.trace)

    def checkin(self, dbapi_conn: Any, *_rest: Any) -> None:
        if dbapi_conn is not None:
            dbapi_conn.set_trace_callback(None)

    def commit(self, _conn: Any) -> None:
        self.commits += 1
        self._end(COMMIT)

    def rollback(self, _conn: Any) -> None:
        self.rollbacks += 1
        self._end(ROLLBACK)

    def _end(self, marker: str) -> None:
        self.pending.append((marker, "", None))
        if self.out is not None:
            pickle.dump(self.pending, self.out, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            self.transactions.append(self.pending)
        self.pending = []

    @property
    def statements(self) -> int:
        return sum(self.shapes.values())

    def flat(self) -> list[Entry]:
        return [entry for txn in self.transactions for entry in txn]


@contextmanager
def listening(engine: Engine, recorder: Recorder) -> Iterator[Recorder]:
    """Record what ``engine`` sends while in the block (a connection checked out before is refused)."""
    from sqlalchemy import event

    if getattr(engine.pool, "checkedout", lambda: 0)():
        raise SystemExit("a connection is checked out: its statements would escape the trace callback")
    hooks: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", recorder.before),
        ("after_cursor_execute", recorder.after),
        ("commit", recorder.commit),
        ("rollback", recorder.rollback),
        ("checkout", recorder.checkout),
        ("checkin", recorder.checkin),
    ]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    try:
        yield recorder
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)
    if recorder.pending or recorder.mismatches or recorder.traced_ends > recorder.commits + recorder.rollbacks:
        raise SystemExit(
            f"the capture is incomplete: {len(recorder.pending)} statements after the last commit "
            f"({recorder.pending[:3]}), {recorder.mismatches} statements not traced as sent, "
            f"{recorder.traced_ends} COMMIT/ROLLBACK traced against {recorder.commits + recorder.rollbacks} events"
        )


def open_raw(path: Path, busy_ms: int) -> sqlite3.Connection:
    """A plain sqlite3 connection set up as the product's engine sets up its connections."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_ms / 1000)
    for pragma in (f"busy_timeout = {busy_ms}", "journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def replay(conn: sqlite3.Connection, entries: Iterable[Entry]) -> None:
    for kind, sql, params in entries:
        if kind == EXECUTE:
            conn.execute(sql, params).fetchall()
        elif kind == EXECUTEMANY:
            conn.executemany(sql, params)
        elif kind == COMMIT:
            conn.commit()
        else:
            conn.rollback()


def replay_sqlalchemy(conn: Connection, entries: Iterable[Entry]) -> None:
    """:func:`replay` through SQLAlchemy's cheapest public path (``Connection.exec_driver_sql``: no
    compilation, no bind or result processing beyond the driver's), on a connection of an engine
    whose DB-API connections come from :func:`open_raw`. What any service built on SQLAlchemy pays
    for the same statements before its own code runs: the stack's floor."""
    for kind, sql, params in entries:
        if kind in (EXECUTE, EXECUTEMANY):
            result = conn.exec_driver_sql(sql, params)
            if result.returns_rows:
                result.fetchall()
        elif kind == COMMIT:
            conn.commit()
        else:
            conn.rollback()


def read_stream(handle: IO[bytes]) -> Iterator[list[Entry]]:
    while True:
        try:
            yield pickle.load(handle)
        except EOFError:
            return


def fingerprint(path: Path) -> dict[str, Any]:
    """What the sweep leaves behind: the log in seq order (digest), case and timer counts."""
    conn = sqlite3.connect(path)
    try:
        digest, rows = hashlib.sha256(), 0
        for case_ref, case_seq, row_hash in conn.execute(
            "SELECT case_ref, case_seq, hash FROM transition_log ORDER BY seq"
        ):
            digest.update(f"{case_ref}\t{case_seq}\t{row_hash}\n".encode())
            rows += 1
        cases = conn.execute("SELECT state, version, count(*) FROM cases GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        timers = conn.execute(
            "SELECT state, action, due_on, fired_at IS NOT NULL, cancelled_at IS NOT NULL, count(*) FROM timers "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
        ).fetchall()
        return {
            "log_rows": rows,
            "log_digest": digest.hexdigest(),
            "cases": [list(r) for r in cases],
            "timers": [list(r) for r in timers],
        }
    finally:
        conn.close()


def max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def vm_hwm_kib() -> int | None:
    """The peak RSS of this process image (Linux /proc; None elsewhere), to cross-check ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), None)
    except OSError:
        return None


def table_digests(path: Path) -> dict[str, str]:
    """A digest of every table's rows (in rowid order): two files doing the same work agree on all."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {}
        for name in names:
            digest = hashlib.sha256()
            for row in conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid'):
                digest.update(repr(row).encode())
            out[name] = digest.hexdigest()
        return out
    finally:
        conn.close()
