"""Durable transitions per second through ``Iop.fire()``, next to raw ``sqlite3`` doing the same.

Run from the repository root::

    python benchmarks/transitions.py                 # 300 cases, 3 interleaved runs per side
    python benchmarks/transitions.py --show-sql      # also list the statements one fire() issues
    python benchmarks/transitions.py --json --check  # numbers as JSON; exit 1 below the target

Workload: N freshly opened cases (initiative) each get ``start_dialogue`` (initiative -> dialogue,
guards org_eligible + initiative_from_org, plans an idle timer) and then ``decline`` with a reason
(dialogue -> ended, cancels the timer): 2N transitions per run, each its own durable commit on a
SQLite file in WAL mode with synchronous=FULL.

The baseline opens a second file built by the same ``Iop.init()`` and set-up, and runs, per
transition, the statements the service issues (captured from a warm-up ``fire()``) with a plain
``sqlite3`` connection: ``BEGIN IMMEDIATE``, the same reads, the version-checked update, the
hash-chained log insert (canonical JSON + SHA-256 in Python), the timer writes, ``COMMIT``. After
each run both files must hold identical cases, log (hashes included) and timers, so the baseline
provably did the same work. Each side runs ``--runs`` times, interleaved; the median run counts.
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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# Run as a script, this file's directory comes first on sys.path and this file, named
# transitions.py, would shadow the `transitions` state-machine package iop_workflow imports.
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
WORKLOAD = (("start_dialogue", None), ("decline", "Ingen gemensam samhällsutmaning"))
SCRATCH_CASES = 2  # warm-up: one cold (caches), one captured
COMPARED_TABLES = ("cases", "transition_log", "timers")


# --------------------------------------------------------------------------- set-up


def settings() -> Settings:
    return replace(Settings(), actors={ACTOR: ROLES, "system": frozenset({"system"})})


def connect(path: Path) -> Iop:
    return Iop.connect(
        f"sqlite:///{path}", clock=FakeClock(START), settings=settings(), audit_log=False
    )


def prepare(path: Path, cases: int) -> tuple[Iop, list[str]]:
    """A fresh database with one organisation and ``cases`` cases in ``initiative`` (not timed)."""
    iop = connect(path)
    iop.init()
    iop.add_organisation(actor=ACTOR, **ORG)
    refs = [
        iop.open_case(
            org_number=ORG["org_number"],
            municipality=MUNICIPALITY,
            title=f"Ärende {i}",
            challenge="Våldsutsatta kvinnor behöver skyddat boende",
            actor=ACTOR,
        )
        for i in range(cases)
    ]
    return iop, refs


# --------------------------------------------------------------------------- statements

_SHAPE = re.compile(
    r"^\s*(?:(BEGIN IMMEDIATE|COMMIT|ROLLBACK)\b|(SELECT)\b.*?\bFROM\s+\"?(\w+)|(UPDATE)\s+\"?(\w+)"
    r"|(INSERT)\s+INTO\s+\"?(\w+))",
    re.IGNORECASE | re.DOTALL,
)


def shape(sql: str) -> str:
    """'SELECT cases', 'INSERT transition_log', 'COMMIT': what a statement does to which table."""
    m = _SHAPE.match(sql)
    if m is None:
        return " ".join(sql.split())[:40]
    verb, *table = [g for g in m.groups() if g]
    return " ".join([verb.upper(), *(t.lower() for t in table)])


def one_line(sql: str, width: int = 150) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


@contextmanager
def capture_service(iop: Iop) -> Iterator[list[str]]:
    """Every statement the service's engine sends, plus the COMMIT the DBAPI issues."""
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    def on_commit(_conn: Any) -> None:
        seen.append("COMMIT")

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
    """What the raw baseline knows about one transition (read from the shipped definition)."""

    sources: frozenset[str]
    dest: str
    roles: frozenset[str]
    end_reason: str | None
    needs_reason: bool
    org_guards: bool
    idle_timer: tuple[str, str] | None  # (kind, action) of the dest state's idle timer


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
            raise SystemExit(
                f"the raw baseline does not implement what '{trigger}' now does; update it"
            )
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
SQL_FACTS = tuple(f"SELECT * FROM {t} WHERE case_id = ? ORDER BY id" for t in FACT_TABLES)
SQL_UPDATE_CASE = (
    "UPDATE cases SET state = ?, end_reason = ?, version = ?, state_entered_on = ?, updated_at = ? "
    "WHERE id = ? AND version = ?"
)
SQL_HEAD = (
    "SELECT case_seq, hash FROM transition_log WHERE case_ref = ? ORDER BY case_seq DESC LIMIT 1"
)
SQL_INSERT_LOG = (
    'INSERT INTO transition_log (case_ref, case_seq, at, actor, os_user, roles, source, "trigger", '
    "from_state, to_state, reason, data, guideline_ref, workflow_version, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq"
)
SQL_CANCEL_TIMERS = (
    "UPDATE timers SET cancelled_at = ? "
    "WHERE case_id = ? AND fired_at IS NULL AND cancelled_at IS NULL"
)
SQL_INSERT_TIMER = (
    "INSERT INTO timers (case_id, kind, state, due_on, action, planned_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
ISO_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"  # the log's fixed-width timestamp (service.changes.utc_iso)
ELIGIBLE_FORMS = frozenset(f.value for f in IDEA_BASED_FORMS)


class RawWorkflow:
    """``fire()`` as a careful engineer would write it with the standard library only."""

    def __init__(
        self, path: Path, clock: FakeClock, definition: WorkflowDefinition, idle_days: int
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

    def close(self) -> None:
        self.conn.close()

    def fire(self, ref: str, trigger: str, reason: str | None) -> int:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            seq = self._fire(c, ref, trigger, reason)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        return seq

    def _fire(self, c: sqlite3.Connection, ref: str, trigger: str, reason: str | None) -> int:
        rule = self.rules[trigger]
        case = c.execute(SQL_CASE, (ref,)).fetchone()
        if case is None or case["state"] not in rule.sources:
            raise LookupError(f"{trigger} not allowed on {ref}")
        if rule.needs_reason and not reason:
            raise ValueError(f"{trigger} needs a reason")
        # The facts snapshot: the service's reads (rows kept, as guards would use them).
        org = c.execute(SQL_ORG, (case["organisation_id"],)).fetchone()
        facts = [c.execute(SQL_GUIDELINES, (case["municipality"],)).fetchall()]
        facts += [c.execute(sql, (case["id"],)).fetchall() for sql in SQL_FACTS]
        if not ROLES & rule.roles:
            raise PermissionError(f"{ACTOR} may not fire {trigger}")
        if rule.org_guards and not (
            org["legal_form"] in ELIGIBLE_FORMS
            and org["non_profit"]
            and case["initiated_by"] == "organisation"
        ):
            raise PermissionError(f"{trigger} guards unmet on {ref}")
        now = self.clock.now()
        today = self.clock.today()
        stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        version = case["version"] + 1
        updated = c.execute(
            SQL_UPDATE_CASE,
            (
                rule.dest,
                rule.end_reason,
                version,
                today.isoformat(),
                stamp,
                case["id"],
                case["version"],
            ),
        )
        if updated.rowcount != 1:
            raise RuntimeError(f"concurrent update of {ref}")
        head = c.execute(SQL_HEAD, (ref,)).fetchone()
        last_seq, prev_hash = (0, "0" * 64) if head is None else (head[0], head[1])
        data = {"end_reason": rule.end_reason} if rule.end_reason else {}
        record = {
            "case_ref": ref,
            "case_seq": last_seq + 1,
            "at": now.astimezone(UTC).strftime(ISO_UTC),
            "actor": ACTOR,
            "os_user": self.os_user,
            "roles": sorted(ROLES),
            "source": "api",
            "trigger": trigger,
            "from_state": case["state"],
            "to_state": rule.dest,
            "reason": reason,
            "data": data,
            "guideline_ref": None,
            "workflow_version": self.workflow_version,
            "prev_hash": prev_hash,
        }
        canonical = json.dumps(
            record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        seq = c.execute(
            SQL_INSERT_LOG,
            (
                ref,
                record["case_seq"],
                record["at"],
                ACTOR,
                self.os_user,
                json.dumps(record["roles"]),
                "api",
                trigger,
                case["state"],
                rule.dest,
                reason,
                json.dumps(data, sort_keys=True, ensure_ascii=False),
                None,
                self.workflow_version,
                prev_hash,
                digest,
            ),
        ).fetchone()[0]
        c.execute(SQL_CANCEL_TIMERS, (stamp, case["id"]))
        if rule.idle_timer is not None:
            kind, action = rule.idle_timer
            due = (today + self.idle).isoformat()  # idle_deadline: the state was entered today
            c.executemany(SQL_INSERT_TIMER, [(case["id"], kind, rule.dest, due, action, stamp)])
        del facts
        return int(seq)


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    latencies: list[float]

    @property
    def tps(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=20, method="inclusive")[18] * 1000


def timed(fire: Callable[[str, str, str | None], object], refs: Sequence[str]) -> Run:
    latencies = []
    clock = time.perf_counter
    begin = clock()
    for trigger, reason in WORKLOAD:
        for ref in refs:
            t0 = clock()
            fire(ref, trigger, reason)
            latencies.append(clock() - t0)
    return Run(seconds=clock() - begin, latencies=latencies)


@dataclass(slots=True)
class Captured:
    service: list[str]
    raw: list[str]


def service_run(path: Path, cases: int, captured: Captured) -> Run:
    iop, refs = prepare(path, cases + SCRATCH_CASES)
    try:

        def fire(ref: str, trigger: str, reason: str | None) -> object:
            return iop.fire(ref, trigger, actor=ACTOR, reason=reason)

        scratch, refs = refs[:SCRATCH_CASES], refs[SCRATCH_CASES:]
        warm(fire, scratch[:-1])
        with capture_service(iop) as seen:
            warm(fire, scratch[-1:])
        captured.service = seen
        return timed(fire, refs)
    finally:
        iop.close()


def raw_run(path: Path, cases: int, captured: Captured) -> Run:
    iop, refs = prepare(path, cases + SCRATCH_CASES)
    definition, idle_days = iop.app.definition, iop.app.settings.lead_times.idle_days
    iop.close()
    raw = RawWorkflow(path, FakeClock(START), definition, idle_days)
    try:
        scratch, refs = refs[:SCRATCH_CASES], refs[SCRATCH_CASES:]
        warm(raw.fire, scratch[:-1])
        with capture_raw(raw.conn) as seen:
            warm(raw.fire, scratch[-1:])
        captured.raw = seen
        return timed(raw.fire, refs)
    finally:
        raw.close()


def warm(fire: Callable[[str, str, str | None], object], refs: Sequence[str]) -> None:
    for trigger, reason in WORKLOAD:
        for ref in refs:
            fire(ref, trigger, reason)


def table_dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in COMPARED_TABLES
        }


def differing_tables(a: Path, b: Path) -> list[str]:
    left, right = table_dump(a), table_dump(b)
    return [t for t in COMPARED_TABLES if left[t] != right[t]]


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class Side:
    runs: list[Run]

    def _median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "transitions_per_s": round(self._median("tps"), 1),
            "median_latency_ms": round(self._median("median_ms"), 3),
            "p95_latency_ms": round(self._median("p95_ms"), 3),
            "runs_transitions_per_s": [round(r.tps, 1) for r in self.runs],
        }


def split_transactions(statements: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for sql in statements:
        if shape(sql) == "BEGIN IMMEDIATE" or not out:
            out.append([])
        out[-1].append(sql)
    return out


def print_sql(captured: Captured) -> None:
    service, raw = split_transactions(captured.service), split_transactions(captured.raw)
    for (trigger, _reason), stmts in zip(WORKLOAD, service, strict=False):
        print(f"\nstatements of one warm fire('{trigger}') through the service ({len(stmts)}):")
        for i, sql in enumerate(stmts, 1):
            print(f"  {i:2d}. {one_line(sql)}")
    for (trigger, _reason), stmts in zip(WORKLOAD, raw, strict=False):
        print(f"\nthe raw sqlite3 baseline for '{trigger}' ({len(stmts)}):")
        for i, sql in enumerate(stmts, 1):
            print(f"  {i:2d}. {one_line(sql)}")


def report(result: dict[str, Any]) -> None:
    s, r = result["service"], result["raw_sqlite3"]
    print(
        f"Durable transitions: Iop.fire() vs raw sqlite3 (SQLite {sqlite3.sqlite_version}, "
        "WAL, synchronous=FULL)"
    )
    print(f"workload: {result['workload']}")
    print(
        f"{result['transitions_per_run']} commits per run, {result['runs']} runs per side "
        f"interleaved, median run reported; files in {result['directory']}"
    )
    print()
    print(f"{'':22}{'transitions/s':>14}{'median ms':>11}{'p95 ms':>9}   runs (transitions/s)")
    for name, side in (("service fire()", s), ("raw sqlite3", r)):
        runs = ", ".join(f"{x:.0f}" for x in side["runs_transitions_per_s"])
        print(
            f"{name:22}{side['transitions_per_s']:14.1f}{side['median_latency_ms']:11.3f}"
            f"{side['p95_latency_ms']:9.3f}   {runs}"
        )
    verdict = "PASS" if result["pass"] else "FAIL"
    target = f"target >= {result['target']:.2f}x"
    print(f"{'ratio service/raw':22}{result['ratio']:13.2f}x   {target}   {verdict}")
    same = "yes" if result["statements_match"] else "NO: " + "; ".join(result["statement_mismatch"])
    rows = (
        "yes" if not result["differing_tables"] else "NO: " + ", ".join(result["differing_tables"])
    )
    print(f"baseline issues the service's statements: {same}")
    print(f"baseline wrote identical cases/log/timers rows: {rows}")


def compare_shapes(captured: Captured) -> list[str]:
    problems = []
    service, raw = split_transactions(captured.service), split_transactions(captured.raw)
    for (trigger, _reason), a, b in zip(WORKLOAD, service, raw, strict=False):
        sa, sb = [shape(x) for x in a], [shape(x) for x in b]
        if sa != sb:
            problems.append(f"{trigger}: service {sa} vs raw {sb}")
    if len(service) != len(raw):
        problems.append(f"{len(service)} service transactions vs {len(raw)} raw")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--cases", type=int, default=300, help="cases per run (2 transitions each; default 300)"
    )
    p.add_argument("--runs", type=int, default=3, help="runs per side, interleaved (default 3)")
    p.add_argument(
        "--dir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)"
    )
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument(
        "--check", action="store_true", help=f"exit 1 when service/raw is below {TARGET}x"
    )
    p.add_argument("--show-sql", action="store_true", help="list the statements one fire() issues")
    args = p.parse_args(argv)
    if args.cases < 1 or args.runs < 1:
        p.error("--cases and --runs must be at least 1")
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="iop-bench-", dir=args.dir))
    try:
        service, raw, differing = [], [], set()
        captured = Captured(service=[], raw=[])
        for i in range(args.runs):
            service.append(service_run(workdir / f"service-{i}.db", args.cases, captured))
            raw.append(raw_run(workdir / f"raw-{i}.db", args.cases, captured))
            differing.update(differing_tables(workdir / f"service-{i}.db", workdir / f"raw-{i}.db"))
        s, r = Side(service).as_dict(), Side(raw).as_dict()
        ratio = s["transitions_per_s"] / r["transitions_per_s"]
        mismatch = compare_shapes(captured)
        result = {
            "workload": f"{args.cases} fresh cases: start_dialogue (initiative -> dialogue), "
            "then decline with a reason (dialogue -> ended)",
            "cases": args.cases,
            "transitions_per_run": len(WORKLOAD) * args.cases,
            "runs": args.runs,
            "sqlite_version": sqlite3.sqlite_version,
            "directory": str(args.dir or Path(tempfile.gettempdir())),
            "service": s,
            "raw_sqlite3": r,
            "ratio": round(ratio, 3),
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
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if args.check and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
