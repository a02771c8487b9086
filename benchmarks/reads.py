"""Reads at growing size: the first page of `iop case list`, streamed `--json` memory, `audit verify`.

For each size (default 1k, 10k and 100k cases, SQLite) it reports:

- **first page**: `Iop.case_page(limit=50)` (the one paging read of `iop case list` and
  `GET /v1/cases`), the sizes interleaved round by round, min/median/max; target: the
  largest size's median within 1.5x the smallest's. The CLI's wall time for `iop case list`
  (the same page, Python start-up included) is reported beside it.
- **streamed memory**: the peak RSS (``ru_maxrss`` of the child, ``os.wait4``) of
  `iop --json case list` and `iop report register --format json` written to /dev/null;
  target: flat (the largest size within 1.25x the smallest, plus 5 MB of slack).
- **verify**: `audit verify`'s chain pass (``verify_chains`` over ``ledger.chain_records``)
  against a bare loop that reads the same rows with sqlite3 and hashes each record's
  content (``json`` + ``content_hash``, nothing else); target: within 3x. The whole
  `Iop.verify()` and its fact, timer and schema checks are timed beside it, and the
  peak RSS of `iop audit verify`.

**How the data is made.** ``--template`` cases (default 1,000) are built through the real
write path (`Iop`: organisations, cases opened, dialogue meetings, assessments, legal
checks, agreements, contributions, decisions, signatures and assignments; the audit
stream on, as the CLI writes it): a mix of initiative, dialogue, assessment and signed
cases over 40 organisations. Larger sizes are grown from them by cloning each template
case under a new ref from the case counter: its case row, its open timers, its fact rows
(each bound to the clone's record by ``log_seq``), and its log records, re-chained: each
clone record gets a new ``seq`` and ``case_ref``, the ``prev_hash`` of its predecessor,
and its hash recomputed with the product's ``LogRecord.compute_hash``. The fact rows'
``row_digest`` covers no id, so it still holds. Every size is then checked with the
product's own `Iop.verify()`: the benchmark fails unless the whole log verifies.

The data is built in ``benchmarks/reads_data.py``, each measurement taken in
``benchmarks/reads_measure.py``; this module runs them size by size and reports the targets.

    python -m benchmarks.reads [--sizes 1000,10000,100000] [--template 1000] [--rounds 5]
    python -m benchmarks.reads --smoke      # CI: small sizes, every step, every check
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import load1, spread
from benchmarks.reads_data import build_templates, grow
from benchmarks.reads_measure import bare_hash_loop, child, cli_env, first_page, timed_verify


# -- the run --------------------------------------------------------------------------------------
def databases(work: Path, sizes: list[int], template: int) -> Iterator[tuple[int, Path]]:
    base = work / "template.db"
    start = time.perf_counter()
    build_templates(f"sqlite:///{base}", template, work / "audit.jsonl")
    print(f"built {template} cases through the write path in {time.perf_counter() - start:.1f} s", flush=True)
    for size in sizes:
        path = work / f"reads-{size}.db"
        with sqlite3.connect(base) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        start = time.perf_counter()
        made = grow(f"sqlite:///{path}", size)
        print(f"{size}: {made} cases cloned in {time.perf_counter() - start:.1f} s", flush=True)
        yield size, path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--template", type=int, default=1000, help="cases built through the write path")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--smoke", action="store_true", help="sizes 120,600 from 100 templates, 2 rounds")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    template, rounds = args.template, args.rounds
    if args.smoke:
        sizes, template, rounds = [120, 600], 100, 2
    if min(sizes) < template:
        p.error("every size must be at least --template")
    print(f"reads benchmark: sizes {sizes}, {template} template cases, {rounds} rounds, load {load1()}")
    work = Path(tempfile.mkdtemp(prefix="iop-reads-"))
    try:
        dbs = dict(databases(work, sizes, template))
        results = measure(work, dbs, rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report(results, sizes) or not args.check else 1


def measure(work: Path, dbs: dict[int, Path], rounds: int) -> dict[int, dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {size: {"page": [], "cli_page": []} for size in dbs}
    for _ in range(rounds):  # the sizes interleaved, round by round
        for size, path in dbs.items():
            results[size]["page"].append(first_page(f"sqlite:///{path}"))
    for size, path in dbs.items():
        url, home = f"sqlite:///{path}", work / f"home-{size}"
        home.mkdir()
        env = cli_env(url, home)
        results[size]["cli_page"] = [child(["case", "list"], env)[0] for _ in range(max(rounds // 2, 1))]
        listed = work / "list.json"
        results[size]["list_json_kb"] = child(["--json", "case", "list"], env, listed)[1]
        assert len(json.loads(listed.read_text(encoding="utf-8"))) == size, "the streamed list holds every case"
        results[size]["register_json_kb"] = child(["report", "register", "--format", "json"], env)[1]
        results[size]["verify_kb"] = child(["audit", "verify"], env)[1]
        results[size]["bare"], results[size]["records"] = bare_hash_loop(path)
        results[size].update(timed_verify(url))
        listed.unlink()
    return results


def report(results: dict[int, dict[str, Any]], sizes: list[int]) -> bool:
    small, large = min(sizes), max(sizes)
    met = True
    print(
        f"\n{'cases':>8} {'records':>9} {'page ms (min/med/max)':>24} {'cli page s':>10} {'list MB':>8} "
        f"{'register MB':>11} {'verify MB':>9} {'bare s':>7} {'chain s':>8} {'facts s':>8} {'timers s':>8} "
        f"{'schema s':>8} {'verify s':>8}"
    )
    for size in sizes:
        r = results[size]
        page = spread([x * 1000 for x in r["page"]], 2)
        print(
            f"{size:>8} {r['records']:>9} {page['min']:>7} / {page['median']:>6} / {page['max']:>6} "
            f"{spread(r['cli_page'], 2)['median']:>10} {r['list_json_kb'] / 1024:>8.1f} "
            f"{r['register_json_kb'] / 1024:>11.1f} {r['verify_kb'] / 1024:>9.1f} {r['bare']:>7.2f} "
            f"{r['chain']:>8.2f} {r['facts']:>8.2f} {r['timers']:>8.2f} {r['schema']:>8.2f} "
            f"{r['verify']:>8.2f}"
        )
    ratio = spread(results[large]["page"], 6)["median"] / spread(results[small]["page"], 6)["median"]
    met &= _target(f"first page {large}/{small}: {ratio:.2f}x", ratio <= 1.5, "<= 1.5x")
    for key in ("list_json_kb", "register_json_kb", "verify_kb"):
        grew = results[large][key] / results[small][key]
        flat = results[large][key] <= results[small][key] * 1.25 + 5 * 1024
        met &= _target(f"{key[:-3]} peak RSS {large}/{small}: {grew:.2f}x", flat, "flat: <= 1.25x + 5 MB")
    for size in sizes:
        chain = results[size]["chain"] / results[size]["bare"]
        met &= _target(f"verify chain pass / bare loop at {size}: {chain:.2f}x", chain <= 3, "<= 3x")
    print(f"load {load1()}")
    return met


def _target(what: str, ok: bool, target: str) -> bool:
    print(f"target {what} ({target}): {'met' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
