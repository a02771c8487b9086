"""(a) of the sweep benchmark: sweeps when nothing is due, against their statements replayed raw.

On a copy of (b)'s file with the clock at 2026-01-12 09:00, before any timer is due: the median
wall time of ``Iop.sweep_timers()`` and of ``Iop.tick()`` (the guideline sweep, then the timer
sweep), each run alternating with the raw replay of the statements it sent (captured once), after a
warm-up; the file must not change.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import world
from benchmarks.capture import Entry, Recorder, fingerprint, listening, open_raw, replay
from benchmarks.sweep_data import BUILT_AT


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
    iop = world.connect(path, BUILT_AT)
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
