"""Timer sweeps on large SQLite files: idle latency, firing throughput, peak memory (issue #4).

Run from the repository root::

    python benchmarks/sweep.py                                              # the full run (minutes)
    python benchmarks/sweep.py --cases 2000 --due 200 --idle-cases 20000    # a smoke run (seconds)
    python benchmarks/sweep.py --json --check        # figures as JSON; exit 1 when a target is missed

Figures and targets:

(a) idle: the median wall time of ``Iop.sweep_timers()`` when nothing is due, over ``--idle-cases``
    cases that each hold one open timer, and of ``Iop.tick()`` (the guideline sweep, then the timer
    sweep): under 10 ms each.
(b) firing: ``--due`` due ``fire:activate`` timers among ``--cases`` cases, swept by one
    ``Iop.sweep_timers()``. Each fire is an ``activate`` transition (signed -> active; guard
    agreement_started; one hash-chained transition_log record; the timer marked fired and the
    active state's four timers planned): at least 1,500 fired transitions per second and 0.3x raw
    sqlite3 (issue #15: one write path, each timer through ``fire_on`` in its own SAVEPOINT). The sweep
    runs in a process set up as ``iop scheduler run`` sets itself up before its first sweep
    (``scheduling.daemon.prepare``: holiday tables and audit streams loaded, start-up objects frozen
    out of the cyclic collector); a second, *cold* process sweeps a copy without that set-up, and
    its figure is printed beside the table (what a one-off ``tick`` pays).
(c) the peak memory (max RSS, getrusage) of the process that ran (b): under 200 MB (10^6 bytes).

Data. One case is made through the real API on a SQLite file with a FakeClock at 2026-01-12 09:00
Europe/Stockholm, the way tests/helpers.py ``to_signed`` makes it: three organisations, then a case
taken to ``signed`` with an agreement running 2026-02-01..2028-01-31, so its open timer is
``fire:activate`` due 2026-02-01. The case is then cloned with plain sqlite3 (one transaction,
synchronous=OFF, for the build only). A *full* clone copies the case row (new id and ref, the other
columns as they are), every row the template case has in a table with a ``case_id`` column (its
facts: found from the schema), its transition_log records re-chained for the new ref (each hash
recomputed with ``iop_workflow.audit.chain``; ``seq`` is the database's) and its open timer. A
*light* clone copies only the case row and the open timer. For (b): the template and ``--due`` - 1
full clones spread evenly among the ``--cases`` - 1 clones; the light ones have their timer moved
to 2026-06-01, and the sweep runs at 2026-02-01 09:00. For (a): the template and light clones with
the timer left at 2026-02-01, and the sweeps run at 2026-01-12 09:00, so nothing is due. The
measured runs use the product's engine settings: WAL, synchronous=FULL, BEGIN IMMEDIATE for writes.

Baseline: raw sqlite3 issuing the very statements the service issued, in order, with the same
parameters. For (b) the built file is copied three times. The capture copy is swept once in this
process with SQLAlchemy events on the engine (``before_cursor_execute``: statement, parameters,
executemany flag; ``commit``/``rollback`` as markers; BEGIN IMMEDIATE and SAVEPOINT/RELEASE are
statements; sqlite3's trace callback on the pooled connection adds what the dialect sends straight
to the driver, such as a read's BEGIN), streamed to a file one pickled transaction at a time. The
service (and cold) copy is swept by ``Iop.sweep_timers()`` with no listener, and the raw copy replayed from the
stream through one ``sqlite3.connect(path, isolation_level=None)`` with the engine's PRAGMAs, each
in a child process of its own, so each side's max RSS is its own (the raw child imports neither
SQLAlchemy nor iop_workflow; each child is started through a small launcher process, as Linux
carries a parent's RSS high-water mark into a forked and exec'd child's ru_maxrss). Afterwards all
four copies must hold the same transition_log (case_ref, case_seq, hash) in seq order and the same
case and timer counts, or the run fails: the baseline provably did the same work. For (a) the
captured idle statements are replayed on the same file in this process, alternating with the
service, ``--runs`` times each after a warm-up; the file must not change.

The raw side is only the database's share of the work: the service computed the hashes, the JSON
and the decisions whose results the replay merely sends. Ratios read "higher is better; 1.0 = as
good as raw sqlite3": service/raw for throughput, raw/service for times and for memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

# Run as a script, this file's directory comes first on sys.path, and its neighbour transitions.py
# would shadow the `transitions` state-machine package that iop_workflow imports.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from iop_workflow import Iop
    from iop_workflow.settings import Settings

# iop_workflow and SQLAlchemy are imported inside the functions that need them: the raw child
# process must not carry them in its memory.

STOCKHOLM = ZoneInfo("Europe/Stockholm")
BUILT_AT = datetime(2026, 1, 12, 9, tzinfo=STOCKHOLM)  # the template is made here; (a) sweeps here
FIRE_AT = datetime(2026, 2, 1, 9, tzinfo=STOCKHOLM)  # the agreement starts: (b) sweeps here
LATER_DUE = "2026-06-01"  # the open timer of (b)'s light clones
IDLE_TARGET_MS = 10.0
FIRE_TARGET_PER_S = 1500.0  # issue #15: the single write path, >= 1,500 fired/s ...
FIRE_TARGET_RATIO = 0.3  # ... and >= 0.3x raw sqlite3 sending the same statements
RSS_TARGET_MB = 200.0
OFFICER = "anna"
ORG = "802479-1322"
ORGS: tuple[dict[str, Any], ...] = (
    {"name": "Kvinnojouren i Stenungsund", "org_number": ORG, "legal_form": "ideell_forening",
     "protected": True, "address": "Hemlig adress 1"},
    {"name": "Vinst & Co AB", "org_number": "556036-0793", "legal_form": "aktiebolag", "non_profit": False},
    {"name": "Hela Människan Jönköping", "org_number": "802014-5671", "legal_form": "trossamfund"},
)  # fmt: skip
ACTORS = {"anna": {"officer", "registrar"}, "eva": {"signatory"}, "lars": {"legal"}, "kim": {"coordinator"},
          "system": {"system"}}

# A captured statement: (kind, sql, parameters); kind is one of these.
EXECUTE, EXECUTEMANY, COMMIT, ROLLBACK = "execute", "executemany", "commit", "rollback"
Entry = tuple[str, str, Any]


# --------------------------------------------------------------------------- the template case


def settings() -> Settings:
    from iop_workflow.settings import Settings

    return replace(Settings(), actors={name: frozenset(roles) for name, roles in ACTORS.items()})


def connect(path: Path, at: datetime) -> Iop:
    from iop_workflow import FakeClock, Iop

    return Iop.connect(f"sqlite:///{path}", clock=FakeClock(at), settings=settings(), audit_log=False)


def make_template(path: Path) -> str:
    """A fresh database holding one signed case (tests/helpers.py ``to_signed``), through the API."""
    iop = connect(path, BUILT_AT)
    try:
        iop.init()
        for org in ORGS:
            iop.add_organisation(actor=OFFICER, **org)
        ref = iop.open_case(org_number=ORG, municipality="Stenungsund", title="Skyddat boende",
                            challenge="Våldsutsatta kvinnor behöver skydd och stöd", actor=OFFICER)  # fmt: skip
        today = iop.app.clock.today()
        iop.fire(ref, "start_dialogue", actor=OFFICER)
        iop.record_meeting(ref, actor=OFFICER, held_on=today, joint_challenge="Skydd och stöd")
        iop.fire(ref, "submit_for_assessment", actor=OFFICER)
        guideline = iop.case(ref)["guideline"]["ref"]
        if iop.guideline(guideline).unverified():  # signing needs the guideline's decision confirmed
            iop.confirm_guideline(guideline, actor="kim", decided_on="2019-05-20", decided_by="Kommunstyrelsen",
                                  minutes_ref="KS § 88/2019 (benchmark)")  # fmt: skip
        for criterion in iop.guideline(guideline).gating():
            iop.assess(ref, criterion.code, "met", note="Bedömt i dialogen", actor=OFFICER)
        iop.record_legal_check(ref, actor="lars", competence=True, procurement_not_required=True,
                               no_competition_distortion=True, state_aid_basis="non_economic",
                               rationale="Icke-ekonomisk verksamhet av allmänt intresse")  # fmt: skip
        iop.record_agreement(ref, actor=OFFICER, start_on="2026-02-01", end_on="2028-01-31", notice_months=3)
        iop.record_contribution(ref, actor=OFFICER, party="municipality", kind="money", amount="340000", unit="SEK")
        iop.record_contribution(ref, actor=OFFICER, party="organisation", kind="volunteer_hours", amount="2000",
                                unit="h")  # fmt: skip
        iop.record_decision(ref, actor="eva", body="Socialnämnden", decided_on=today, minutes_ref="SN § 12/2026")
        iop.fire(ref, "sign", actor="eva")
    finally:
        iop.close()
    return ref


# --------------------------------------------------------------------------- cloning


@dataclass(slots=True)
class Template:
    """The template case's rows, as stored."""

    case: dict[str, Any]
    timer: dict[str, Any]  # its one open timer
    facts: dict[str, list[dict[str, Any]]]  # table -> its rows there (tables with a case_id column)
    log: list[dict[str, Any]]  # its transition_log records, in case_seq order


