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

    python -m benchmarks.reads [--sizes 1000,10000,100000] [--template 1000] [--rounds 5]
    python -m benchmarks.reads --smoke      # CI: small sizes, every step, every check
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection

from benchmarks.harness import load1, spread
from iop_workflow import FakeClock, Iop
from iop_workflow.audit.chain import FORMAT_AUTH, HASHED_FIELDS, content_hash, record_from_row
from iop_workflow.audit.verify import verify_chains
from iop_workflow.domain.guards import EVALUATED_CRITERIA
from iop_workflow.settings import Settings
from iop_workflow.store import cases as repo
from iop_workflow.store import ledger

STOCKHOLM = ZoneInfo("Europe/Stockholm")
START = datetime(2026, 1, 12, 9, tzinfo=STOCKHOLM)
ACTORS = {
    "anna": frozenset({"registrar", "officer"}),
    "bo": frozenset({"officer"}),
    "eva": frozenset({"signatory"}),
    "lars": frozenset({"legal"}),
    "kim": frozenset({"coordinator"}),
    "system": frozenset({"system"}),
}
CONFIG = '[roles]\ndefault_roles = ["registrar", "officer"]\n'
PLACES = ("Stenungsund", "Kungälv", "Göteborg", "Tjörn")
DECISION = {"decided_on": "2019-05-20", "decided_by": "Kommunstyrelsen", "minutes_ref": "KS § 88/2019 (benchmark)"}
PAGE = 50
BATCH = 1000  # cloned cases written per transaction


def settings() -> Settings:
    return dataclasses.replace(Settings(), actors=ACTORS)


def org_number(i: int) -> str:
    from stdnum import luhn  # python-stdnum: a dependency of the product

    digits = f"802{i:06d}"
    return f"{digits[:6]}-{digits[6:]}{luhn.calc_check_digit(digits)}"


# -- data ---------------------------------------------------------------------------------------
def build_templates(url: str, n: int, audit_log: Path) -> None:
    """``n`` cases through the real write path, a realistic mix of states and facts."""
    with Iop.connect(url, clock=FakeClock(START), settings=settings(), audit_log=audit_log) as iop:
        iop.init()
        orgs = [org_number(i) for i in range(40)]
        for i, number in enumerate(orgs):
            iop.add_organisation(
                name=f"Förening {i}",
                org_number=number,
                legal_form="ideell_forening",
                protected=i % 8 == 0,
                address=f"Gatan {i}",
                contact_email=f"info{i}@example.org",
                actor="anna",
            )
        confirmed = False
        for i in range(n):
            stage, org = i % 10, orgs[i % len(orgs)]
            place = PLACES[i % len(PLACES)] if stage < 3 else "Stenungsund"
            ref = iop.open_case(
                org_number=org,
                municipality=place,
                title=f"Verksamhet {i}",
                challenge="Ett samhällsproblem att möta tillsammans",
                actor="anna",
            )
            if stage < 3:
                continue
            iop.fire(ref, "start_dialogue", actor="anna")
            iop.record_meeting(ref, actor="anna", held_on=START.date(), joint_challenge="Gemensam utmaning")
            if stage % 2 == 0:
                iop.assign(ref, "bo", actor="kim")
            if stage < 5:
                continue
            iop.fire(ref, "submit_for_assessment", actor="anna")
            if stage < 7:
                continue
            guideline = iop.case(ref)["guideline"]["ref"]
            if not confirmed and iop.guideline(guideline).unverified():
                iop.confirm_guideline(guideline, actor="kim", **DECISION)
            confirmed = True
            _sign(iop, ref, guideline)


def _sign(iop: Iop, ref: str, guideline: str) -> None:
    for crit in iop.guideline(guideline).gating():
        if crit.code not in EVALUATED_CRITERIA:
            iop.assess(ref, crit.code, "met", note="Bedömt i dialogen", actor="anna")
    iop.record_legal_check(
        ref,
        actor="lars",
        competence=True,
        procurement_not_required=True,
        no_competition_distortion=True,
        state_aid_basis="non_economic",
        rationale="Icke-ekonomisk verksamhet av allmänt intresse",
    )
    iop.record_agreement(ref, actor="anna", start_on="2026-02-01", end_on="2028-01-31", notice_months=3)
    iop.record_contribution(ref, actor="anna", party="municipality", kind="money", amount="340000", unit="SEK")
    iop.record_contribution(ref, actor="anna", party="organisation", kind="volunteer_hours", amount="2000", unit="h")
    bodies = iop.app.settings.bodies_of("Stenungsund")
    body = "Socialnämnden" if bodies is not None and "Socialnämnden" in bodies.bodies else "Kommunstyrelsen"
    iop.record_decision(ref, actor="eva", body=body, decided_on=START.date(), minutes_ref="SN § 12/2026")
    iop.fire(ref, "sign", actor="eva")


