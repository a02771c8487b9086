"""Durable commands through the API as people and the scheduler give them, next to raw ``sqlite3``
sending the very same statements.

Run from the repository root::

    python -m benchmarks.fire_bench                  # 40 cases, 3 rounds, on disk and on tmpfs
    python -m benchmarks.fire_bench --show-sql       # also list the statements of one case's life
    python -m benchmarks.fire_bench --json --check   # figures as JSON; exit 1 below the target

Workload (``benchmarks/world.py``): each case lives its whole life through ``Iop``, one command at
a time: opened, ``start_dialogue``, a meeting recorded, ``submit_for_assessment``, every fact
signing needs recorded (criteria, legal check, agreement, two contributions, the decision: the
tests' ``prepare_signing``), ``sign``, ``activate``, ``start_review``, the review recorded, the next
period's facts, ``renew``: about 33 commands, each its own durable transaction (and each actor's
grants read before it, as the API does), with the audit stream written to a file beside the
database as the CLI writes it. SQLite files in WAL mode, ``synchronous=FULL``: the product's
engine settings.

The raw side: the statements the service sent for the same cases, captured once on a copy of the
same starting file (SQLAlchemy's cursor events and sqlite3's trace callback,
``benchmarks/capture.py``), replayed through one plain ``sqlite3`` connection with the engine's
PRAGMAs on another copy. It is only the database's share of the work: the service computed the
decisions, hashes and JSON the replay merely sends. After each round every table of the service's
file and of the raw file must hold the same rows, or the run fails.

Each round starts both sides on fresh copies, warms each with one case's life (untimed), then
alternates them every ``--block`` cases (A B, B A, ...), each side timing only its own work.
``--rounds`` rounds (at least 3) give min / median / max. The whole is run twice: on disk (the
directory of ``--dir``, default the temp dir) and on tmpfs (``/dev/shm``), where fsync costs
nothing and the ratio is the CPU-only one. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import world
from benchmarks.capture import EXECUTE, EXECUTEMANY, Entry, Recorder, listening, open_raw, replay, shape, table_digests
from benchmarks.harness import cpu_only_dir, cpu_seconds, interleaved, loads, ratio_rounds, spread
from iop_workflow.store.engine import BUSY_TIMEOUT_MS

TARGET = 0.5  # on disk: service/raw throughput
WARM = 1  # cases whose life warms each side before the timed ones
SENT = (EXECUTE, EXECUTEMANY)  # a capture's statements (the others are its COMMIT and ROLLBACK marks)


@dataclass(slots=True)
class Capture:
    """The statements the service sent: per case, per step of its life, its transactions."""

    cases: list[list[list[list[Entry]]]] = field(default_factory=list)

    def transactions(self, case: int) -> list[list[Entry]]:
        return [t for step in self.cases[case] for t in step]


def live(iop: Any, refs: list[str]) -> None:
    for _name, step in world.LIFE:
        step(iop, refs)


def capture(base: Path, work: Path, cases: int) -> Capture:
    db = work / "capture.db"
    shutil.copyfile(base, db)
    iop = world.connect(db, world.START)
    out, refs = Capture(), list[str]()
    try:
        recorder = Recorder()
        with listening(iop.app.db.engine, recorder):
            for _case in range(cases):
                steps = []
                for _name, step in world.LIFE:
                    first = len(recorder.transactions)
                    step(iop, refs)
                    steps.append(recorder.transactions[first:])
                out.cases.append(steps)
    finally:
        iop.close()
    return out


def writes(transactions: Sequence[list[Entry]]) -> int:
    """How many of the transactions write (their first statement is ``BEGIN IMMEDIATE``)."""
    return sum(1 for t in transactions if t and shape(t[0][1]) == "BEGIN IMMEDIATE")


def one_round(base: Path, work: Path, i: int, cap: Capture, block: int) -> dict[str, Any]:
    service_db, raw_db = work / f"service-{i}.db", work / f"raw-{i}.db"
    shutil.copyfile(base, service_db)
    shutil.copyfile(base, raw_db)
    iop = world.connect(service_db, world.START)
    raw = open_raw(raw_db, BUSY_TIMEOUT_MS)
    refs: list[str] = []
    timed_cases = range(WARM, len(cap.cases))
    blocks = [list(timed_cases[k : k + block]) for k in range(0, len(timed_cases), block)]

    cpu = {"service": 0.0, "raw": 0.0}  # this process's CPU seconds in each side's blocks

    def service(k: int) -> float:
        cpu0, started = cpu_seconds(), time.perf_counter()
        for _case in blocks[k]:
            live(iop, refs)
        cpu["service"] += cpu_seconds() - cpu0
        return time.perf_counter() - started

    def raw_side(k: int) -> float:
        cpu0, started = cpu_seconds(), time.perf_counter()
        for case in blocks[k]:
            for txn in cap.transactions(case):
                replay(raw, txn)
        cpu["raw"] += cpu_seconds() - cpu0
        return time.perf_counter() - started

    try:
        for case in range(WARM):
            live(iop, refs)
            for txn in cap.transactions(case):
                replay(raw, txn)
        seconds = interleaved(len(blocks), {"service": service, "raw": raw_side})
    finally:
        iop.close()
        raw.close()
    mine, theirs = table_digests(service_db), table_digests(raw_db)
    differ = sorted(t for t in mine.keys() | theirs.keys() if mine.get(t) != theirs.get(t))
    if differ:
        raise SystemExit(f"round {i}: the service's and the raw file differ in {differ}")
    commands = sum(writes(cap.transactions(c)) for c in timed_cases)
    return {
        "service_s": seconds["service"],
        "raw_s": seconds["raw"],
        "commands": commands,
        "service_per_s": commands / seconds["service"],
        "raw_per_s": commands / seconds["raw"],
        "service_per_cpu_s": commands / cpu["service"],
        "raw_per_cpu_s": commands / cpu["raw"],
    }


def configuration(where: Path | None, cases: int, rounds: int, block: int) -> dict[str, Any]:
    """Every round in a fresh temporary directory under ``where``."""
    work = Path(tempfile.mkdtemp(prefix="iop-fire-bench-", dir=where))
    try:
        base = work / "base.db"
        world.base(base)
        cap = capture(base, work, WARM + cases)
        done = [one_round(base, work, i, cap, block) for i in range(rounds)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    service, raw = [r["service_per_s"] for r in done], [r["raw_per_s"] for r in done]
    return {
        "directory": str(work.parent),
        "commands_per_round": done[0]["commands"],
        "service_per_s": spread(service),
        "raw_per_s": spread(raw),
        "ratio": ratio_rounds(service, raw),
        "cpu_ratio": ratio_rounds([r["service_per_cpu_s"] for r in done], [r["raw_per_cpu_s"] for r in done]),
        "service_per_cpu_s": spread([r["service_per_cpu_s"] for r in done]),
        "raw_per_cpu_s": spread([r["raw_per_cpu_s"] for r in done]),
        "rounds": [{k: round(v, 3) for k, v in r.items()} for r in done],
        "statements_per_case": sum(1 for t in cap.transactions(WARM) for kind, _s, _p in t if kind in SENT),
        "transactions_per_case": len(cap.transactions(WARM)),
        "life": [
            (name, [[shape(sql) if sql else kind.upper() for kind, sql, _p in t] for t in txns])
            for (name, _s), txns in zip(world.LIFE, cap.cases[WARM], strict=True)
        ],
    }


def report(result: dict[str, Any]) -> None:
    print(
        f"Durable commands through Iop (audit stream on) vs raw sqlite3 sending the same statements "
        f"(SQLite {result['sqlite_version']}, WAL, synchronous=FULL)"
    )
    print(
        f"workload: {result['cases']} cases, each its whole life ({len(world.LIFE)} steps, "
        f"{result['configurations']['disk']['commands_per_round'] // result['cases']} commands): "
        f"{', '.join(name for name, _s in world.LIFE)}"
    )
    print(
        f"{result['rounds']} rounds, sides alternating every {result['block']} case(s); load average before "
        f"{result['load_before']}, after {result['load_after']}"
    )
    print()
    print(f"{'where':34}{'service commands/s':>22}{'raw commands/s':>22}{'ratio min/median/max':>26}")
    for name, c in result["configurations"].items():
        s, r, q = c["service_per_s"], c["raw_per_s"], c["ratio"]
        print(
            f"{name + ' (' + c['directory'] + ')':34}{s['min']:>7,.0f} {s['median']:>6,.0f} {s['max']:>6,.0f}"
            f"{r['min']:>9,.0f} {r['median']:>6,.0f} {r['max']:>6,.0f}"
            f"{q['min']:>10.2f} {q['median']:>6.2f} {q['max']:>6.2f}x"
        )
    for name, c in result["configurations"].items():
        s, r, q = c["service_per_cpu_s"], c["raw_per_cpu_s"], c["cpu_ratio"]
        print(
            f"{name}, per CPU second of this process in each side's blocks: service {s['median']:,.0f}, "
            f"raw {r['median']:,.0f} commands/s (medians), ratio {q['min']:.2f}/{q['median']:.2f}/{q['max']:.2f}x"
        )
    disk = result["configurations"]["disk"]["ratio"]["median"]
    print(f"target: on disk >= {TARGET}x (median of rounds): {'met' if result['pass'] else 'NOT met'} ({disk:.2f}x)")
    print("raw side: the service's captured statements; every table identical after each round: yes")


def print_sql(c: dict[str, Any]) -> None:
    print(f"\nstatements of one case's life: {c['statements_per_case']} in {c['transactions_per_case']} transactions")
    for name, txns in c["life"]:
        print(f"  {name}")
        for t in txns:
            print(f"      {' | '.join(t)}")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--cases", type=int, default=40, help="timed cases per round and side (default 40)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, at least 3 (default 3)")
    p.add_argument("--block", type=int, default=1, help="cases per side before switching sides (default 1)")
    p.add_argument("--dir", type=Path, default=None, help="the on-disk directory (default: the temp dir)")
    p.add_argument("--no-cpu-only", action="store_true", help="leave out the run on tmpfs")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--check", action="store_true", help=f"exit 1 when the on-disk ratio is below {TARGET}")
    p.add_argument("--show-sql", action="store_true", help="list the statements of one case's life")
    args = p.parse_args(argv)
    if args.cases < 1 or args.rounds < 3 or args.block < 1:
        p.error("need --cases >= 1, --rounds >= 3 and --block >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "sqlite_version": sqlite3.sqlite_version,
        "cases": args.cases,
        "rounds": args.rounds,
        "block": args.block,
        "load_before": loads(),
        "configurations": {},
    }
    places = {"disk": args.dir or Path(tempfile.gettempdir())}
    tmpfs = cpu_only_dir()
    if tmpfs is not None and not args.no_cpu_only:
        places["tmpfs (CPU only)"] = tmpfs
    for name, where in places.items():
        result["configurations"][name] = configuration(where, args.cases, args.rounds, args.block)
    result["load_after"] = loads()
    result["pass"] = result["configurations"]["disk"]["ratio"]["median"] >= TARGET
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        report(result)
        if args.show_sql:
            print_sql(result["configurations"]["disk"])
    return 1 if args.check and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