def case_tables(conn: sqlite3.Connection) -> list[str]:
    """Every table with a ``case_id`` column, from the schema."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return [t for t in names if any(col[1] == "case_id" for col in conn.execute(f'PRAGMA table_info("{t}")'))]


def read_template(conn: sqlite3.Connection) -> Template:
    conn.row_factory = sqlite3.Row
    try:
        (case,) = conn.execute("SELECT * FROM cases").fetchall()
        timers = conn.execute(
            "SELECT * FROM timers WHERE case_id = ? AND fired_at IS NULL AND cancelled_at IS NULL", (case["id"],)
        ).fetchall()
        if case["state"] != "signed" or len(timers) != 1 or timers[0]["action"] != "fire:activate":
            raise SystemExit("the template is not a signed case with one open fire:activate timer")
        facts = {}
        for table in case_tables(conn):
            rows = conn.execute(f'SELECT * FROM "{table}" WHERE case_id = ? ORDER BY id', (case["id"],)).fetchall()
            if rows and table != "timers":
                facts[table] = [dict(r) for r in rows]
        log = conn.execute("SELECT * FROM transition_log WHERE case_ref = ? ORDER BY case_seq", (case["ref"],))
        return Template(case=dict(case), timer=dict(timers[0]), facts=facts, log=[dict(r) for r in log])
    finally:
        conn.row_factory = None


def insert_sql(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


def spread(k: int, n: int, m: int) -> bool:
    """Whether index ``k`` of ``n`` is one of ``m`` spread evenly over them."""
    return (k + 1) * m // n != k * m // n


@dataclass(frozen=True, slots=True)
class Clone:
    id: int
    ref: str
    full: bool


def rechained(log: list[dict[str, Any]], refs: Iterable[str], first_seq: int) -> Iterator[tuple[Any, ...]]:
    """The template's records for each ref in turn: same content, chained anew, numbered from ``first_seq``."""
    from iop_workflow.audit.chain import GENESIS, record_from_row, seal

    records = [record_from_row(row) for row in log]
    broken = [r.case_seq for r in records if r.compute_hash() != r.hash]
    if broken or records[0].prev_hash != GENESIS:
        raise SystemExit(f"the template's chain does not verify (records {broken})")
    columns = list(log[0])
    seq = first_seq
    for ref in refs:
        prev = GENESIS
        for record, row in zip(records, log, strict=True):
            sealed = seal(replace(record, case_ref=ref, prev_hash=prev))
            out = {**row, "seq": seq, "case_ref": ref, "prev_hash": prev, "hash": sealed.hash}
            yield tuple(out[c] for c in columns)
            prev, seq = sealed.hash, seq + 1


