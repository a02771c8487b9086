"""Small pieces the benchmarks share: spread over rounds, percentiles, the load, concurrent timed work,
A/B sides interleaved block by block, and where a CPU-only run's files go (tmpfs)."""

from __future__ import annotations

import math
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar, cast

T = TypeVar("T")


def load1() -> float:
    """The 1-minute load average (what else the machine was doing)."""
    return round(os.getloadavg()[0], 2)


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of process ``pid`` (Linux /proc; NaN elsewhere)."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 100): a value that was measured."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def spread(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    """min, median and max of the rounds' figures."""
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def run_concurrently(workers: Sequence[Callable[[], T]]) -> tuple[list[T], float]:
    """Run each worker in its own thread, released together; their results and the wall seconds
    from the release to the last one's end. A worker's exception is raised here."""
    results: list[T | None] = [None] * len(workers)
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(workers) + 1)

    def body(i: int, work: Callable[[], T]) -> None:
        barrier.wait()
        try:
            results[i] = work()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=body, args=(i, w), daemon=True) for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if failures:
        raise failures[0]
    return cast("list[T]", results), seconds


def loads() -> list[float]:
    """The 1-, 5- and 15-minute load averages: what else the machine was doing around a run."""
    return [round(x, 2) for x in os.getloadavg()]


TMPFS = Path("/dev/shm")


def cpu_only_dir() -> Path | None:
    """A tmpfs directory where fsync costs nothing (Linux ``/dev/shm``), or None when there is none.

    Both sides run their files there for the CPU-only ratio, beside the on-disk one.
    """
    return TMPFS if TMPFS.is_dir() and os.access(TMPFS, os.W_OK) else None


def interleaved(blocks: int, sides: Mapping[str, Callable[[int], float]]) -> dict[str, float]:
    """Run block 0..``blocks``-1 of every side, the sides' order reversed on every other block
    (A B, B A, A B ...), so a drift in the machine's speed falls on both; each side's call returns
    the seconds it timed of its block. Returns each side's total seconds."""
    total = dict.fromkeys(sides, 0.0)
    order = list(sides)
    for k in range(blocks):
        for name in order if k % 2 == 0 else reversed(order):
            total[name] += sides[name](k)
    return total


def ratio_rounds(service: Sequence[float], raw: Sequence[float], digits: int = 3) -> dict[str, float]:
    """min, median and max over the rounds of service/raw (throughputs: higher is better, 1.0 = as raw)."""
    return spread([s / r for s, r in zip(service, raw, strict=True)], digits)
