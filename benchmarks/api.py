"""Transitions over HTTP (a real ``iop serve``) next to ``Iop.fire()`` in process, measured in the same run.

Run from the repository root::

    python -m benchmarks.api --smoke                      # seconds: CI runs it so it cannot rot
    python -m benchmarks.api --clients 8,32 --backends sqlite,postgresql --rounds 3 --json-out r.json

Sides, on byte-identical copies of one database per back-end (benchmarks/api_setup.py):

(A) HTTP: ``python -m iop_workflow --db URL serve --port N`` on a free loopback port, as users run it
    (one uvicorn worker, its audit stream on at the default place: beside the SQLite file, in the data
    directory for PostgreSQL; its JSON access line per request on stderr, here a file). N threads,
    each its own ``httpx.Client`` (keep-alive) and its own API token, fire on their own cases: each
    step is one POST with If-Match set to the ETag of the previous response (the first from set-up)
    and, unless ``--no-idempotency-key``, a fresh Idempotency-Key, as a careful integration sends.
(B) in process: ``Iop.fire()`` (and ``Iop.record_meeting()``) from N threads sharing one ``Iop``, audit
    stream on, each thread acting as its own login (``actor=``, resolved from the grants per call).

Rounds: each round runs every configuration (back-end x clients), A and B back to back on fresh
cases, the order of the two alternating from round to round; the 1-minute load average is taken
before each side. Throughput is successful steps over the wall time from the threads' common start
to the last one's end; latencies are per step (A: the client's view, loopback included). CPU per
step (user + system) is counted apart from the wall clock, so it stays readable on a busy machine:
A the server process (/proc) and this process (the clients), B this process. After all rounds each
success's (seq, case_ref, case_seq) must be in its database's transition_log (and, reported beside
it, in the audit stream's file).

Targets: every configuration 0 errors (any non-2xx or exception) and every 2xx logged (exit 1 when
missed, ``--smoke`` included); at 8 clients on SQLite, HTTP >= 0.5x the in-process throughput and
HTTP p99 <= 3x the in-process p99 (medians of the rounds' paired ratios; exit 1 only with ``--check``).
PostgreSQL: ``--pg-url`` (default IOP_TEST_PG_URL, else the test server); databases are created
from it and dropped afterwards.

Left out: TLS, a reverse proxy, OIDC (tokens only), several uvicorn workers, reads other than the
ETag the write returns; the HTTP clients share the machine (and, A only, this process's CPU) with
the server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks import api_setup as world
from benchmarks.api_report import CORRECTNESS, Record, Run, Tally, print_round, print_table, summarise
from benchmarks.harness import cpu_seconds, load1, run_concurrently
from iop_workflow import Iop

PG_URL = os.environ.get("IOP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SMOKE = {"clients": [2], "cases_per_client": 2, "rounds": 3}
WARMUP = (2, 2)  # clients, cases each: untimed, before the first round, on both sides


def interleaved(cases: Sequence[world.Case]) -> list[tuple[world.Case, str]]:
    """A client's steps: the first step of each of its cases, then the second of each, ..."""
    longest = max(len(c.steps) for c in cases)
    return [(c, c.steps[i]) for i in range(longest) for c in cases if i < len(c.steps)]


# --------------------------------------------------------------------------- (A) HTTP


def http_request(ref: str, step: str, today: date) -> tuple[str, dict[str, Any]]:
    if step == "record_meeting":
        return f"/v1/cases/{ref}/records/meeting", {
            "held_on": today.isoformat(),
            "joint_challenge": world.JOINT_CHALLENGE,
        }
    body: dict[str, Any] = {"trigger": step}
    if step == "return_to_dialogue":
        body["reason"] = world.REASON
    return f"/v1/cases/{ref}/transitions", body


def http_client(client: httpx.Client, cases: Sequence[world.Case], today: date, keys: bool) -> Tally:
    tally, broken = Tally(), set()
    etags = {c.ref: f'"{c.version}"' for c in cases}
    for case, step in interleaved(cases):
        if case.ref in broken:
            tally.skipped += 1
            continue
        path, body = http_request(case.ref, step, today)
        headers = {"If-Match": etags[case.ref]}
        if keys:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        start = time.perf_counter()
        try:
            response = client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            tally.errors.append(f"{step}: {type(exc).__name__}")
            broken.add(case.ref)
            continue
        elapsed = time.perf_counter() - start
        if not response.is_success:
            tally.errors.append(f"{step}: {response.status_code} {response.text[:200]}")
            broken.add(case.ref)
            continue
        tally.latencies.append(elapsed)
        etags[case.ref] = response.headers["etag"]
        answer = response.json()
        record = answer.get("record", answer)
        tally.records.append((record["seq"], record["case_ref"], record["case_seq"]))
    return tally