def fact_rows(
    t: Template, rows: list[dict[str, Any]], columns: Sequence[str], full: Iterable[Clone], first_seq: int
) -> Iterator[tuple[Any, ...]]:
    """The template's rows of one fact table for each full clone, each bound (``log_seq``) to its clone's record.

    The k-th full clone's records are numbered ``first_seq + k * len(t.log)`` onwards (``rechained``).
    """
    position = {row["seq"]: i for i, row in enumerate(t.log)}
    for k, c in enumerate(full):
        for row in rows:
            seq = row.get("log_seq")
            bound = None if seq is None else first_seq + k * len(t.log) + position[seq]
            yield tuple({**row, "case_id": c.id, "log_seq": bound}[col] for col in columns)


def clone(path: Path, *, total: int, full: int, later_due: str | None) -> dict[str, Any]:
    """Grow the template's file to ``total`` cases, ``full`` of them (the template too) with history.

    The light clones' open timer is moved to ``later_due`` (None: left as the template's).
    """
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = MEMORY", "synchronous = OFF", "cache_size = -262144", "foreign_keys = OFF"):
        conn.execute(f"PRAGMA {pragma}")
    t = read_template(conn)
    year, last = conn.execute("SELECT year, last FROM case_ref_counters").fetchone()
    first_id = conn.execute("SELECT max(id) FROM cases").fetchone()[0] + 1
    make_ref = settings().case_ref

    def clones(*, full_only: bool = False) -> Iterator[Clone]:
        for k in range(total - 1):
            is_full = spread(k, total - 1, full - 1)
            if is_full or not full_only:
                yield Clone(id=first_id + k, ref=make_ref(year, last + 1 + k), full=is_full)

    def cases() -> Iterator[tuple[Any, ...]]:
        for c in clones():
            yield tuple({**t.case, "id": c.id, "ref": c.ref}.values())

    timer_columns = [k for k in t.timer if k != "id"]

    def timers() -> Iterator[tuple[Any, ...]]:
        for c in clones():
            due = t.timer["due_on"] if c.full or later_due is None else later_due
            row = {**t.timer, "case_id": c.id, "due_on": due}
            yield tuple(row[k] for k in timer_columns)

    first_seq = conn.execute("SELECT max(seq) FROM transition_log").fetchone()[0] + 1
    conn.execute("BEGIN")
    conn.executemany(insert_sql("cases", list(t.case)), cases())
    conn.executemany(insert_sql("timers", timer_columns), timers())
    for table, rows in t.facts.items():
        columns = [k for k in rows[0] if k != "id"]
        conn.executemany(insert_sql(table, columns), fact_rows(t, rows, columns, clones(full_only=True), first_seq))
    refs = (c.ref for c in clones(full_only=True))
    conn.executemany(insert_sql("transition_log", list(t.log[0])), rechained(t.log, refs, first_seq))
    conn.execute("UPDATE case_ref_counters SET last = ? WHERE year = ?", (last + total - 1, year))
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    fact_counts = {k: len(v) for k, v in t.facts.items()}
    return {
        "clones": total - 1,
        "full_clones": full - 1,
        "full_clone_rows": {"cases": 1, "timers": 1, **fact_counts, "transition_log": len(t.log)},
        "light_clone_rows": {"cases": 1, "timers": 1},
        "timer": {k: t.timer[k] for k in ("kind", "state", "due_on", "action")},
        "light_timer_due_on": later_due or t.timer["due_on"],
    }


