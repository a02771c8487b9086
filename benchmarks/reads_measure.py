"""The reads benchmark's measurements: the first page, a child ``iop``'s peak RSS, the verify passes.

Each is one timed step; :mod:`benchmarks.reads` runs them at every size and reports the targets.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from benchmarks.reads_data import settings
from iop_workflow import Iop
from iop_workflow.audit.chain import FORMAT_AUTH, HASHED_FIELDS, content_hash
from iop_workflow.audit.verify import verify_chains
from iop_workflow.store import ledger

CONFIG = '[roles]\ndefault_roles = ["registrar", "officer"]\n'
PAGE = 50


def first_page(url: str) -> float:
    with Iop.connect(url, settings=settings(), audit_log=False) as iop:
        start = time.perf_counter()
        found = iop.case_page(limit=PAGE)
        seconds = time.perf_counter() - start
    assert len(found.items) == PAGE and found.next is not None, "the first page is full and names the next"
    return seconds


def cli_env(url: str, home: Path) -> dict[str, str]:
    (home / "iop.toml").write_text(CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOP_")}
    return {
        **env,
        "IOP_DATABASE_URL": url,
        "IOP_CONFIG": str(home / "iop.toml"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "PYTHONUTF8": "1",
    }


# The child prints its own peak RSS at exit: ``ru_maxrss`` of a child would not do, as Linux keeps
# the parent's high-water mark across fork and exec (this process holds far more than `iop` needs).
_PEAK = (
    "import atexit, re, runpy, sys\n"
    "def peak():\n"
    "    text = open('/proc/self/status').read()\n"
    "    sys.stderr.write('\\nVmHWM_KB=' + re.search(r'VmHWM:\\s+(\\d+)', text).group(1) + '\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = ['iop', *sys.argv[1:]]\n"
    "runpy.run_module('iop_workflow', run_name='__main__')\n"
)


def child(args: list[str], env: dict[str, str], out: Path | None = None) -> tuple[float, int]:
    """Run ``iop ARGS`` (stdout to ``out`` or /dev/null): wall seconds and its peak RSS in kB (VmHWM)."""
    with out.open("wb") if out is not None else open(os.devnull, "wb") as sink:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _PEAK, *args], env=env, stdout=sink, stderr=subprocess.PIPE, check=False
        )
        seconds = time.perf_counter() - start
    err = done.stderr.decode()
    assert done.returncode == 0, f"iop {' '.join(args)}: exit {done.returncode}: {err[-2000:]}"
    return seconds, int(err.rpartition("VmHWM_KB=")[2].split()[0])


def bare_hash_loop(path: Path) -> tuple[float, int]:
    """Read every record with sqlite3 in the chain pass's order and hash its content: the floor."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    start = time.perf_counter()
    n = bad = 0
    for row in conn.execute("SELECT * FROM transition_log ORDER BY case_ref, case_seq"):
        content = {name: row[name] for name in HASHED_FIELDS}
        content["roles"], content["data"] = json.loads(row["roles"]), json.loads(row["data"])
        if row["record_format"] >= FORMAT_AUTH:
            content["auth"] = json.loads(row["auth"]) if row["auth"] is not None else None
            content["format"] = row["record_format"]
        bad += content_hash(content) != row["hash"]
        n += 1
    seconds = time.perf_counter() - start
    conn.close()
    assert bad == 0, f"{bad} of {n} records do not hash to their stored hash"
    return seconds, n


def timed_verify(url: str) -> dict[str, float]:
    """The chain pass, the whole verify and its whole-log checks, each timed on its own (seconds)."""
    from iop_workflow.service import fact_proof, guidelines, timer_proof
    from iop_workflow.store import schema_objects

    out: dict[str, float] = {}
    with Iop.connect(url, settings=settings(), audit_log=False) as iop:
        with iop.app.db.read() as s:
            start = time.perf_counter()
            report = verify_chains(ledger.chain_records(s), ledger.case_states(s))
            out["chain"] = time.perf_counter() - start
            assert report.ok, report.problems[:3]
            parts = {
                "facts": lambda: fact_proof.check(s),
                "schema": lambda: schema_objects.problems(s),
                "guidelines": lambda: guidelines.checked(s),
                "timers": lambda: _timer_check(s, timer_proof),
            }
            for name, check in parts.items():
                start = time.perf_counter()
                problems = check()
                out[name] = time.perf_counter() - start
                assert not problems, f"{name}: {problems[:3]}"
        start = time.perf_counter()
        whole = iop.verify()
        out["verify"] = time.perf_counter() - start
    assert whole.ok, f"the grown log does not verify: {whole.problems[:3]}"
    return out


def _timer_check(s: Connection, timer_proof: Any) -> list[dict[str, Any]]:
    planned = timer_proof.Planned(timer_proof.timer_rows(s))
    for _rec in planned.watch(ledger.chain_records(s)):
        pass
    return list(planned.problems)