def http_side(server: world.Server, tokens: Sequence[str], batch: world.Batch, today: date, keys: bool) -> Run:
    with ExitStack() as stack:
        clients = [
            stack.enter_context(
                httpx.Client(base_url=server.base, timeout=120, headers={"Authorization": f"Bearer {tokens[i]}"})
            )
            for i in range(len(batch))
        ]
        for c in clients:  # open each keep-alive connection before the clock starts
            c.get("/healthz").raise_for_status()
        load, cpu_server, cpu_here = load1(), cpu_seconds(server.pid), cpu_seconds()
        tallies, seconds = run_concurrently(
            [partial(http_client, c, cases, today, keys) for c, cases in zip(clients, batch, strict=True)]
        )
        cpu = {"server": cpu_seconds(server.pid) - cpu_server, "clients": cpu_seconds() - cpu_here}
    return Run.of(tallies, seconds, load, cpu)


# --------------------------------------------------------------------------- (B) in process


def inprocess_client(iop: Iop, actor: str, cases: Sequence[world.Case], today: date) -> Tally:
    tally, broken = Tally(), set()
    for case, step in interleaved(cases):
        if case.ref in broken:
            tally.skipped += 1
            continue
        start = time.perf_counter()
        try:
            if step == "record_meeting":
                record = iop.record_meeting(case.ref, actor=actor, held_on=today, joint_challenge=world.JOINT_CHALLENGE)
            else:
                reason = world.REASON if step == "return_to_dialogue" else None
                record = iop.fire(case.ref, step, actor=actor, reason=reason)
        except Exception as exc:
            tally.errors.append(f"{step}: {type(exc).__name__}: {exc}"[:300])
            broken.add(case.ref)
            continue
        tally.latencies.append(time.perf_counter() - start)
        tally.records.append((record["seq"], record["case_ref"], record["case_seq"]))
    return tally


def inprocess_side(iop: Iop, batch: world.Batch, today: date) -> Run:
    load, cpu_here = load1(), cpu_seconds()
    tallies, seconds = run_concurrently(
        [partial(inprocess_client, iop, world.client_name(i), cases, today) for i, cases in enumerate(batch)]
    )
    return Run.of(tallies, seconds, load, {"process": cpu_seconds() - cpu_here})


# --------------------------------------------------------------------------- a back-end


@dataclass(slots=True, kw_only=True)
class Backend:
    """A back-end's two databases, their cases for every (round, clients), the server and the API."""

    pair: world.Pair
    tokens: list[str]
    warmup: world.Batch
    batches: dict[tuple[int, int], world.Batch]
    server: world.Server | None = None
    iop: Iop | None = None


def build(pair: world.Pair, clients: Sequence[int], per_client: int, rounds: int) -> Backend:
    started = time.perf_counter()
    world.create_template(pair)
    with Iop.connect(pair.template, settings=world.settings(), audit_log=False) as iop:
        tokens = world.populate(iop, max(*clients, WARMUP[0]))
        warmup = world.make_batch(iop, *WARMUP)
        batches = {(r, n): world.make_batch(iop, n, per_client) for r in range(rounds) for n in clients}
    world.copy_template(pair)
    cases = sum(len(cs) for b in (warmup, *batches.values()) for cs in b)
    print(f"# {pair.backend}: {cases} cases set up and copied in {time.perf_counter() - started:.1f} s", flush=True)
    return Backend(pair=pair, tokens=tokens, warmup=warmup, batches=batches)


def side_runs(b: Backend, batch: world.Batch, today: date, keys: bool, http_first: bool) -> tuple[Run, Run]:
    server, iop = b.server, b.iop
    assert server is not None and iop is not None
    if http_first:
        a = http_side(server, b.tokens, batch, today, keys)
        return a, inprocess_side(iop, batch, today)
    in_process = inprocess_side(iop, batch, today)
    return http_side(server, b.tokens, batch, today, keys), in_process


def logged(url: str, audit: Path, records: Sequence[Record]) -> dict[str, int]:
    """How many of ``records`` the database's transition_log holds, and the audit stream."""
    with Iop.connect(url, settings=world.settings(), audit_log=False) as iop, iop.app.db.read() as s:
        rows = s.execute(sa.text("SELECT seq, case_ref, case_seq FROM transition_log")).all()
    in_db = {(int(r[0]), str(r[1]), int(r[2])) for r in rows}
    streamed = set()
    if audit.exists():
        for line in audit.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            streamed.add((item["seq"], item["case_ref"], item["case_seq"]))
    return {
        "responses_2xx": len(records),
        "distinct": len(set(records)),
        "in_transition_log": sum(r in in_db for r in records),
        "in_audit_stream": sum(r in streamed for r in records),
    }