def build(path: Path, *, total: int, full: int, later_due: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    make_template(path)
    made = time.perf_counter()
    stats = clone(path, total=total, full=full, later_due=later_due)
    done = time.perf_counter()
    if Path(f"{path}-wal").exists():
        raise SystemExit(f"{path} still has a WAL file after the build")
    return {
        "cases": total,
        "template_s": round(made - started, 3),
        "clone_s": round(done - made, 3),
        "total_s": round(done - started, 3),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        **stats,
    }


# --------------------------------------------------------------------------- statements


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
        for case_ref, case_seq, row_hash in conn.execute("SELECT case_ref, case_seq, hash FROM transition_log "
                                                         "ORDER BY seq"):  # fmt: skip
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


# --------------------------------------------------------------------------- the child processes


def child_service(db: Path, *, cold: bool = False) -> dict[str, Any]:
    """(b) through the service: one ``Iop.sweep_timers()``, no listener.

    The process is first set up the way ``iop scheduler run`` sets itself up before its first
    sweep (``daemon.prepare``: the holiday tables and the audit streams loaded, start-up objects
    frozen out of the collector), unless ``cold``: then the sweep pays for those itself.
    """
    iop = connect(db, FIRE_AT)
    with iop.app.db.engine.connect():  # open the pooled connection (and its PRAGMAs) before the clock runs
        pass
    prepare_s = 0.0
    if not cold:
        from iop_workflow.scheduling.daemon import prepare

        started = time.perf_counter()
        prepare(iop.app)
        prepare_s = time.perf_counter() - started
    before = max_rss_kib()
    started = time.perf_counter()
    report = iop.sweep_timers()
    seconds = time.perf_counter() - started
    iop.close()
    counts = {k: report[k] for k in ("due", "fired", "skipped", "alerts", "refused", "failed")}
    return {"seconds": seconds, "prepare_s": prepare_s, "max_rss_kib": max_rss_kib(), "vm_hwm_kib": vm_hwm_kib(),
            "rss_before_kib": before, **counts}  # fmt: skip


def child_raw(db: Path, stream: Path, busy_ms: int) -> dict[str, Any]:
    """(b) through raw sqlite3: replay the captured stream, one transaction in memory at a time."""
    conn = open_raw(db, busy_ms)
    before = max_rss_kib()
    seconds, statements, transactions = 0.0, 0, 0
    with stream.open("rb") as handle:
        for txn in read_stream(handle):  # unpickling is outside the timed part
            started = time.perf_counter()
            replay(conn, txn)
            seconds += time.perf_counter() - started
            statements += len(txn) - 1
            transactions += 1
    conn.close()
    return {"seconds": seconds, "max_rss_kib": max_rss_kib(), "vm_hwm_kib": vm_hwm_kib(), "rss_before_kib": before,
            "statements": statements, "transactions": transactions}  # fmt: skip


# Linux carries a process's RSS high-water mark across fork and exec into ru_maxrss, so a child
# started from this (large) process would report this process's size. Each child is therefore
# started by a small launcher process, whose own small peak is all that the child inherits.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def run_child(*args: str) -> dict[str, Any]:
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, "-S", "-c", LAUNCHER, sys.executable, script, "--child", *args]
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------- (a) idle


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def check_idle(name: str, report: dict[str, Any], recorder: Recorder) -> list[str]:
    """The captured idle run: nothing due, nothing written, only reads."""
    writes = sorted(s for s in recorder.shapes if not (s == "BEGIN" or s.startswith("SELECT")))
    if report["due"] or report.get("fired") or writes:
        raise SystemExit(f"the idle {name}() was not idle: due {report['due']}, statements {writes}")
    return [f"{n} x {s}" for s, n in recorder.shapes.items()]