def grow(url: str, total: int) -> int:
    """Clone the database's cases (each template case in turn) until it holds ``total``; the clones made."""
    with Iop.connect(url, clock=FakeClock(START), settings=settings(), audit_log=False) as iop:
        with iop.app.db.read() as s:
            templates = [
                _template(s, case)
                for case in s.execute(sa.select(repo.CASES).order_by(repo.CASES.c.id)).mappings().all()
            ]
            case_id = int(s.execute(sa.select(sa.func.max(repo.CASES.c.id))).scalar_one())
            seq = int(s.execute(sa.select(sa.func.max(repo.LOG.c.seq))).scalar_one())
            counter = s.execute(sa.select(repo.COUNTERS)).mappings().one()
        made, year, number = 0, int(counter["year"]), int(counter["last"])
        while len(templates) + made < total:
            rows: dict[str, list[dict[str, Any]]] = {}
            for _ in range(min(BATCH, total - len(templates) - made)):
                template = templates[made % len(templates)]
                case_id, number = case_id + 1, number + 1
                seq = _clone(template, case_id, iop.app.settings.case_ref(year, number), seq, rows)
                made += 1
            with iop.app.db.write() as s:
                for table in ("cases", "transition_log", "timers", *repo.FACT_TABLES):
                    if rows.get(table):
                        s.execute(sa.insert(_table(table)), rows[table])
                s.execute(sa.update(repo.COUNTERS).where(repo.COUNTERS.c.year == year).values(last=number))
        if iop.app.db.engine.dialect.name == "postgresql":  # explicit ids: move each serial past them
            with iop.app.db.write() as s:
                for table in ("cases", "transition_log", "timers", *repo.FACT_TABLES):
                    key = next(iter(_table(table).primary_key.columns)).name
                    s.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "
                            f"(SELECT max({key}) FROM {table}))"
                        )
                    )
        return made


def _table(name: str) -> sa.Table:
    return {"cases": repo.CASES, "transition_log": repo.LOG, "timers": repo.TIMERS, **repo.FACT_TABLES}[name]


def _template(s: Connection, case: sa.RowMapping) -> dict[str, Any]:
    log = s.execute(sa.select(repo.LOG).where(repo.LOG.c.case_ref == case["ref"]).order_by(repo.LOG.c.case_seq))
    facts = {
        name: s.execute(sa.select(t).where(t.c.case_id == case["id"])).mappings().all()
        for name, t in repo.FACT_TABLES.items()
    }
    timers = s.execute(sa.select(repo.TIMERS).where(repo.TIMERS.c.case_id == case["id"])).mappings().all()
    return {"case": dict(case), "log": list(log.mappings()), "facts": facts, "timers": timers}


def _clone(template: dict[str, Any], case_id: int, ref: str, seq: int, rows: dict[str, list[dict[str, Any]]]) -> int:
    """Append one clone's rows to ``rows``; its records re-chained under ``ref`` from ``seq + 1``; the last seq."""
    rows.setdefault("cases", []).append({**template["case"], "id": case_id, "ref": ref})
    seqs: dict[int, int] = {}
    prev = None
    for row in template["log"]:
        seq += 1
        seqs[int(row["seq"])] = seq
        record = dataclasses.replace(
            record_from_row(row), case_ref=ref, seq=seq, prev_hash=prev.hash if prev is not None else row["prev_hash"]
        )
        record = dataclasses.replace(record, hash=record.compute_hash())
        rows.setdefault("transition_log", []).append(
            {**row, "seq": seq, "case_ref": ref, "prev_hash": record.prev_hash, "hash": record.hash}
        )
        prev = record
    for name, facts in template["facts"].items():
        for fact in facts:
            bound = seqs.get(fact["log_seq"]) if fact["log_seq"] is not None else None
            rows.setdefault(name, []).append({**_unnumbered(fact), "case_id": case_id, "log_seq": bound})
    for timer in template["timers"]:
        rows.setdefault("timers", []).append({**_unnumbered(timer), "case_id": case_id})
    return seq


def _unnumbered(row: Any) -> dict[str, Any]:
    """The row without its id: the database numbers the copy."""
    return {k: v for k, v in row.items() if k != "id"}


# -- measurements -------------------------------------------------------------------------------
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