# --------------------------------------------------------------------------- main


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--clients", default="8,32", help="concurrent clients, comma-separated (default 8,32)")
    p.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql (default both)")
    p.add_argument("--cases-per-client", type=int, default=8, help="cases per client and round (default 8)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each A and B on fresh cases (default 3)")
    p.add_argument("--smoke", action="store_true", help="2 clients, 2 cases each, 3 rounds: seconds")
    p.add_argument("--no-idempotency-key", dest="keys", action="store_false", help="POST without Idempotency-Key")
    p.add_argument("--pg-url", default=PG_URL, help=f"a PostgreSQL database to create others from ({PG_URL})")
    p.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temp dir, removed)")
    p.add_argument("--json-out", type=Path, default=None, help="write the result as JSON to this file")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a performance target is missed too "
        "(a missed correctness target, errors or a 2xx not logged, always exits 1)",
    )
    args = p.parse_args(argv)
    args.clients = [int(x) for x in args.clients.split(",")]
    args.backends = args.backends.split(",")
    if args.smoke:
        args.clients, args.cases_per_client, args.rounds = SMOKE["clients"], SMOKE["cases_per_client"], SMOKE["rounds"]
    if set(args.backends) - {"sqlite", "postgresql"} or min(args.clients) < 1 or args.rounds < 1:
        p.error("--backends: sqlite,postgresql; --clients and --rounds at least 1")
    return args


_T0 = time.perf_counter()


def elapsed() -> str:
    return f"at {time.perf_counter() - _T0:.1f} s"


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    workdir = Path(tempfile.mkdtemp(prefix="iop-api-bench-", dir=args.dir))
    backends: dict[str, Backend] = {}
    try:
        with ExitStack() as stack:
            for name in args.backends:
                pair = world.sqlite_pair(workdir) if name == "sqlite" else world.pg_pair(workdir, args.pg_url)
                stack.callback(world.drop, pair)
                backends[name] = b = build(pair, args.clients, args.cases_per_client, args.rounds)
                b.server = stack.enter_context(world.Server(pair.a, workdir, name, pair.xdg_a))  # starts meanwhile
                b.iop = stack.enter_context(Iop.connect(pair.b, settings=world.settings(), audit_log=pair.audit_b))
            for name, b in backends.items():
                assert b.server is not None
                b.server.wait_ready()
                print(f"# {name}: iop serve pid {b.server.pid} on {b.server.base} ({elapsed()})", flush=True)
            result = measure(args, backends)
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"# measured, checked and cleaned up ({elapsed()})")
    print_table(result)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    missed = [k for c in result["configurations"] for k, ok in c["targets"].items() if not ok]
    return 1 if any(args.check or k in CORRECTNESS for k in missed) else 0


def measure(args: argparse.Namespace, backends: dict[str, Backend]) -> dict[str, Any]:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    today = next(iter(backends.values())).iop.app.clock.today()  # type: ignore[union-attr]
    for b in backends.values():
        side_runs(b, b.warmup, today, args.keys, http_first=True)
    print(f"# warmed up ({elapsed()})", flush=True)
    runs: dict[tuple[str, int], list[tuple[Run, Run]]] = {}
    for r in range(args.rounds):
        for name, b in backends.items():
            for n in args.clients:
                a, bb = side_runs(b, b.batches[(r, n)], today, args.keys, http_first=r % 2 == 0)
                runs.setdefault((name, n), []).append((a, bb))
                print_round(r, (name, n), a, bb, r % 2 == 0)
    print(f"# rounds done ({elapsed()})", flush=True)
    configurations = []
    for key, pairs in runs.items():
        b = backends[key[0]]
        check = {
            "http": logged(b.pair.a, b.pair.audit_a, [x for a, _ in pairs for x in a.tally.records]),
            "in_process": logged(b.pair.b, b.pair.audit_b, [x for _, bb in pairs for x in bb.tally.records]),
        }
        configurations.append(summarise(key, pairs, check))
    steps = {
        n: sum(len(c.steps) for cs in backends[args.backends[0]].batches[(0, n)] for c in cs) for n in args.clients
    }
    return {
        "mix": world.MIX,
        "cases_per_client": args.cases_per_client,
        "rounds": args.rounds,
        "steps_per_round": steps,
        "idempotency_key": args.keys,
        "python": sys.version.split()[0],
        "argv": sys.argv[1:],
        "started_at": started,
        "configurations": configurations,
        "targets_met": all(all(c["targets"].values()) for c in configurations),
    }


if __name__ == "__main__":
    sys.exit(main())