def idle_figures(path: Path, runs: int, busy_ms: int) -> dict[str, Any]:
    """(a): the service's idle sweep_timers() and tick() against their statements replayed raw."""
    iop = connect(path, BUILT_AT)
    try:
        warm = iop.tick()  # the first tick flags a shipped guideline that expired in 2023: a one-time write
        iop.sweep_timers()
        calls: dict[str, Callable[[], dict[str, Any]]] = {"sweep_timers": iop.sweep_timers, "tick": iop.tick}
        streams: dict[str, list[Entry]] = {}
        statements: dict[str, list[str]] = {}
        for name, call in calls.items():
            with listening(iop.app.db.engine, Recorder()) as recorder:
                report = call()
            statements[name] = check_idle(name, report, recorder)
            streams[name] = recorder.flat()
        before = fingerprint(path)
        raw = open_raw(path, busy_ms)
        for stream in streams.values():
            replay(raw, stream)
        times: dict[str, dict[str, list[float]]] = {name: {"service": [], "raw": []} for name in calls}
        for i in range(runs):
            for name, call in calls.items():

                def replayed(stream: list[Entry] = streams[name]) -> None:
                    replay(raw, stream)

                order: list[tuple[str, Callable[[], object]]] = [("service", call), ("raw", replayed)]
                for side, fn in order if i % 2 == 0 else reversed(order):
                    times[name][side].append(timed(fn))
        raw.close()
        if fingerprint(path) != before:
            raise SystemExit("the idle sweeps changed the database")
    finally:
        iop.close()
    out: dict[str, Any] = {"runs": runs, "warm_up_tick": {k: v for k, v in warm.items() if k != "sweeps"}}
    for name, by_side in times.items():
        service_ms, raw_ms = (statistics.median(by_side[s]) * 1000 for s in ("service", "raw"))
        out[name] = {
            "service_ms": round(service_ms, 4),
            "raw_ms": round(raw_ms, 4),
            "ratio": round(raw_ms / service_ms, 3),
            "service_ms_min_max": [round(min(by_side["service"]) * 1000, 4), round(max(by_side["service"]) * 1000, 4)],
            "raw_ms_min_max": [round(min(by_side["raw"]) * 1000, 4), round(max(by_side["raw"]) * 1000, 4)],
            "statements": statements[name],
        }
    return out


