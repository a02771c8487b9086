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
to the last one's end; latencies are per step (A: the client's view, loopback included). After all
rounds each success's (seq, case_ref, case_seq) must be in its database's transition_log.

Left out: TLS, a reverse proxy, OIDC (tokens only), several uvicorn workers, reads other than the
ETag the write returns; the HTTP clients share the machine (and, A only, this process's CPU) with
the server.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks import api_setup as world
from benchmarks.harness import cpu_seconds, load1, percentile, run_concurrently, spread
from iop_workflow import Iop

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
SMOKE = {"clients": [4], "cases_per_client": 2, "rounds": 3}
WARMUP = (2, 2)  # clients, cases each: untimed, before the first round, on both sides
TARGET_TPS_RATIO = 0.5  # at 8 clients on SQLite: HTTP >= 0.5x in-process throughput ...
TARGET_P99_RATIO = 3.0  # ... and HTTP p99 <= 3x in-process p99
Record = tuple[int, str, int]  # seq, case_ref, case_seq


@dataclass(slots=True)
class Tally:
    """One client's results."""

    latencies: list[float] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0  # steps after an error on the same case


@dataclass(slots=True)
class Run:
    """One side's round: every client's tally and the wall time."""

    seconds: float
    load1: float
    tally: Tally
    cpu: dict[str, float]  # CPU seconds: "server" (A only) and "this process" (A: the clients; B: all)

    @classmethod
    def of(cls, tallies: Sequence[Tally], seconds: float, load: float, cpu: dict[str, float]) -> Run:
        merged = Tally()
        for t in tallies:
            merged.latencies += t.latencies
            merged.records += t.records
            merged.errors += t.errors
            merged.skipped += t.skipped
        return cls(seconds, load, merged, cpu)

    def figures(self) -> dict[str, Any]:
        lat, steps = self.tally.latencies, max(1, len(self.tally.latencies))
        cpu = {f"cpu_ms_per_step_{k}": round(v * 1000 / steps, 2) for k, v in self.cpu.items()}
        return {"transitions_per_s": round(len(lat) / self.seconds, 1), "ok": len(lat),
                "p50_ms": round(percentile(lat, 50) * 1000, 2), "p99_ms": round(percentile(lat, 99) * 1000, 2),
                "errors": len(self.tally.errors), "skipped": self.tally.skipped, "load1": self.load1,
                "seconds": round(self.seconds, 3), **cpu}  # fmt: skip


def interleaved(cases: Sequence[world.Case]) -> list[tuple[world.Case, str]]:
    """A client's steps: the first step of each of its cases, then the second of each, ..."""
    longest = max(len(c.steps) for c in cases)
    return [(c, c.steps[i]) for i in range(longest) for c in cases if i < len(c.steps)]


# --------------------------------------------------------------------------- (A) HTTP


def http_request(ref: str, step: str, today: date) -> tuple[str, dict[str, Any]]:
    if step == "record_meeting":
        return f"/v1/cases/{ref}/records/meeting", {"held_on": today.isoformat(),
                                                    "joint_challenge": world.JOINT_CHALLENGE}  # fmt: skip
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
        clients = [stack.enter_context(httpx.Client(base_url=server.base, timeout=120,
                                                    headers={"Authorization": f"Bearer {tokens[i]}"}))
                   for i in range(len(batch))]  # fmt: skip
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
                record = iop.record_meeting(case.ref, actor=actor, held_on=today,
                                            joint_challenge=world.JOINT_CHALLENGE)  # fmt: skip
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
    print(f"# {pair.backend}: {cases} cases set up and copied in {time.perf_counter() - started:.1f} s",
          flush=True)  # fmt: skip
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
    return {"responses_2xx": len(records), "distinct": len(set(records)),
            "in_transition_log": sum(r in in_db for r in records),
            "in_audit_stream": sum(r in streamed for r in records)}  # fmt: skip


# --------------------------------------------------------------------------- the report


def summarise(key: tuple[str, int], runs: list[tuple[Run, Run]], check: dict[str, dict[str, int]]) -> dict[str, Any]:
    backend, clients = key
    a = [r.figures() for r, _ in runs]
    b = [r.figures() for _, r in runs]
    tps_ratio = [x["transitions_per_s"] / y["transitions_per_s"] for x, y in zip(a, b, strict=True)]
    p99_ratio = [x["p99_ms"] / y["p99_ms"] for x, y in zip(a, b, strict=True)]
    errors = sum(x["errors"] + x["skipped"] for x in a + b)
    complete = all(c["in_transition_log"] == c["responses_2xx"] == c["distinct"] for c in check.values())
    out: dict[str, Any] = {
        "backend": backend, "clients": clients,
        "http": side_summary(a), "in_process": side_summary(b),
        "ratio_http_over_in_process": {"throughput": spread(tps_ratio, 3), "p99": spread(p99_ratio, 3)},
        "logged": check, "errors": errors,
        "error_samples": [e for r in runs for side in r for e in side.tally.errors][:5],
        "rounds": [{"http": x, "in_process": y} for x, y in zip(a, b, strict=True)],
        "targets": {"no_errors": errors == 0, "every_2xx_logged": complete},
    }  # fmt: skip
    if (backend, clients) == ("sqlite", 8):
        out["targets"]["throughput_ratio_ge_0.5"] = statistics_median(tps_ratio) >= TARGET_TPS_RATIO
        out["targets"]["p99_ratio_le_3"] = statistics_median(p99_ratio) <= TARGET_P99_RATIO
    return out


def statistics_median(values: Sequence[float]) -> float:
    return spread(values, 6)["median"]


def side_summary(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"transitions_per_s": spread([r["transitions_per_s"] for r in rounds]),
            "p50_ms": spread([r["p50_ms"] for r in rounds], 2), "p99_ms": spread([r["p99_ms"] for r in rounds], 2),
            "errors": sum(r["errors"] for r in rounds), "skipped": sum(r["skipped"] for r in rounds)}  # fmt: skip


def print_round(r: int, key: tuple[str, int], a: Run, b: Run, http_first: bool) -> None:
    x, y = a.figures(), b.figures()
    order = "A,B" if http_first else "B,A"
    print(f"round {r + 1} {key[0]:10} {key[1]:3d} clients [{order}] "
          f"A http {x['transitions_per_s']:6.1f}/s p50 {x['p50_ms']:6.1f} p99 {x['p99_ms']:7.1f} ms "
          f"cpu/step {x['cpu_ms_per_step_server']:5.2f}+{x['cpu_ms_per_step_clients']:.2f} ms load {x['load1']:5.2f} | "
          f"B in-process {y['transitions_per_s']:6.1f}/s p50 {y['p50_ms']:6.1f} p99 {y['p99_ms']:7.1f} ms "
          f"cpu/step {y['cpu_ms_per_step_process']:5.2f} ms load {y['load1']:5.2f} | "
          f"A/B {x['transitions_per_s'] / y['transitions_per_s']:.2f} | errors {x['errors'] + y['errors']}",
          flush=True)  # fmt: skip


def print_table(result: dict[str, Any]) -> None:
    print(f"\nworkload: {result['mix']}")
    print(f"steps per round: {result['steps_per_round']}; rounds {result['rounds']}; "
          f"Idempotency-Key sent: {result['idempotency_key']}")  # fmt: skip
    print(f"\n{'back-end':10} {'cl':>3}  {'side':11} {'steps/s min/med/max':>22}  {'p50 ms':>7} {'p99 ms':>8}  "
          f"{'err':>3}  {'logged':>9}  A/B steps/s   A/B p99")  # fmt: skip
    for c in result["configurations"]:
        for name, key in (("A http", "http"), ("B in-proc", "in_process")):
            s, t = c[key], c["logged"][key]
            tps = "{min:.0f}/{median:.0f}/{max:.0f}".format(**s["transitions_per_s"])
            extra = ""
            if key == "http":
                ratio = c["ratio_http_over_in_process"]
                extra = "{median:.2f} ({min:.2f}-{max:.2f})".format(**ratio["throughput"])
                extra += "   {median:.2f}".format(**ratio["p99"])
            print(f"{c['backend']:10} {c['clients']:3d}  {name:11} {tps:>22}  {s['p50_ms']['median']:7.2f} "
                  f"{s['p99_ms']['median']:8.2f}  {s['errors'] + s['skipped']:3d}  "
                  f"{t['in_transition_log']:>4}/{t['responses_2xx']:<4}  {extra}")  # fmt: skip
    print("(p50/p99: median over rounds; logged: 2xx responses whose record is in transition_log)\n")
    for c in result["configurations"]:
        for name, ok in c["targets"].items():
            print(f"target {c['backend']}/{c['clients']} {name}: {'met' if ok else 'NOT met'}")
        for e in c["error_samples"]:
            print(f"  error: {e}")
    print(f"all targets: {'met' if result['targets_met'] else 'NOT met'}")


# --------------------------------------------------------------------------- main


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--clients", default="8,32", help="concurrent clients, comma-separated (default 8,32)")
    p.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql (default both)")
    p.add_argument("--cases-per-client", type=int, default=8, help="cases per client and round (default 8)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each A and B on fresh cases (default 3)")
    p.add_argument("--smoke", action="store_true", help="4 clients, 2 cases each, 3 rounds: seconds")
    p.add_argument("--no-idempotency-key", dest="keys", action="store_false", help="POST without Idempotency-Key")
    p.add_argument("--pg-url", default=PG_URL, help=f"a PostgreSQL database to create others from ({PG_URL})")
    p.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temp dir, removed)")
    p.add_argument("--json-out", type=Path, default=None, help="write the result as JSON to this file")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is not met")
    args = p.parse_args(argv)
    args.clients = [int(x) for x in args.clients.split(",")]
    args.backends = args.backends.split(",")
    if args.smoke:
        args.clients, args.cases_per_client, args.rounds = SMOKE["clients"], SMOKE["cases_per_client"], SMOKE["rounds"]
    if set(args.backends) - {"sqlite", "postgresql"} or min(args.clients) < 1 or args.rounds < 1:
        p.error("--backends: sqlite,postgresql; --clients and --rounds at least 1")
    return args


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
                b.server = stack.enter_context(world.Server(pair.a, workdir, name, pair.xdg_a))
                print(f"# {name}: iop serve pid {b.server.pid} on {b.server.base}", flush=True)
                b.iop = stack.enter_context(Iop.connect(pair.b, settings=world.settings(), audit_log=pair.audit_b))
            result = measure(args, backends)
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(result)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if args.check and not result["targets_met"] else 0


