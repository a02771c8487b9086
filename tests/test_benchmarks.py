"""Every benchmark runs at a smoke size in the full suite (CI), so none can rot unnoticed.

The figures are not checked here (targets are for a quiet machine and the full sizes: see
each module's docstring); what is checked is that each benchmark builds its data through
the current product, runs both sides, and ends with exit 0 (its own correctness checks:
same work on both sides, every 2xx logged, zero errors).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import PG_URL, require_postgres

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(*args: str, timeout: float = 600) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_sweep_benchmark_runs_at_a_smoke_size() -> None:
    out = run("benchmarks/sweep.py", "--cases", "300", "--due", "30", "--idle-cases", "1000", "--runs", "3")
    assert "same work: service, cold, raw and capture copies hold identical transition_log" in out
    assert ": yes" in out


def test_transitions_benchmark_runs_at_a_smoke_size() -> None:
    out = run("benchmarks/transitions.py", "--cases", "20", "--runs", "2")
    assert "raw baseline issued the service's statements: yes" in out
    assert "raw baseline wrote identical cases/transition_log/timers rows: yes" in out


def test_cli_benchmark_runs_at_a_smoke_size() -> None:
    run("benchmarks/cli.py", "--runs", "2")


def test_api_benchmark_runs_at_a_smoke_size() -> None:
    require_postgres()
    out = run("-m", "benchmarks.api", "--smoke", "--backends", "sqlite,postgresql", "--pg-url", PG_URL)
    assert "target sqlite/2 no_errors: met" in out and "target postgresql/2 every_2xx_logged: met" in out


def test_reads_benchmark_runs_at_a_smoke_size() -> None:
    out = run("-m", "benchmarks.reads", "--smoke")
    assert "target first page 600/120:" in out and "target verify chain pass / bare loop at 600:" in out
    assert "target list_json peak RSS 600/120:" in out