# --------------------------------------------------------------------------- (b) and (c)


def capture_fire(path: Path, stream: Path) -> dict[str, Any]:
    """Sweep the capture copy with the listener on; the statements go to ``stream``."""
    iop = connect(path, FIRE_AT)
    try:
        with stream.open("wb") as out, listening(iop.app.db.engine, Recorder(out)) as recorder:
            started = time.perf_counter()
            report = iop.sweep_timers()
            wall = time.perf_counter() - started
    finally:
        iop.close()
    fired = report["fired"] or 1
    top = sorted(recorder.shapes, key=lambda s: -recorder.driver_s[s])
    return {
        "fired": report["fired"],
        "wall_s_with_listener": round(wall, 3),
        "statements": recorder.statements,
        "statements_per_fired": round(recorder.statements / fired, 2),
        "commits": recorder.commits,
        "rollbacks": recorder.rollbacks,
        "driver_s": round(sum(recorder.driver_s.values()), 3),
        "direct": dict(recorder.direct),
        "by_shape": [
            {
                "shape": s,
                "count": recorder.shapes[s],
                "per_fired": round(recorder.shapes[s] / fired, 3),
                "driver_s": round(recorder.driver_s[s], 3),
            }
            for s in top
        ],
        "stream_mb": round(stream.stat().st_size / 1e6, 1),
    }


def fire_figures(workdir: Path, cases: int, due: int, busy_ms: int) -> dict[str, Any]:
    built = workdir / "fire-built.db"
    build_info = build(built, total=cases, full=due, later_due=LATER_DUE)
    copies = {side: workdir / f"fire-{side}.db" for side in ("capture", "service", "raw", "cold")}
    for path in copies.values():
        shutil.copyfile(built, path)
    before = fingerprint(built)
    stream = workdir / "fire-statements.pickle"
    capture = capture_fire(copies["capture"], stream)
    service = run_child("service", "--db", str(copies["service"]))
    cold = run_child("service", "--db", str(copies["cold"]), "--cold")
    raw = run_child("raw", "--db", str(copies["raw"]), "--stream", str(stream), "--busy-ms", str(busy_ms))
    after = {side: fingerprint(path) for side, path in copies.items()}
    if any(after[side] != after["service"] for side in after):
        differ = [k for k in after["service"] if any(after[side][k] != after["service"][k] for side in after)]
        raise SystemExit(f"the service, cold, raw and capture copies differ after the sweep in {differ}")
    for side in (service, cold):
        if side["fired"] != due or side["failed"] or side["refused"]:
            raise SystemExit(f"expected {due} fired timers: service {side}")
    if capture["fired"] != due:
        raise SystemExit(f"expected {due} fired timers: capture fired {capture['fired']}")
    service["per_s"] = service["fired"] / service["seconds"]
    cold["per_s"] = cold["fired"] / cold["seconds"]
    raw["per_s"] = service["fired"] / raw["seconds"]
    return {
        "build": build_info,
        "service": service,
        "cold": cold,
        "raw": raw,
        "capture": capture,
        "same_work": True,
        "log_rows_added": after["service"]["log_rows"] - before["log_rows"],
        "after": {k: v for k, v in after["service"].items() if k != "log_digest"},
    }


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    service: str
    raw: str
    ratio: float
    target: str
    met: bool


