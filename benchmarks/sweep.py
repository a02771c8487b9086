"""Timer sweeps on a SQLite file of whole cases: idle latency, firing throughput, peak memory.

Run from the repository root::

    python -m benchmarks.sweep                                   # 10,000 cases, 2,000 due, 3 rounds
    python -m benchmarks.sweep --cases 300 --due 30 --runs 3     # a smoke run (seconds)
    python -m benchmarks.sweep --json --check                    # figures as JSON; exit 1 on a missed target

Data (``benchmarks/sweep_data.py``): one signed case made through the API, cloned whole with plain
sqlite3 to ``--cases`` cases (its facts, its re-chained log, its open ``fire:activate`` timer);
``--due`` of them, spread evenly, are due on 2026-02-01, the others later.

(a) idle (``benchmarks/sweep_idle.py``): the median of ``--runs`` ``Iop.sweep_timers()`` and
    ``Iop.tick()`` calls on that file before anything is due: under 10 ms each.
(b) firing: one ``Iop.sweep_timers()`` at 2026-02-01 09:00 fires the ``--due`` timers, each an
    ``activate`` transition through ``workflow.fire_on`` (the one write path) in a SAVEPOINT of its
    own: at least 1,500 fired per second and 0.3x raw sqlite3 sending the same statements (issue
    #15). The service runs in a process set up as ``iop scheduler run`` sets itself up (audit
    stream to a file and to stderr, ``daemon.prepare``); the raw side replays the statements the
    service sent, captured once on another copy (``benchmarks/capture.py``), in a process that
    imports neither SQLAlchemy nor iop_workflow (``benchmarks/sweep_children.py``). A third side,
    the stack's floor, replays the same statements through SQLAlchemy's cheapest public path
    (``Connection.exec_driver_sql``) without iop_workflow: no service on SQLAlchemy can do better
    than it, so its ratio to raw bounds the service's. ``--rounds`` rounds (at least 3), each side
    on a fresh copy, in the order A B C, C B A, ...; min / median / max.
    All of it twice: on disk (WAL, synchronous=FULL) and on tmpfs (``/dev/shm``: fsync is free, the
    ratio is the CPU-only one). Every copy must end with the same log (case_ref, case_seq, hash) and
    the same case and timer counts as the captured one. A *cold* sweep (no ``daemon.prepare``, as a
    one-off ``tick``) runs once on disk and is printed under the table.
(c) the peak memory (max RSS) of the service's sweep process in (b): under 200 MB.

Ratios: higher is better, 1.0 = as good as raw sqlite3 (service/raw for throughput, raw/service for
time and memory).
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
from pathlib import Path
from typing import Any

from benchmarks import sweep_data, world
from benchmarks.capture import Recorder, fingerprint, listening
from benchmarks.harness import cpu_only_dir, loads, ratio_rounds, spread
from benchmarks.sweep_children import run_child
from benchmarks.sweep_idle import idle_figures
from iop_workflow.store.engine import BUSY_TIMEOUT_MS

LATER_DUE = "2026-06-01"  # the open timer of the cases not due in (b)
IDLE_TARGET_MS = 10.0
FIRE_TARGET_PER_S = 1500.0  # issue #15: the single write path, >= 1,500 fired/s ...
FIRE_TARGET_RATIO = 0.3  # ... and >= 0.3x raw sqlite3 sending the same statements
RSS_TARGET_MB = 200.0
# (b)'s sides, in the order of even rounds (odd rounds reverse it). "sqlalchemy" replays the raw
# side's statements through SQLAlchemy without the product: the floor of any service on the stack.
SIDES = ("service", "raw", "sqlalchemy")


def capture_fire(path: Path, stream: Path) -> dict[str, Any]:
    """Sweep the capture copy with the listener on; the statements go to ``stream``."""
    iop = world.connect(path, sweep_data.FIRE_AT)
    try:
        with stream.open("wb") as out, listening(iop.app.db.engine, Recorder(out)) as recorder:
            report = iop.sweep_timers()
    finally:
        iop.close()
    fired = report["fired"] or 1
    return {
        "fired": report["fired"],
        "statements": recorder.statements,
        "statements_per_fired": round(recorder.statements / fired, 2),
        "commits": recorder.commits,
        "by_shape": {s: round(n / fired, 3) for s, n in recorder.shapes.most_common()},
    }


def fire_rounds(built: Path, place: Path, stream: Path, due: int, rounds: int) -> dict[str, Any]:
    """(b) and (c) in ``place``: ``rounds`` rounds of the service and the raw side, alternating."""
    work = Path(tempfile.mkdtemp(prefix="iop-sweep-bench-", dir=place))
    expected = fingerprint(built.with_name("fire-capture.db"))
    sides: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    try:
        for r in range(rounds):
            for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                db = work / f"{side}-{r}.db"
                shutil.copyfile(built, db)
                args = [] if side == "service" else ["--stream", str(stream), "--busy-ms", str(BUSY_TIMEOUT_MS)]
                out = run_child(side, "--db", str(db), *args, stderr=work / "stderr.log")
                if fingerprint(db) != expected:
                    raise SystemExit(f"round {r}: the {side} copy differs from the captured one after the sweep")
                if side == "service" and (out["fired"] != due or out["failed"] or out["refused"]):
                    raise SystemExit(f"round {r}: expected {due} fired timers: {out}")
                out["per_s"] = due / out["seconds"]
                sides[side].append(out)
                db.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    service, raw, floor = ([s["per_s"] for s in sides[side]] for side in SIDES)
    # Per CPU second of each side's process: what other jobs on the machine disturb least.
    service_cpu, raw_cpu, floor_cpu = ([due / s["cpu_s"] for s in sides[side]] for side in SIDES)
    return {
        "directory": str(place),
        "service_per_s": spread(service, 0),
        "raw_per_s": spread(raw, 0),
        "ratio": ratio_rounds(service, raw),
        "service_per_cpu_s": spread(service_cpu, 0),
        "raw_per_cpu_s": spread(raw_cpu, 0),
        "cpu_ratio": ratio_rounds(service_cpu, raw_cpu),
        "floor_per_s": spread(floor, 0),
        "floor_ratio": ratio_rounds(floor, raw),
        "service_to_floor": ratio_rounds(service, floor),
        "floor_cpu_ratio": ratio_rounds(floor_cpu, raw_cpu),
        "service_max_rss_mb": round(max(s["max_rss_kib"] for s in sides["service"]) * 1024 / 1e6, 1),
        "raw_max_rss_mb": round(max(s["max_rss_kib"] for s in sides["raw"]) * 1024 / 1e6, 1),
        "prepare_s": round(max(s["prepare_s"] for s in sides["service"]), 3),
        "rounds": sides,
    }


def fire_figures(work: Path, cases: int, due: int, rounds: int, cpu_only: bool) -> dict[str, Any]:
    built = work / "fire-built.db"
    build = sweep_data.build(built, total=cases, due=due, later_due=LATER_DUE)
    shutil.copyfile(built, work / "fire-capture.db")
    stream = work / "fire-statements.pickle"
    capture = capture_fire(work / "fire-capture.db", stream)
    if capture["fired"] != due:
        raise SystemExit(f"expected {due} fired timers: the capture fired {capture['fired']}")
    places = {"disk": work}
    tmpfs = cpu_only_dir()
    if cpu_only and tmpfs is not None:
        places["tmpfs (CPU only)"] = tmpfs
    out: dict[str, Any] = {"build": build, "capture": capture}
    out["places"] = {name: fire_rounds(built, place, stream, due, rounds) for name, place in places.items()}
    cold_db = work / "fire-cold.db"
    shutil.copyfile(built, cold_db)
    cold = run_child("service", "--db", str(cold_db), "--cold", stderr=work / "stderr.log")
    out["cold_per_s"] = round(due / cold["seconds"])
    return out


def rows_of(result: dict[str, Any]) -> list[tuple[str, str, str, str, str, bool]]:
    rows = []
    idle = result.get("idle", {})
    for name in ("sweep_timers", "tick") if idle else ():
        f = idle[name]
        rows.append(
            (
                f"(a) idle {name}(), {result['fire']['build']['cases']:,} cases",
                f"{f['service_ms']:.3f} ms",
                f"{f['raw_ms']:.3f} ms",
                f"{f['ratio']:.3f}x",
                f"< {IDLE_TARGET_MS:g} ms",
                f["service_ms"] < IDLE_TARGET_MS,
            )
        )
    due = result["fire"]["build"]["due"]
    for name, p in result["fire"]["places"].items():
        s, r, q = p["service_per_s"], p["raw_per_s"], p["ratio"]
        met = s["median"] >= FIRE_TARGET_PER_S and q["median"] >= FIRE_TARGET_RATIO
        rows.append(
            (
                f"(b) fire {due:,} due, {name}",
                f"{s['min']:,.0f}/{s['median']:,.0f}/{s['max']:,.0f}",
                f"{r['min']:,.0f}/{r['median']:,.0f}/{r['max']:,.0f}",
                f"{q['min']:.2f}/{q['median']:.2f}/{q['max']:.2f}x",
                f">= {FIRE_TARGET_PER_S:,.0f}/s, {FIRE_TARGET_RATIO:g}x",
                met,
            )
        )
    disk = result["fire"]["places"]["disk"]
    s_mb, r_mb = disk["service_max_rss_mb"], disk["raw_max_rss_mb"]
    rows.append(
        (
            "(c) max RSS of (b)'s sweep process",
            f"{s_mb:.1f} MB",
            f"{r_mb:.1f} MB",
            f"{r_mb / s_mb:.2f}x",
            f"< {RSS_TARGET_MB:g} MB",
            s_mb < RSS_TARGET_MB,
        )
    )
    return rows


def report(result: dict[str, Any]) -> None:
    fire = result["fire"]
    b = fire["build"]
    print(f"Timer sweeps on SQLite {result['sqlite_version']} files (WAL, synchronous=FULL), audit stream on")
    print(f"load average before: {result['load_before']}, after: {result['load_after']}")
    print(
        f"build: {b['cases']:,} whole cases of {b['rows_per_case']} rows each in {b['total_s']:.1f} s, "
        f"{b['file_mb']:,.0f} MB; {b['due']:,} due on {b['timer']['due_on']} ({b['timer']['action']})"
    )
    print(f"(b): {result['rounds']} rounds per place, sides alternating; min/median/max over the rounds")
    print()
    print(f"{'figure':40}{'service':>20}{'raw sqlite3':>22}{'ratio':>20}   {'target':22}met?")
    for figure, service, raw, ratio, target, met in rows_of(result):
        print(f"{figure:40}{service:>20}{raw:>22}{ratio:>20}   {target:22}{'yes' if met else 'NO'}")
    print("ratio: higher is better, 1.0 = as good as raw sqlite3 (service/raw for /s, raw/service for ms and MB)")
    print()
    if "idle" in result:
        for name in ("sweep_timers", "tick"):
            f = result["idle"][name]
            print(f"(a) {name}(): median of {result['idle']['runs']}; statements: {', '.join(f['statements'])}")
    for name, p in fire["places"].items():
        s, r, q = p["service_per_cpu_s"], p["raw_per_cpu_s"], p["cpu_ratio"]
        print(
            f"(b) {name}, per CPU second of each side's process: service {s['min']:,.0f}/{s['median']:,.0f}/"
            f"{s['max']:,.0f}, raw {r['min']:,.0f}/{r['median']:,.0f}/{r['max']:,.0f}, "
            f"ratio {q['min']:.2f}/{q['median']:.2f}/{q['max']:.2f}x"
        )
    for name, p in fire["places"].items():
        f, q, c = p["floor_per_s"], p["floor_ratio"], p["service_to_floor"]
        print(
            f"(b) {name}, the stack's floor (the same statements through SQLAlchemy's exec_driver_sql, no product "
            f"code): {f['min']:,.0f}/{f['median']:,.0f}/{f['max']:,.0f}/s, {q['min']:.2f}/{q['median']:.2f}/"
            f"{q['max']:.2f}x raw (per CPU second {p['floor_cpu_ratio']['median']:.2f}x); "
            f"the service {c['min']:.2f}/{c['median']:.2f}/{c['max']:.2f}x of it"
        )
    c = fire["capture"]
    print(
        f"(b) cold, a fresh process without daemon.prepare (a one-off `iop scheduler tick`): {fire['cold_per_s']:,}/s"
    )
    print(
        f"(b) {c['statements']:,} statements, {c['statements_per_fired']} per fired timer, {c['commits']} commits; "
        f"per fired: {', '.join(f'{n:g} {s}' for s, n in c['by_shape'].items() if n >= 0.5)}"
    )
    print("same work: every service, raw and floor copy ends with the captured copy's log, case and timer counts: yes")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--cases", type=int, default=10_000, help="whole cases in the file (default 10000)")
    p.add_argument("--due", type=int, default=2_000, help="due timers among them (default 2000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of (b) per place, at least 3 (default 3)")
    p.add_argument("--runs", type=int, default=30, help="timed idle runs per side and call (default 30)")
    p.add_argument("--skip-idle", action="store_true", help="leave out (a)")
    p.add_argument("--no-cpu-only", action="store_true", help="leave out the rounds on tmpfs")
    p.add_argument("--dir", type=Path, default=None, help="the on-disk directory (default: the temp dir)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    if not (1 <= args.due <= args.cases and args.runs >= 1 and args.rounds >= 3):
        p.error("need 1 <= --due <= --cases, --runs >= 1 and --rounds >= 3")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="iop-sweep-bench-", dir=args.dir))
    result: dict[str, Any] = {"sqlite_version": sqlite3.sqlite_version, "rounds": args.rounds, "load_before": loads()}
    started = time.perf_counter()
    try:
        result["fire"] = fire_figures(work, args.cases, args.due, args.rounds, not args.no_cpu_only)
        if not args.skip_idle:
            idle_db = work / "idle.db"
            shutil.copyfile(work / "fire-built.db", idle_db)
            result["idle"] = idle_figures(idle_db, args.runs, BUSY_TIMEOUT_MS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["load_after"], result["seconds"] = loads(), round(time.perf_counter() - started, 1)
    rows = rows_of(result)
    result["table"] = [dict(zip(("figure", "service", "raw", "ratio", "target", "met"), r, strict=True)) for r in rows]
    result["pass"] = all(r[-1] for r in rows)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        report(result)
    return 1 if args.check and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
