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
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_sweep_benchmark_runs_at_a_smoke_size() -> None:
    out = run("-m", "benchmarks.sweep", "--cases", "120", "--due", "12", "--runs", "3", "--rounds", "3")
    assert (
        "same work: every service, raw and floor copy ends with the captured copy's log, case and timer counts: yes"
        in out
    )
    assert "(b) disk, the stack's floor (the same statements through SQLAlchemy's exec_driver_sql" in out
    assert "(b) fire 12 due, disk" in out and "(b) fire 12 due, tmpfs (CPU only)" in out
    assert "load average before" in out


def test_fire_benchmark_runs_at_a_smoke_size() -> None:
    out = run("-m", "benchmarks.fire_bench", "--cases", "2", "--rounds", "3", "--show-sql")
    assert "every table identical after each round: yes" in out
    assert "disk (" in out and "tmpfs (CPU only)" in out
    for step in ("fire sign", "fire renew", "record_review"):  # the mix, not one trigger
        assert f"\n  {step}\n" in out


def test_cli_benchmark_runs_at_a_smoke_size() -> None:
    run("-m", "benchmarks.cli", "--runs", "2")


def test_no_benchmark_module_shadows_a_dependency_or_patches_sys_path() -> None:
    import importlib.util

    for path in (ROOT / "benchmarks").glob("*.py"):
        if path.stem != "__init__":
            assert importlib.util.find_spec(path.stem) is None, f"benchmarks/{path.name} shadows an installed module"
        assert "sys.path" not in path.read_text(encoding="utf-8"), f"benchmarks/{path.name} patches sys.path"


def test_api_benchmark_runs_at_a_smoke_size() -> None:
    require_postgres()
    out = run("-m", "benchmarks.api", "--smoke", "--backends", "sqlite,postgresql", "--pg-url", PG_URL)
    assert "target sqlite/2 no_errors: met" in out and "target postgresql/2 every_2xx_logged: met" in out


def test_reads_benchmark_runs_at_a_smoke_size() -> None:
    out = run("-m", "benchmarks.reads", "--smoke")
    assert "target first page 600/120:" in out and "target verify chain pass / bare loop at 600:" in out
    assert "target list_json peak RSS 600/120:" in out