def rows_of(result: dict[str, Any]) -> list[Row]:
    rows = []
    idle = result.get("idle")
    if idle is not None:
        for name in ("sweep_timers", "tick"):
            f = idle[name]
            rows.append(Row(f"(a) idle {name}(), {idle['build']['cases']:,} cases", f"{f['service_ms']:.3f} ms",
                            f"{f['raw_ms']:.3f} ms", f["ratio"], f"< {IDLE_TARGET_MS:g} ms",
                            f["service_ms"] < IDLE_TARGET_MS))  # fmt: skip
    fire = result["fire"]
    s, r = fire["service"], fire["raw"]
    label = f"(b) fire {s['fired']:,} due of {fire['build']['cases']:,} cases"
    ratio = s["per_s"] / r["per_s"]
    rows.append(Row(label, f"{s['per_s']:,.0f} /s", f"{r['per_s']:,.0f} /s", ratio,
                    f">= {FIRE_TARGET_PER_S:,.0f} /s, {FIRE_TARGET_RATIO:g}x",
                    s["per_s"] >= FIRE_TARGET_PER_S and ratio >= FIRE_TARGET_RATIO))  # fmt: skip
    s_mb, r_mb = s["max_rss_kib"] * 1024 / 1e6, r["max_rss_kib"] * 1024 / 1e6
    rows.append(Row("(c) max RSS of (b)", f"{s_mb:.1f} MB", f"{r_mb:.1f} MB", r_mb / s_mb,
                    f"< {RSS_TARGET_MB:g} MB", s_mb < RSS_TARGET_MB))  # fmt: skip
    return rows


def mb(kib: int | None) -> str:
    return "?" if kib is None else f"{kib * 1024 / 1e6:.1f} MB"


def print_build(name: str, b: dict[str, Any]) -> None:
    print(f"build {name}: {b['cases']:,} cases ({b['full_clones']:,} full clones, the rest light) in "
          f"{b['total_s']:.1f} s (template through the API {b['template_s']:.1f} s, raw clone {b['clone_s']:.1f} s), "
          f"{b['file_mb']:,.0f} MB")  # fmt: skip


def source() -> dict[str, Any]:
    """The commit measured, and whether iop_workflow/ differed from it (read-only git calls)."""
    root, env = _HERE.parent, {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, env=env, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "iop_workflow"], cwd=root, env=env,
                               capture_output=True, check=False).returncode != 0  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "iop_workflow_modified": None}
    return {"commit": head, "iop_workflow_modified": dirty}


def report(result: dict[str, Any]) -> None:
    src = result["source"]
    modified = " with iop_workflow/ modified in the work tree" if src["iop_workflow_modified"] else ""
    print(f"Timer sweeps on SQLite {result['sqlite_version']} files (WAL, synchronous=FULL) in {result['directory']}")
    print(f"source: commit {src['commit']}{modified}; Python {result['python']}")
    print(f"load average before: {result['load_before']}, after: {result['load_after']}")
    fire = result["fire"]["build"]
    print(f"full clone = {fire['full_clone_rows']}; light clone = cases + timers rows only")
    if "idle" in result:
        print_build("(a)", result["idle"]["build"])
    print_build("(b)", fire)
    print()
    print(f"{'figure':44}{'service':>14}{'raw sqlite3':>14}{'ratio':>9}   {'target':24}met?")
    for row in rows_of(result):
        print(f"{row.figure:44}{row.service:>14}{row.raw:>14}{row.ratio:8.3f}x   {row.target:24}"
              f"{'yes' if row.met else 'NO'}")  # fmt: skip
    print("ratio: higher is better, 1.0 = as good as raw sqlite3 (service/raw for /s, raw/service for ms and MB)")
    print()
    if "idle" in result:
        idle = result["idle"]
        for name in ("sweep_timers", "tick"):
            f = idle[name]
            print(f"(a) {name}(): median of {idle['runs']} (min..max service {f['service_ms_min_max'][0]:.3f}.."
                  f"{f['service_ms_min_max'][1]:.3f} ms, raw {f['raw_ms_min_max'][0]:.3f}.."
                  f"{f['raw_ms_min_max'][1]:.3f} ms); statements: {', '.join(f['statements'])}")  # fmt: skip
    s, r, c = result["fire"]["service"], result["fire"]["raw"], result["fire"]["capture"]
    print(
        f"(b) service {s['seconds']:.2f} s for {s['fired']:,} fired (after daemon.prepare, {s['prepare_s']:.2f} s); "
        f"raw {r['seconds']:.2f} s for {r['statements']:,} statements in {r['transactions']} transactions"
    )
    cold = result["fire"]["cold"]
    print(f"(b) cold, the first sweep of a fresh process without daemon.prepare (as a one-off `iop scheduler tick` "
          f"through the library): {cold['seconds']:.2f} s, {cold['per_s']:,.0f} /s")  # fmt: skip
    print(f"(c) max RSS before the sweep (imports, connection): service {mb(s['rss_before_kib'])}, raw "
          f"{mb(r['rss_before_kib'])}; /proc VmHWM at the end: service {mb(s['vm_hwm_kib'])}, "
          f"raw {mb(r['vm_hwm_kib'])}")  # fmt: skip
    print(f"same work: service, cold, raw and capture copies hold identical transition_log (case_ref, case_seq, hash) "
          f"and case/timer counts: {'yes' if result['fire']['same_work'] else 'NO'} "
          f"(+{result['fire']['log_rows_added']:,} log rows)")  # fmt: skip
    print(f"capture (listener on, {c['wall_s_with_listener']:.2f} s): {c['statements']:,} statements, "
          f"{c['statements_per_fired']} per fired timer, {c['commits']} commits, {c['rollbacks']} rollbacks; "
          f"{c['driver_s']:.2f} s inside cursor.execute; straight to the driver: {c['direct'] or 'none'}")  # fmt: skip
    for item in c["by_shape"]:
        print(f"    {item['count']:>9,}  {item['per_fired']:7.3f}/fired  {item['driver_s']:7.3f} s  {item['shape']}")