def measure(args: argparse.Namespace, backends: dict[str, Backend]) -> dict[str, Any]:
    today = next(iter(backends.values())).iop.app.clock.today()  # type: ignore[union-attr]
    for b in backends.values():
        side_runs(b, b.warmup, today, args.keys, http_first=True)
    runs: dict[tuple[str, int], list[tuple[Run, Run]]] = {}
    for r in range(args.rounds):
        for name, b in backends.items():
            for n in args.clients:
                a, bb = side_runs(b, b.batches[(r, n)], today, args.keys, http_first=r % 2 == 0)
                runs.setdefault((name, n), []).append((a, bb))
                print_round(r, (name, n), a, bb, r % 2 == 0)
    configurations = []
    for key, pairs in runs.items():
        b = backends[key[0]]
        check = {
            "http": logged(b.pair.a, b.pair.audit_a, [x for a, _ in pairs for x in a.tally.records]),
            "in_process": logged(b.pair.b, b.pair.audit_b, [x for _, bb in pairs for x in bb.tally.records]),
        }
        configurations.append(summarise(key, pairs, check))
    steps = {n: sum(len(c.steps) for cs in backends[args.backends[0]].batches[(0, n)] for c in cs)
             for n in args.clients}  # fmt: skip
    return {"mix": world.MIX, "cases_per_client": args.cases_per_client, "rounds": args.rounds,
            "steps_per_round": steps, "idempotency_key": args.keys, "python": sys.version.split()[0],
            "configurations": configurations,
            "targets_met": all(all(c["targets"].values()) for c in configurations)}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
