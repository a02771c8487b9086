"""Crash consistency: SIGKILL real ``iop`` processes at random points and check the data after each kill.

Run from the repository root (the full run of issue #6; minutes)::

    python -m tests.reliability.crash --backend sqlite --kills 200 --seed 1
    python -m tests.reliability.crash --backend postgresql --kills 50 --seed 1

Each kill: a workload (``case fire``, ``case open``, ``case record``, a batch ``case fire
--from-file``, ``scheduler tick --at`` over hundreds of due timers, ``audit checkpoint``)
starts as ``python -m iop_workflow --json ...`` and gets SIGKILL at a point drawn with
``random.Random(seed)``: mostly while it writes (a time after the first write the probe
sees, within the span runs of its kind write), else during start-up, after its last
commit, or after it has exited (see ``runner.Timing.plan``). Then, with
raw SQL in one snapshot: every case's state and version match its log; fact rows match
their ``record:`` log records; timers match the transitions that planned and fired them
and no open timer belongs to a state its case has left; alerts match their timers; the
case-ref counter matches the cases; SQLite's pages and foreign keys are intact; the
verify service (every chain and checkpoint) finds nothing; what a run reported as done
is stored; a run that refused wrote nothing; every complete audit-stream line is a
committed record; and ``iop audit verify`` exits 0 (every ``--cli-verify-every`` kills
and at the end). The summary counts where the kills landed: before the first write
(start-up), inside a write transaction, between two transactions, after the last
commit, or after the process had exited. Exit 1 on any inconsistency.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.reliability import invariants, runner
from tests.reliability import world as w
from tests.reliability.probe import PgProbe, Probe, SqliteProbe


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.crash", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to send (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--cli-verify-every",
        type=int,
        default=1,
        metavar="N",
        help="run `iop audit verify` after every N-th kill (always after the last)",
    )
    parser.add_argument("--workdir", type=Path, help="keep the database and outputs here (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per kill on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    with ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="iop-crash-")))
        workdir.mkdir(parents=True, exist_ok=True)
        world = w.open_world(args.backend, workdir, args.kills, stack)
        probe: Probe = SqliteProbe(workdir / "iop.db") if world.app_name is None else PgProbe(world.app_name)
        stack.callback(probe.close)
        built = w.build(world)
        setup = time.perf_counter() - started
        summary = Crash(world, probe, args).go()
        summary.update(
            setup_cases=built,
            backend=args.backend,
            seed=args.seed,
            setup_seconds=round(setup, 1),
            wall_seconds=round(time.perf_counter() - started, 1),
        )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render(summary))
    return 1 if summary["inconsistencies"] else 0


class Crash:
    def __init__(self, world: w.World, probe: Probe, args: argparse.Namespace) -> None:
        self.world, self.probe, self.args = world, probe, args
        self.rng = random.Random(args.seed)
        self.timing = {kind: runner.Timing() for kind in runner.KINDS}
        self.categories: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.mid_by_kind: Counter[str] = Counter()
        self.problems: list[dict[str, Any]] = []
        self.refills: Counter[str] = Counter()
        self.seconds: dict[str, float] = dict.fromkeys(("choose_and_refill", "runs", "checks"), 0.0)
        self.reported = self.refused = self.calibrations = self.cli_verifies = 0
        self.stream = {"offset": 0, "lines": 0, "torn": 0}
        self.serial = 0

    def go(self) -> dict[str, Any]:
        kills = 0
        while kills < self.args.kills:
            self.serial += 1
            clock = time.perf_counter()
            workload, refill = runner.choose(self.world, self.rng, self.serial)
            self.seconds["choose_and_refill"] += time.perf_counter() - clock
            self.refills.update(refill)
            timing = self.timing[workload.kind]
            plan = timing.plan(self.rng) if timing.known else None  # a new kind: one run to learn from
            was = runner.before(self.world, workload)
            clock = time.perf_counter()
            run = runner.execute(self.world, self.probe, workload, plan)
            self.seconds["runs"] += time.perf_counter() - clock
            timing.learn(run)
            if plan is None:
                self.calibrations += 1
            else:
                kills += 1
                run.category = runner.classify(self.world, run, was)
                self.categories[run.category] += 1
                self.by_kind[workload.kind] += 1
                self.mid_by_kind[workload.kind] += run.category in runner.MID_WORK
            self.reported += run.status == 0 and run.reported is not None
            self.refused += not run.killed and run.status != 0
            cli = plan is not None and (kills % self.args.cli_verify_every == 0 or kills == self.args.kills)
            clock = time.perf_counter()
            self.check(run, was, cli_verify=cli, kill=kills)
            self.seconds["checks"] += time.perf_counter() - clock
        return self.summary(kills)

    def check(self, run: runner.Run, was: runner.Before, *, cli_verify: bool, kill: int) -> None:
        problems = invariants.reported(self.world, run, was) + invariants.database(self.world)
        stream, self.stream["offset"], lines, torn = invariants.audit_stream(self.world, self.stream["offset"])
        self.stream["lines"] += lines
        self.stream["torn"] += torn
        problems += stream
        if cli_verify:
            self.cli_verifies += 1
            result = self.world.cli("--json", "audit", "verify")
            if result.status != 0:
                problems.append(f"`iop audit verify` exited {result.status}: {result.text.strip()[:300]}")
        for problem in problems:
            self.problems.append(
                {
                    "kill": kill,
                    "workload": run.workload.kind,
                    "category": run.category,
                    "killed_at": run.killed_at,
                    "problem": problem,
                }
            )
        if self.args.verbose:
            where = run.category or "calibration"
            plan = f"{run.plan.after}+{run.plan.seconds:.3f}s" if run.plan else "-"
            print(
                f"[{kill:4}] {run.workload.kind:10} plan={plan:13} ran={run.seconds:6.3f}s status={run.status:4} "
                f"{where:21} problems={len(problems)}",
                file=sys.stderr,
            )

    def summary(self, kills: int) -> dict[str, Any]:
        with self.world.raw.snapshot() as q:
            totals = {
                name: int(q(sql)[0][0])
                for name, sql in (
                    ("cases", "SELECT count(*) FROM cases"),
                    ("records", "SELECT count(*) FROM transition_log"),
                    ("timers_fired", "SELECT count(*) FROM timers WHERE fired_at IS NOT NULL"),
                    ("scheduler_transitions", "SELECT count(*) FROM transition_log WHERE source = 'scheduler'"),
                    ("alerts", "SELECT count(*) FROM alerts"),
                    ("checkpoints", "SELECT count(*) FROM checkpoints"),
                )
            }
        mid = sum(self.categories[c] for c in runner.MID_WORK)
        return {
            "kills": kills,
            "mid_work": mid,
            "after_exit": self.categories["after_exit"],
            "landed": {c: self.categories[c] for c in runner.CATEGORIES},
            "kills_by_workload": dict(self.by_kind),
            "mid_work_by_workload": dict(self.mid_by_kind),
            "calibration_runs": self.calibrations,
            "success_reported": self.reported,
            "refused_runs": self.refused,
            "cli_verifies": self.cli_verifies,
            "refills": dict(self.refills),
            "audit_stream": {"lines": self.stream["lines"], "torn_by_kills": self.stream["torn"]},
            "timing": {
                k: {"first_write": _r(t.first), "writing": _r(t.span), "after_last_write": _r(t.tail)}
                for k, t in self.timing.items()
                if t.samples
            },
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "database": totals,
            "inconsistencies": len(self.problems),
            "problems": self.problems[:50],
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def render(s: dict[str, Any]) -> str:
    landed = ", ".join(f"{k} {v}" for k, v in s["landed"].items())
    lines = [
        f"crash ({s['backend']}, seed {s['seed']}): {s['kills']} kills in {s['wall_seconds']} s",
        f"  mid-work: {s['mid_work']} (in a write transaction {s['landed']['in_transaction']}, between "
        f"transactions {s['landed']['between_transactions']}); after exit: {s['after_exit']}",
        f"  landed: {landed}",
        f"  by workload: {s['kills_by_workload']}; mid-work: {s['mid_work_by_workload']}",
        f"  runs that reported success (each checked): {s['success_reported']}; refused by themselves: "
        f"{s['refused_runs']}; `iop audit verify` runs: {s['cli_verifies']}",
        f"  database: {s['database']}; audit stream: {s['audit_stream']}",
        f"  inconsistencies: {s['inconsistencies']}",
    ]
    lines += [f"    kill {p['kill']} ({p['workload']}, {p['category']}): {p['problem']}" for p in s["problems"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