# --------------------------------------------------------------------------- main


def child_main(args: argparse.Namespace) -> int:
    if args.child == "service":
        out = child_service(args.db, cold=args.cold)
    else:
        out = child_raw(args.db, args.stream, args.busy_ms)
    print(json.dumps(out))
    return 0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--cases", type=int, default=100_000, help="cases in (b)'s file (default 100000)")
    p.add_argument("--due", type=int, default=10_000, help="due timers among them (default 10000)")
    p.add_argument("--idle-cases", type=int, default=1_000_000, help="cases in (a)'s file (default 1000000)")
    p.add_argument("--runs", type=int, default=30, help="timed idle runs per side and call (default 30)")
    p.add_argument("--skip-idle", action="store_true", help="leave out (a) and its file")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR", help="build the files in DIR and keep them")
    p.add_argument("--dir", type=Path, default=None, help="where the temporary directory goes (default: temp dir)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--child", choices=("service", "raw"), help=argparse.SUPPRESS)
    p.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--stream", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--busy-ms", type=int, default=10_000, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is None and not (1 <= args.due <= args.cases and args.idle_cases >= 1 and args.runs >= 1):
        p.error("need 1 <= --due <= --cases, --idle-cases >= 1 and --runs >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.child is not None:
        return child_main(args)
    from iop_workflow.store.engine import BUSY_TIMEOUT_MS

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        if any(args.keep.glob("*.db")):
            raise SystemExit(f"{args.keep} already holds .db files")
        workdir = args.keep
    else:
        if args.dir is not None:
            args.dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="iop-sweep-bench-", dir=args.dir))
    result: dict[str, Any] = {
        "sqlite_version": sqlite3.sqlite_version,
        "python": platform.python_version(),
        "source": source(),
        "directory": str(workdir),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        if not args.skip_idle:
            idle_db = workdir / "idle.db"
            idle_build = build(idle_db, total=args.idle_cases, full=1, later_due=None)
            result["idle"] = {"build": idle_build, **idle_figures(idle_db, args.runs, BUSY_TIMEOUT_MS)}
            if args.keep is None:
                idle_db.unlink()
        result["fire"] = fire_figures(workdir, args.cases, args.due, BUSY_TIMEOUT_MS)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    rows = rows_of(result)
    result["table"] = [
        {"figure": r.figure, "service": r.service, "raw": r.raw, "ratio": round(r.ratio, 4), "target": r.target,
         "met": r.met}
        for r in rows
    ]  # fmt: skip
    result["pass"] = all(r.met for r in rows)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        report(result)
    return 1 if args.check and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
