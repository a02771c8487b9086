"""Durable transitions per second through ``Iop.fire()``, next to raw ``sqlite3`` doing the same.

Run from the repository root::

    python benchmarks/transitions.py                 # 300 cases, 3 rounds
    python benchmarks/transitions.py --show-sql      # also list the statements one fire() issues
    python benchmarks/transitions.py --json --check  # numbers as JSON; exit 1 below the target

Workload: N freshly opened cases (state initiative) each get ``start_dialogue`` (-> dialogue;
guards org_eligible and initiative_from_org; plans an idle timer), then ``decline`` with a reason
(-> ended; cancels the timer): 2N transitions per round and side, each its own durable commit on
a SQLite file in WAL mode with synchronous=FULL.

The baseline works on a second file built by the same ``Iop.init()`` and set-up, through one
plain ``sqlite3`` connection with the same PRAGMAs. Per transition it replays the statements the
service issued in a warm-up ``fire()`` (captured with SQLAlchemy's ``before_cursor_execute``), in
the same order, as hand-written SQL with its own parameters: ``BEGIN IMMEDIATE``, the same reads,
the version-checked update, the hash-chained log insert (canonical JSON and SHA-256 computed in
Python), the timer writes, ``COMMIT``. Afterwards both files must hold identical ``cases``,
``transition_log`` (hashes included) and ``timers`` rows, so the baseline provably did the same
work.

Disk latency on shared machines drifts by several times within seconds, so the two sides
alternate in blocks of ``--block`` transitions (each side timing only its own calls) inside each of
``--runs`` rounds; the reported figures are the medians over the rounds, and the ratio is the
median of the rounds' service/raw ratios.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# Run as a script, this file's directory comes first on sys.path, and this file, being named
# transitions.py, would shadow the `transitions` state-machine package that iop_workflow imports.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from sqlalchemy import event  # noqa: E402

from iop_workflow import FakeClock, Iop  # noqa: E402
from iop_workflow.domain.definition import WorkflowDefinition  # noqa: E402
from iop_workflow.domain.values import IDEA_BASED_FORMS  # noqa: E402
from iop_workflow.settings import Settings  # noqa: E402
from iop_workflow.store.engine import BUSY_TIMEOUT_MS  # noqa: E402

TARGET = 0.5
START = datetime(2026, 1, 12, 9, tzinfo=ZoneInfo("Europe/Stockholm"))
ACTOR = "anna"
ROLES = frozenset({"officer"})
ORG = {
    "name": "Kvinnojouren i Stenungsund",
    "org_number": "802479-1322",
    "legal_form": "ideell_forening",
    "protected": True,
    "address": "Hemlig",
}
MUNICIPALITY = "Stenungsund"
WORKLOAD: tuple[tuple[str, str | None], ...] = (
    ("start_dialogue", None),
    ("decline", "Ingen gemensam samhällsutmaning"),
)
WORKLOAD_TEXT = "fresh cases: start_dialogue (initiative -> dialogue), then decline with a reason (dialogue -> ended)"
SCRATCH_CASES = 2  # warm-up: the first fills caches, the second is captured
COMPARED_TABLES = ("cases", "transition_log", "timers")

Fire = Callable[[str, str, str | None], object]


# --------------------------------------------------------------------------- set-up


def settings() -> Settings:
    return replace(Settings(), actors={ACTOR: ROLES, "system": frozenset({"system"})})


def connect(path: Path) -> Iop:
    url = f"sqlite:///{path}"
    return Iop.connect(url, clock=FakeClock(START), settings=settings(), audit_log=False)


def prepare(path: Path, cases: int) -> tuple[Iop, list[str]]:
    """A fresh database with one organisation and ``cases`` cases in ``initiative`` (not timed)."""
    iop = connect(path)
    iop.init()
    iop.add_organisation(actor=ACTOR, **ORG)
    refs = [
        iop.open_case(
            org_number=ORG["org_number"],
            municipality=MUNICIPALITY,
            title=f"Skyddat boende {i}",
            challenge="Våldsutsatta kvinnor behöver skyddat boende",
            actor=ACTOR,
        )
        for i in range(cases)
    ]
    return iop, refs


# --------------------------------------------------------------------------- statements

_CONTROL = re.compile(r"^\s*(BEGIN(?:\s+IMMEDIATE)?|COMMIT|ROLLBACK)\b", re.IGNORECASE)
_TABLES = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+[\"`]?(\w+)", re.IGNORECASE)


def shape(sql: str) -> str:
    """What a statement does to which tables: 'SELECT cases', 'INSERT transition_log', 'COMMIT'."""
    control = _CONTROL.match(sql)
    if control:
        return " ".join(control.group(1).upper().split())
    verb = sql.split(None, 1)[0].upper()
    tables = dict.fromkeys(t.lower() for t in _TABLES.findall(sql))
    return f"{verb} {'+'.join(tables)}"


def one_line(sql: str, width: int = 160) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def split_transactions(statements: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for sql in statements:
        if not out or shape(sql).startswith("BEGIN"):
            out.append([])
        out[-1].append(sql)
    return out


class Seen(list[str]):
    """Statements in order, and beside them (``parameters``) what each was sent with (COMMIT: None)."""

    def __init__(self) -> None:
        super().__init__()
        self.parameters: list[Any] = []


@contextmanager
def capture_service(iop: Iop) -> Iterator[Seen]:
    """Every statement the service's engine sends, plus the COMMIT the DBAPI connection issues."""
    seen = Seen()

    def on_execute(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append(statement)
        seen.parameters.append(parameters)

    def on_commit(_conn: Any) -> None:
        seen.append("COMMIT")
        seen.parameters.append(None)

    engine = iop.app.db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


@contextmanager
def capture_raw(conn: sqlite3.Connection) -> Iterator[list[str]]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


# --------------------------------------------------------------------------- the baseline


@dataclass(frozen=True, slots=True)
class RawRule:
    """What the baseline knows of one transition (taken from the shipped definition)."""

    sources: frozenset[str]
    dest: str
    roles: frozenset[str]
    end_reason: str | None
    needs_reason: bool
    org_guards: bool
    idle_timer: tuple[str, str] | None  # (kind, action) of the destination's idle timer


def raw_rules(d: WorkflowDefinition) -> dict[str, RawRule]:
    rules = {}
    for trigger, _reason in WORKLOAD:
        (spec,) = {t for t in d.transitions if t.trigger == trigger}
        timers = d.state(spec.dest).timers
        if (
            set(spec.guards) - {"org_eligible", "initiative_from_org"}
            or spec.effects
            or any(t.anchor != "idle_deadline" or t.working_day for t in timers)
        ):
            raise SystemExit(f"'{trigger}' changed in the definition; update RawWorkflow")
        rules[trigger] = RawRule(
            sources=frozenset(spec.sources),
            dest=spec.dest,
            roles=spec.roles,
            end_reason=spec.end_reason,
            needs_reason="reason" in spec.inputs,
            org_guards=bool(spec.guards),
            idle_timer=(timers[0].kind, timers[0].action) if timers else None,
        )
    return rules


FACT_TABLES = (
    "contributions",
    "meetings",
    "assessments",
    "legal_checks",
    "agreements",
    "decisions",
    "reviews",
)
SQL_CASE = "SELECT * FROM cases WHERE ref = ?"
SQL_ORG = "SELECT * FROM organisations WHERE id = ?"
SQL_GUIDELINES = "SELECT * FROM guidelines WHERE municipality = ?"
SQL_FACTS = {t: f"SELECT * FROM {t} WHERE case_id = ? ORDER BY id" for t in FACT_TABLES}
SQL_UPDATE_CASE = (
    "UPDATE cases SET state = ?, end_reason = ?, version = ?, state_entered_on = ?, "
    "updated_at = ? WHERE id = ? AND version = ?"
)
SQL_HEAD = "SELECT case_seq, hash FROM transition_log WHERE case_ref = ? ORDER BY case_seq DESC LIMIT 1"
SQL_INSERT_LOG = (
    'INSERT INTO transition_log (case_ref, case_seq, at, actor, os_user, roles, source, "trigger", '
    "from_state, to_state, reason, data, guideline_ref, workflow_version, prev_hash, auth, record_format, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq"
)
RECORD_FORMAT = 2  # iop_workflow.audit.chain.FORMAT_AUTH: the product's records carry ``auth``
SQL_CANCEL_TIMERS = "UPDATE timers SET cancelled_at = ? WHERE case_id = ? AND fired_at IS NULL AND cancelled_at IS NULL"
SQL_INSERT_TIMER = "INSERT INTO timers (case_id, kind, state, due_on, action, planned_at) VALUES (?, ?, ?, ?, ?, ?)"
GENESIS = "0" * 64
LOG_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # the log's fixed-width UTC time (service.changes.utc_iso)
DB_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite
ELIGIBLE_FORMS = frozenset(f.value for f in IDEA_BASED_FORMS)


@dataclass(slots=True)
class Txn:
    """What one raw transition has read and decided so far."""

    ref: str
    trigger: str
    reason: str | None
    rule: RawRule
    case: sqlite3.Row | None = None
    org: sqlite3.Row | None = None
    facts: list[list[sqlite3.Row]] = field(default_factory=list)
    head: tuple[int, str] | None = None
    now: datetime | None = None
    stamp: str = ""
    seq: int = 0


Step = Callable[[sqlite3.Connection, Txn], None]


class RawWorkflow:
    """``fire()`` as a careful engineer would write it on the standard library's ``sqlite3``.

    Each transition runs, in order, one hand-written statement per statement the service
    issued for that trigger (``plans``: shapes captured from a warm-up ``fire()``).
    """

    def __init__(
        self,
        path: Path,
        clock: FakeClock,
        definition: WorkflowDefinition,
        idle_days: int,
        plans: dict[str, list[str]],
        *,
        who: tuple[str, Any],
        auth: dict[str, Any],
    ) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        for pragma in (
            f"busy_timeout = {BUSY_TIMEOUT_MS}",
            "journal_mode = WAL",
            "synchronous = FULL",
            "foreign_keys = ON",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.row_factory = sqlite3.Row
        self.clock = clock
        self.rules = raw_rules(definition)
        self.workflow_version = definition.version
        self.idle = timedelta(days=idle_days)
        login = getpass.getuser()
        self.os_user = login if login != ACTOR else None
        self.steps = {trigger: self._steps(trigger, shapes) for trigger, shapes in plans.items()}
        self.who = who  # the actor's grants, read before each transition as fire(actor=...) does
        self.auth = auth  # how the service recorded that actor (record format 2: inside the hash)

    def close(self) -> None:
        self.conn.close()

    def _steps(self, trigger: str, shapes: list[str]) -> list[Step]:
        if shapes[:1] != ["BEGIN IMMEDIATE"] or shapes[-1:] != ["COMMIT"]:
            raise SystemExit(f"the service's '{trigger}' is not BEGIN IMMEDIATE ... COMMIT: {shapes}")
        known: dict[str, Step] = {
            "SELECT cases": self._read_case,
            "SELECT organisations": self._read_org,
            "SELECT guidelines": self._read_guidelines,
            "UPDATE cases": self._update_case,
            "SELECT transition_log": self._read_head,
            "INSERT transition_log": self._insert_log,
            "UPDATE timers": self._cancel_timers,
            "INSERT timers": self._insert_timers,
        }
        for table, sql in SQL_FACTS.items():
            known[f"SELECT {table}"] = self._fact_reader(sql)
        unknown = [s for s in shapes[1:-1] if s not in known]
        if unknown:
            raise SystemExit(f"the service's '{trigger}' now issues {unknown}; teach RawWorkflow the same work")
        return [known[s] for s in shapes[1:-1]]

    def fire(self, ref: str, trigger: str, reason: str | None) -> int:
        txn = Txn(ref=ref, trigger=trigger, reason=reason, rule=self.rules[trigger])
        c = self.conn
        c.execute("BEGIN")
        c.execute(*self.who).fetchall()
        c.execute("COMMIT")
        c.execute("BEGIN IMMEDIATE")
        try:
            for step in self.steps[trigger]:
                step(c, txn)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        return txn.seq

    # -- the steps, one statement each ----------------------------------------
    def _read_case(self, c: sqlite3.Connection, t: Txn) -> None:
        t.case = c.execute(SQL_CASE, (t.ref,)).fetchone()
        if t.case is None or t.case["state"] not in t.rule.sources:
            raise LookupError(f"'{t.trigger}' is not allowed on {t.ref}")
        if t.rule.needs_reason and not t.reason:
            raise ValueError(f"'{t.trigger}' needs a reason")
        if not ROLES & t.rule.roles:
            raise PermissionError(f"{ACTOR} may not fire '{t.trigger}'")

    def _read_org(self, c: sqlite3.Connection, t: Txn) -> None:
        assert t.case is not None
        t.org = c.execute(SQL_ORG, (t.case["organisation_id"],)).fetchone()

    def _read_guidelines(self, c: sqlite3.Connection, t: Txn) -> None:
        assert t.case is not None
        t.facts.append(c.execute(SQL_GUIDELINES, (t.case["municipality"],)).fetchall())

    def _fact_reader(self, sql: str) -> Step:
        def read(c: sqlite3.Connection, t: Txn) -> None:
            assert t.case is not None
            t.facts.append(c.execute(sql, (t.case["id"],)).fetchall())

        return read

    def _update_case(self, c: sqlite3.Connection, t: Txn) -> None:
        case, rule = t.case, t.rule
        assert case is not None
        if rule.org_guards and not (
            t.org is not None
            and t.org["legal_form"] in ELIGIBLE_FORMS
            and t.org["non_profit"]
            and case["initiated_by"] == "organisation"
        ):
            raise PermissionError(f"the guards of '{t.trigger}' are unmet on {t.ref}")
        t.now = self.clock.now()
        t.stamp = t.now.astimezone(UTC).strftime(DB_TIME)
        today = self.clock.today().isoformat()
        values = (rule.dest, rule.end_reason, case["version"] + 1, today, t.stamp)
        if c.execute(SQL_UPDATE_CASE, (*values, case["id"], case["version"])).rowcount != 1:
            raise RuntimeError(f"{t.ref} was changed concurrently")

    def _read_head(self, c: sqlite3.Connection, t: Txn) -> None:
        row = c.execute(SQL_HEAD, (t.ref,)).fetchone()
        t.head = (0, GENESIS) if row is None else (row[0], row[1])

    def _insert_log(self, c: sqlite3.Connection, t: Txn) -> None:
        assert t.case is not None and t.head is not None and t.now is not None
        data: dict[str, Any] = {"end_reason": t.rule.end_reason} if t.rule.end_reason else {}
        data["timers"] = [{"kind": k, "due_on": due, "action": a} for k, due, a in self._planned(t)]
        record = {
            "case_ref": t.ref,
            "case_seq": t.head[0] + 1,
            "at": t.now.astimezone(UTC).strftime(LOG_TIME),
            "actor": ACTOR,
            "os_user": self.os_user,
            "roles": sorted(ROLES),
            "source": "api",
            "trigger": t.trigger,
            "from_state": t.case["state"],
            "to_state": t.rule.dest,
            "reason": t.reason,
            "data": data,
            "guideline_ref": None,
            "workflow_version": self.workflow_version,
            "prev_hash": t.head[1],
            "auth": self.auth,
            "format": RECORD_FORMAT,
        }
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        record["hash"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        record["roles"] = json.dumps(record["roles"])
        record["data"] = json.dumps(data, sort_keys=True, ensure_ascii=False)
        record["auth"] = json.dumps(self.auth, sort_keys=True, ensure_ascii=False)
        t.seq = c.execute(SQL_INSERT_LOG, tuple(record.values())).fetchone()[0]

    def _cancel_timers(self, c: sqlite3.Connection, t: Txn) -> None:
        assert t.case is not None
        c.execute(SQL_CANCEL_TIMERS, (t.stamp, t.case["id"]))

    def _planned(self, t: Txn) -> list[tuple[str, str, str]]:
        """The destination state's timers (kind, due day, action): its idle deadline, if it has one."""
        if t.rule.idle_timer is None:
            return []
        kind, action = t.rule.idle_timer
        return [(kind, (self.clock.today() + self.idle).isoformat(), action)]  # entered the state today

    def _insert_timers(self, c: sqlite3.Connection, t: Txn) -> None:
        assert t.case is not None
        rows = [(t.case["id"], kind, t.rule.dest, due, action, t.stamp) for kind, due, action in self._planned(t)]
        if rows:
            c.executemany(SQL_INSERT_TIMER, rows)


# --------------------------------------------------------------------------- rounds


@dataclass(slots=True)
class Run:
    """One side's timings in one round."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def tps(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=20, method="inclusive")[18] * 1000


def timed_block(fire: Fire, calls: Sequence[tuple[str, str, str | None]], run: Run) -> None:
    clock = time.perf_counter
    begin = clock()
    for ref, trigger, reason in calls:
        t0 = clock()
        fire(ref, trigger, reason)
        run.latencies.append(clock() - t0)
    run.seconds += clock() - begin


def warm(fire: Fire, refs: Sequence[str]) -> None:
    for trigger, reason in WORKLOAD:
        for ref in refs:
            fire(ref, trigger, reason)


@dataclass(slots=True)
class Captured:
    service: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)


def service_plans(seen: Seen) -> tuple[dict[str, list[str]], tuple[str, Any]]:
    """Per trigger, the shapes of its write transaction; and the read that resolves the actor before each.

    ``Iop.fire(actor=LOGIN)`` first reads LOGIN's grants in a transaction of its own, then writes.
    """
    sent = list(zip(seen, seen.parameters, strict=True))
    transactions: list[list[tuple[str, Any]]] = []
    for sql, params in sent:
        if not transactions or shape(sql).startswith("BEGIN"):
            transactions.append([])
        transactions[-1].append((sql, params))
    reads = [t for t in transactions if shape(t[0][0]) == "BEGIN"]
    writes = [t for t in transactions if shape(t[0][0]) == "BEGIN IMMEDIATE"]
    if len(reads) != len(WORKLOAD) or any([shape(s) for s, _p in t] != ["BEGIN", "SELECT grants", "COMMIT"]
                                           for t in reads):  # fmt: skip
        raise SystemExit(f"fire() no longer reads the actor's grants once before writing: {[shape(s) for s in seen]}")
    plans = {trigger: [shape(sql) for sql, _p in t] for (trigger, _r), t in zip(WORKLOAD, writes, strict=True)}
    return plans, reads[0][1]


def one_round(workdir: Path, i: int, cases: int, block: int, captured: Captured) -> tuple[Run, Run]:
    """Set both files up, warm both sides, then time them alternating block by block."""
    raw_path = workdir / f"raw-{i}.db"
    iop, refs = prepare(raw_path, cases + SCRATCH_CASES)
    definition, idle_days = iop.app.definition, iop.app.settings.lead_times.idle_days
    iop.close()
    iop, service_refs = prepare(workdir / f"service-{i}.db", cases + SCRATCH_CASES)
    raw: RawWorkflow | None = None
    try:

        def fire(ref: str, trigger: str, reason: str | None) -> object:
            return iop.fire(ref, trigger, actor=ACTOR, reason=reason)

        warm(fire, service_refs[: SCRATCH_CASES - 1])
        with capture_service(iop) as seen:
            warm(fire, service_refs[SCRATCH_CASES - 1 : SCRATCH_CASES])
        captured.service = seen
        plans, who = service_plans(seen)
        auth = dict(iop.history(service_refs[0])[-1]["auth"])
        raw = RawWorkflow(raw_path, FakeClock(START), definition, idle_days, plans, who=who, auth=auth)
        warm(raw.fire, refs[: SCRATCH_CASES - 1])
        with capture_raw(raw.conn) as traced:
            warm(raw.fire, refs[SCRATCH_CASES - 1 : SCRATCH_CASES])
        captured.raw = traced

        assert refs == service_refs
        calls = [(ref, t, r) for t, r in WORKLOAD for ref in refs[SCRATCH_CASES:]]
        size = block or len(calls)
        service_run, raw_run = Run(), Run()
        for n, start in enumerate(range(0, len(calls), size)):
            chunk = calls[start : start + size]
            sides = [(fire, service_run), (raw.fire, raw_run)]
            for side_fire, run in sides if n % 2 == 0 else reversed(sides):
                timed_block(side_fire, chunk, run)
        return service_run, raw_run
    finally:
        iop.close()
        if raw is not None:
            raw.close()


def differing_tables(a: Path, b: Path) -> list[str]:
    """Each compared table whose rows differ, with the first differing row's differing columns."""

    def dump(path: Path) -> dict[str, tuple[list[str], list[Any]]]:
        with sqlite3.connect(path) as conn:
            out = {}
            for t in COMPARED_TABLES:
                cursor = conn.execute(f"SELECT * FROM {t} ORDER BY 1")
                out[t] = ([d[0] for d in cursor.description], cursor.fetchall())
            return out

    left, right = dump(a), dump(b)
    differing = []
    for t in COMPARED_TABLES:
        (columns, mine), (_same, theirs) = left[t], right[t]
        if mine == theirs:
            continue
        pairs = [(x, y) for x, y in zip(mine, theirs, strict=False) if x != y]
        cols = [c for c, u, v in zip(columns, *pairs[0], strict=True) if u != v] if pairs else ["row count"]
        differing.append(f"{t} ({', '.join(cols)})")
    return differing


def compare_shapes(captured: Captured) -> list[str]:
    service, raw = split_transactions(captured.service), split_transactions(captured.raw)
    problems = [f"{len(service)} service transactions vs {len(raw)} raw"] if len(service) != len(raw) else []
    for (trigger, _reason), a, b in zip(WORKLOAD, service, raw, strict=False):
        sa, sb = [shape(x) for x in a], [shape(x) for x in b]
        if sa != sb:
            problems.append(f"{trigger}: service {sa} vs raw {sb}")
    return problems


# --------------------------------------------------------------------------- report


def summary(runs: Sequence[Run]) -> dict[str, Any]:
    return {
        "transitions_per_s": round(statistics.median(r.tps for r in runs), 1),
        "median_latency_ms": round(statistics.median(r.median_ms for r in runs), 3),
        "p95_latency_ms": round(statistics.median(r.p95_ms for r in runs), 3),
        "rounds_transitions_per_s": [round(r.tps, 1) for r in runs],
    }


def report(result: dict[str, Any]) -> None:
    s, r = result["service"], result["raw_sqlite3"]
    print(f"Durable transitions: Iop.fire() vs raw sqlite3 (SQLite {result['sqlite_version']}, WAL, synchronous=FULL)")
    print(f"workload: {result['cases']} {WORKLOAD_TEXT}")
    print(
        f"{result['transitions_per_round']} commits per side and round, {result['runs']} rounds, "
        f"sides alternating every {result['block']} transitions; medians over rounds"
    )
    print()
    print(f"{'':20}{'transitions/s':>14}{'median ms':>11}{'p95 ms':>9}   per round (transitions/s)")
    for name, side in (("service fire()", s), ("raw sqlite3", r)):
        rounds = ", ".join(f"{x:.0f}" for x in side["rounds_transitions_per_s"])
        print(
            f"{name:20}{side['transitions_per_s']:14.1f}{side['median_latency_ms']:11.3f}"
            f"{side['p95_latency_ms']:9.3f}   {rounds}"
        )
    verdict = "PASS" if result["pass"] else "FAIL"
    rounds = ", ".join(f"{x:.2f}" for x in result["rounds_ratio"])
    print(
        f"{'ratio service/raw':20}{result['ratio']:13.2f}x   target >= {result['target']:.2f}x  "
        f"{verdict}   (per round: {rounds})"
    )
    same = "yes" if result["statements_match"] else "NO: " + "; ".join(result["statement_mismatch"])
    rows = "yes" if not result["differing_tables"] else "NO: " + ", ".join(result["differing_tables"])
    print(f"raw baseline issued the service's statements: {same}")
    print(f"raw baseline wrote identical cases/transition_log/timers rows: {rows}")


def print_sql(captured: Captured) -> None:
    for title, statements in (
        ("through the service (SQLAlchemy before_cursor_execute + commit)", captured.service),
        ("by the raw sqlite3 baseline (sqlite3 trace callback)", captured.raw),
    ):
        for (trigger, _reason), stmts in zip(WORKLOAD, split_transactions(statements), strict=False):
            print(f"\nstatements of one warm fire('{trigger}') {title}: {len(stmts)}")
            for i, sql in enumerate(stmts, 1):
                print(f"  {i:2d}. {one_line(sql)}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--cases", type=int, default=300, help="cases per round (default 300)")
    p.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    p.add_argument(
        "--block",
        type=int,
        default=20,
        help="transitions per side before switching sides (default 20; 0 = whole round)",
    )
    p.add_argument("--dir", type=Path, default=None, help="where the files go (default: temp dir)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--check", action="store_true", help=f"exit 1 when the ratio is below {TARGET}")
    p.add_argument("--show-sql", action="store_true", help="list the statements one fire() issues")
    args = p.parse_args(argv)
    if args.cases < 1 or args.runs < 1 or args.block < 0:
        p.error("--cases and --runs must be at least 1, --block at least 0")
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="iop-bench-", dir=args.dir))
    try:
        captured = Captured()
        service: list[Run] = []
        raw: list[Run] = []
        differing: set[str] = set()
        for i in range(args.runs):
            s_run, r_run = one_round(workdir, i, args.cases, args.block, captured)
            service.append(s_run)
            raw.append(r_run)
            differing.update(differing_tables(workdir / f"service-{i}.db", workdir / f"raw-{i}.db"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratios = [s.tps / r.tps for s, r in zip(service, raw, strict=True)]
    ratio = statistics.median(ratios)
    mismatch = compare_shapes(captured)
    result = {
        "workload": f"{args.cases} {WORKLOAD_TEXT}",
        "cases": args.cases,
        "transitions_per_round": len(WORKLOAD) * args.cases,
        "runs": args.runs,
        "block": args.block or len(WORKLOAD) * args.cases,
        "sqlite_version": sqlite3.sqlite_version,
        "directory": str(workdir.parent),
        "service": summary(service),
        "raw_sqlite3": summary(raw),
        "ratio": round(ratio, 3),
        "rounds_ratio": [round(x, 3) for x in ratios],
        "target": TARGET,
        "pass": ratio >= TARGET,
        "statements_match": not mismatch,
        "statement_mismatch": mismatch,
        "differing_tables": sorted(differing),
    }
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        report(result)
    if args.show_sql:
        print_sql(captured)
    return 1 if args.check and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
