"""The sweep benchmark's sides, each in a process of its own so each side's peak memory is its own.

``python -m benchmarks.sweep_children service --db FILE [--cold]`` sweeps FILE once through the
product, set up as ``iop scheduler run`` sets itself up (the audit stream to a file beside the
database and to stderr, ``daemon.prepare``), unless ``--cold``. ``... raw --db FILE --stream S``
replays the captured statements S through plain ``sqlite3``; it imports neither SQLAlchemy nor
iop_workflow. ``... sqlalchemy --db FILE --stream S`` replays them through SQLAlchemy's
``Connection.exec_driver_sql`` on the same kind of connection: the floor of any service on
SQLAlchemy, measured beside the other two. Each prints its figures as one JSON line.
:func:`run_child` starts one through a small launcher: Linux carries a parent's RSS high-water
mark across fork and exec into a child's ``ru_maxrss``, so a child started from the (large)
benchmark process would report its size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.capture import Entry, max_rss_kib, open_raw, read_stream, replay, replay_sqlalchemy, vm_hwm_kib
from benchmarks.harness import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def child_service(db: Path, *, cold: bool = False) -> dict[str, Any]:
    """(b) through the service: one ``Iop.sweep_timers()``, as the daemon runs it (unless ``cold``)."""
    from benchmarks import world
    from benchmarks.sweep_data import FIRE_AT

    iop = world.connect(db, FIRE_AT, to_stderr=True)
    with iop.app.db.engine.connect():  # open the pooled connection (and its PRAGMAs) before the clock runs
        pass
    prepare_s = 0.0
    if not cold:
        from iop_workflow.scheduling.daemon import prepare

        started = time.perf_counter()
        prepare(iop.app)
        prepare_s = time.perf_counter() - started
    before = max_rss_kib()
    cpu, started = cpu_seconds(), time.perf_counter()
    report = iop.sweep_timers()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    iop.close()
    counts = {k: report[k] for k in ("due", "fired", "skipped", "alerts", "refused", "failed")}
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "prepare_s": prepare_s,
        "max_rss_kib": max_rss_kib(),
        "vm_hwm_kib": vm_hwm_kib(),
        "rss_before_kib": before,
        **counts,
    }


def timed_replay(stream: Path, replay_one: Callable[[list[Entry]], None]) -> dict[str, Any]:
    """Replay the captured ``stream`` a transaction at a time (unpickling outside the timed part)."""
    before = max_rss_kib()
    seconds, cpu, statements, transactions = 0.0, 0.0, 0, 0
    with stream.open("rb") as handle:
        for txn in read_stream(handle):
            cpu0, started = cpu_seconds(), time.perf_counter()
            replay_one(txn)
            seconds, cpu = seconds + time.perf_counter() - started, cpu + cpu_seconds() - cpu0
            statements += len(txn) - 1
            transactions += 1
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "max_rss_kib": max_rss_kib(),
        "vm_hwm_kib": vm_hwm_kib(),
        "rss_before_kib": before,
        "statements": statements,
        "transactions": transactions,
    }


def child_raw(db: Path, stream: Path, busy_ms: int) -> dict[str, Any]:
    """(b) through raw sqlite3: replay the captured stream, one transaction in memory at a time."""
    conn = open_raw(db, busy_ms)
    try:
        return timed_replay(stream, lambda txn: replay(conn, txn))
    finally:
        conn.close()


def child_sqlalchemy(db: Path, stream: Path, busy_ms: int) -> dict[str, Any]:
    """(b)'s floor: the captured stream replayed through SQLAlchemy (``replay_sqlalchemy``) on a
    connection set up as the raw side's, without iop_workflow."""
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://", creator=lambda: open_raw(db, busy_ms))
    try:
        with engine.connect() as conn:
            return timed_replay(stream, lambda txn: replay_sqlalchemy(conn, txn))
    finally:
        engine.dispose()


def run_child(*args: str, stderr: Path) -> dict[str, Any]:
    """Run one side (``args`` as for this module's command line); its stderr (the daemon's stream) to a file."""
    cmd = [sys.executable, "-S", "-c", LAUNCHER, sys.executable, "-m", "benchmarks.sweep_children", *args]
    with stderr.open("ab") as err:
        done = subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.PIPE, stderr=err, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {done.returncode}; see {stderr}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("side", choices=("service", "raw", "sqlalchemy"))
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--cold", action="store_true")
    p.add_argument("--stream", type=Path)
    p.add_argument("--busy-ms", type=int, default=10_000)
    args = p.parse_args(argv)
    if args.side == "service":
        out = child_service(args.db, cold=args.cold)
    elif args.side == "raw":
        out = child_raw(args.db, args.stream, args.busy_ms)
    else:
        out = child_sqlalchemy(args.db, args.stream, args.busy_ms)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
