"""One workload in a real ``python -m iop_workflow`` subprocess, SIGKILLed at a planned point.

While it waits, the runner asks the probe every ~2 ms whether the process is inside a
write transaction. From runs of each kind it learns when writing starts and ends and
when the process exits (the first run of a kind is left to finish, to learn from), and
aims the next kills of that kind mostly at the writes, measured from the first write it
sees (start-up time varies far more than the work), the rest at start-up, at the time
after the last commit, and after the exit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.cli_helpers import IOP
from tests.reliability import world as w
from tests.reliability.probe import Probe

WEIGHTS = {"fire": 18, "open": 4, "record": 16, "batch": 24, "tick": 28, "checkpoint": 10}
POLL = 0.002


@dataclass(frozen=True, slots=True)
class Workload:
    kind: str
    args: list[str]
    refs: tuple[str, ...] = ()  # the cases it acts on (fire, record, batch)


@dataclass(slots=True)
class Before:
    """Counters taken just before a workload starts."""

    logs: dict[str, int]  # log records per target case
    cases: int
    checkpoints: int
    total_logs: int
    alerts: int
    closed_timers: int
    due: int


@dataclass(slots=True)
class Run:
    workload: Workload
    plan: Plan | None
    killed_at: float | None = None  # seconds after the start
    seconds: float = 0.0
    killed: bool = False
    status: int | None = None
    in_write_at_kill: bool = False
    first_write: float | None = None
    last_write: float | None = None
    out: str = ""
    err: str = ""
    reported: Any = None  # the parsed JSON a successful run printed
    category: str = ""


@dataclass(slots=True)
class Timing:
    """What runs of one kind looked like (moving averages): when the first write comes, how long the
    writes last, and how long the process runs after its last write."""

    first: float | None = None  # seconds from the start to the first write (any run that wrote)
    span: float | None = None  # first write to last write (runs left to finish)
    tail: float | None = None  # last write to exit (runs left to finish)
    samples: int = 0

    def learn(self, run: Run) -> None:
        def mix(old: float | None, new: float | None) -> float | None:
            return new if old is None else old if new is None else 0.7 * old + 0.3 * new

        self.first = mix(self.first, run.first_write)
        if not run.killed and run.first_write is not None and run.last_write is not None:
            self.span = mix(self.span, run.last_write - run.first_write)  # a killed run's were cut short
            self.tail = mix(self.tail, run.seconds - run.last_write)
        self.samples += 1

    @property
    def known(self) -> bool:
        return self.first is not None and self.span is not None and self.tail is not None

    def plan(self, rng: random.Random) -> Plan:
        """When to kill the next run of this kind: at a time since start, or after its first write."""
        assert self.first is not None and self.span is not None and self.tail is not None
        first, span, tail = self.first, self.span, self.tail
        u = rng.random()
        if u < 0.15:
            return Plan("start", rng.uniform(0.05, 0.95 * first))  # start-up: imports, reads
        if u < 0.80:
            return Plan("write", rng.uniform(0.0, span + 0.02))  # while it writes
        if u < 0.90:
            return Plan("write", rng.uniform(span, span + tail))  # committed, not yet exited
        return Plan("write", rng.uniform(span + tail, span + tail + 0.3))  # most have exited by then


@dataclass(frozen=True, slots=True)
class Plan:
    """Kill ``seconds`` after the start (``start``) or after the first write the probe sees (``write``)."""

    after: str
    seconds: float

    def due(self, now: float, first_write: float | None) -> bool:
        if self.after == "start":
            return now >= self.seconds
        return first_write is not None and now >= first_write + self.seconds


def choose(world: w.World, rng: random.Random, serial: int) -> tuple[Workload, dict[str, int]]:
    """A workload picked by weight among those the data allows; returns the refills a sweep needed."""
    kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    head = ["--json", "--actor", w.OFFICER]
    refill: dict[str, int] = {}
    with world.raw.snapshot() as q:
        cases = w.case_views(q)
    moves = w.fire_moves(cases)
    # Facts are dated by the database's clock: a sweep may have moved the simulated clock past today.
    needed, other = w.record_moves(cases, world.iop.clock()["today"])
    if kind == "fire" and moves:
        move = rng.choice(moves)
        reason = ["--reason", move["reason"]] if "reason" in move else []
        return Workload("fire", [*head, "case", "fire", move["ref"], move["trigger"], *reason], (move["ref"],)), refill
    if kind == "record" and (needed or other):
        args = rng.choice(needed if needed and (rng.random() < 0.7 or not other) else other)
        return Workload("record", [*head, *args], (args[2],)), refill
    if kind == "batch" and len(moves) >= 2:
        lines = rng.sample(moves, min(len(moves), rng.randint(*world.scale.batch)))
        path = world.workdir / f"batch-{serial}.jsonl"
        path.write_text("".join(json.dumps({**line, "actor": w.OFFICER}) + "\n" for line in lines), encoding="utf-8")
        return Workload(
            "batch", [*head, "case", "fire", "--from-file", str(path)], tuple(m["ref"] for m in lines)
        ), refill
    if kind == "tick":
        refill = w.refill_for_sweep(world)
        return Workload("tick", [*head, "scheduler", "tick", "--at", world.tick_on.isoformat()]), refill
    if kind == "checkpoint":
        return Workload("checkpoint", [*head, "audit", "checkpoint"]), refill
    return Workload(
        "open",
        [
            *head,
            "case",
            "open",
            "--org",
            "802479-1322",
            "--municipality",
            "Stenungsund",
            "--title",
            "Skyddat boende",
            "--challenge",
            "Våldsutsatta kvinnor",
        ],
    ), refill


def before(world: w.World, workload: Workload) -> Before:
    with world.raw.snapshot() as q:
        logs = dict.fromkeys(workload.refs, 0)
        for ref, count in q("SELECT case_ref, count(*) FROM transition_log GROUP BY case_ref"):
            if ref in logs:
                logs[ref] = int(count)
        return Before(
            logs=logs,
            cases=_one(q, "SELECT count(*) FROM cases"),
            checkpoints=_one(q, "SELECT count(*) FROM checkpoints"),
            total_logs=_one(q, "SELECT count(*) FROM transition_log"),
            alerts=_one(q, "SELECT count(*) FROM alerts"),
            closed_timers=_one(q, "SELECT count(*) FROM timers WHERE fired_at IS NOT NULL OR cancelled_at IS NOT NULL"),
            due=w.due_timers(q, world.tick_on),
        )


def _one(q: w.Query, sql: str, params: Sequence[Any] = ()) -> int:
    return int(q(sql, params)[0][0])


def execute(world: w.World, probe: Probe, workload: Workload, plan: Plan | None) -> Run:
    """Start the workload, kill it as ``plan`` says (None: let it finish), and wait for it."""
    run = Run(workload, plan)
    out_path, err_path = world.workdir / "run.out", world.workdir / "run.err"
    with out_path.open("w", encoding="utf-8") as out, err_path.open("w", encoding="utf-8") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*IOP, *workload.args], env=world.cli.env, cwd=world.workdir, stdout=out, stderr=err)
        while True:
            now = time.perf_counter() - started
            if proc.poll() is not None:
                break
            writing = probe.in_write(proc.pid)
            if writing:
                run.first_write = run.first_write if run.first_write is not None else now
                run.last_write = now
            if plan is not None and plan.due(now, run.first_write):
                os.kill(proc.pid, signal.SIGKILL)
                run.in_write_at_kill = writing
                run.killed_at = now
                break
            time.sleep(POLL)
        run.status = proc.wait()
        run.seconds = time.perf_counter() - started
    run.killed = run.status == -signal.SIGKILL
    if run.killed:
        probe.settle(proc.pid)
    run.out = out_path.read_text(encoding="utf-8")
    run.err = err_path.read_text(encoding="utf-8")
    if not run.killed and run.out.strip():
        try:
            run.reported = json.loads(run.out)
        except json.JSONDecodeError:
            run.reported = None
    return run


def classify(world: w.World, run: Run, was: Before) -> str:
    """after_exit | in_transaction | between_transactions | before_work | after_work."""
    if not run.killed:
        return "after_exit"
    if run.in_write_at_kill:
        return "in_transaction"
    done, whole = _progress(before(world, run.workload), was, run.workload)
    return "before_work" if done == 0 else "after_work" if done >= whole else "between_transactions"


def _progress(now: Before, was: Before, workload: Workload) -> tuple[int, int]:
    """(units of the workload's work committed, units in all)."""
    if workload.kind in {"fire", "record", "batch"}:
        return sum(now.logs[ref] > was.logs[ref] for ref in workload.refs), len(workload.refs)
    if workload.kind == "open":
        return now.cases - was.cases, 1
    if workload.kind == "checkpoint":
        return now.checkpoints - was.checkpoints, 1
    moved = (now.total_logs, now.alerts, now.closed_timers) != (was.total_logs, was.alerts, was.closed_timers)
    return (0, 1) if not moved else (1, 1) if now.due == 0 else (1, 2)  # a sweep: nothing, all, or part due


MID_WORK = ("in_transaction", "between_transactions")
CATEGORIES = ("before_work", "in_transaction", "between_transactions", "after_work", "after_exit")
KINDS = tuple(WEIGHTS)
