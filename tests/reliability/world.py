"""The database a crash run works on: its back-end, raw SQL access, its CLI environment and its material.

Material is made through the public API (tests/helpers.py) with the system clock, as the
CLI subprocesses see it: cases in initiative, dialogue and assessment (they cycle through
``start_dialogue`` / ``submit_for_assessment`` / ``return_to_dialogue``), active cases (they
cycle through ``start_review``, a recorded review and ``continue``), and signed cases whose
agreement started 330 days ago: a sweep as of ``tick_on`` (61 days ahead) activates each,
raises its review reminder and fires its yearly review, in one sweep. Every case in
initiative or dialogue also holds an idle timer due 60 days after it entered the state.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from iop_workflow import Iop
from iop_workflow.clock import SystemClock
from iop_workflow.settings import load_settings
from tests.cli_helpers import Cli
from tests.helpers import open_case, prepare_signing, to_assessment
from tests.pg import PG_URL, fresh_schema, pg_problem, schema_url

OFFICER = "anna"
SIGNATORY = "eva.lind"  # a signatory in tests/cli_helpers.py ROLES_CONFIG
TICK_AHEAD = timedelta(days=61)  # the sweeps run as of this far ahead: idle timers (60 days) are due


@dataclass(frozen=True, slots=True)
class Scale:
    """How much material a run keeps: cases to start with, and the floor a sweep refills to."""

    initiative: int
    dialogue: int
    assessment: int
    active: int
    signed: int
    due_floor: int  # open timers due by tick_on before each sweep
    signed_floor: int  # signed cases (each: two transitions and an alert in the sweep)
    batch: tuple[int, int]  # lines in a batch file

    @staticmethod
    def of(backend: str, kills: int) -> Scale:
        small = kills < 60
        if backend == "sqlite":
            return Scale(30, 30, 30, 16, 24, 200 if small else 320, 12 if small else 20, (15, 45))
        return Scale(16, 16, 16, 8, 10, 60 if small else 110, 6 if small else 10, (8, 24))


class Query(Protocol):
    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class Raw:
    """Plain driver SQL (sqlite3 or psycopg), each snapshot one read-only transaction."""

    def __init__(self, backend: str, *, path: Path | None = None, schema: str | None = None) -> None:
        self.backend = backend
        self.path = path
        self.schema = schema
        self._conn: Any = None

    def _connect(self) -> Any:
        if self._conn is None:
            if self.backend == "sqlite":
                self._conn = sqlite3.connect(self.path or "", timeout=30, isolation_level=None)
            else:
                import psycopg

                self._conn = psycopg.connect(PG_URL)
                self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return self._conn

    @contextmanager
    def snapshot(self) -> Iterator[Query]:
        conn = self._connect()
        if self.backend == "sqlite":
            conn.execute("BEGIN")
        else:
            conn.execute(f"SET LOCAL search_path TO {self.schema}")

        def query(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            if self.backend == "sqlite":
                values = [p.isoformat() if isinstance(p, date) else p for p in params]
                return list(conn.execute(sql, values).fetchall())
            return list(conn.execute(sql.replace("?", "%s"), list(params) or None).fetchall())

        try:
            yield query
        finally:
            conn.rollback() if self.backend != "sqlite" else conn.execute("ROLLBACK")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class World:
    backend: str
    workdir: Path
    url: str  # the API's (set-up, refills, the verify service)
    cli: Cli  # the subprocesses' environment (on PostgreSQL their URL names the application)
    raw: Raw
    iop: Iop
    audit_path: Path
    app_name: str | None
    today: date
    scale: Scale

    @property
    def tick_on(self) -> date:
        return self.today + TICK_AHEAD


def open_world(backend: str, workdir: Path, kills: int, stack: ExitStack) -> World:
    """A fresh, initialised database on ``backend`` with its CLI environment (closed by ``stack``)."""
    app_name = None
    if backend == "sqlite":
        path = workdir / "iop.db"
        url = cli_url = f"sqlite:///{path}"
        raw = Raw("sqlite", path=path)
    else:
        problem = pg_problem()
        if problem is not None:
            raise SystemExit(f"crash: {problem}")
        schema = stack.enter_context(fresh_schema())
        url = schema_url(schema)
        app_name = f"iopcrash_{uuid.uuid4().hex[:10]}"
        cli_url = f"{url}&application_name={app_name}"
        raw = Raw("postgresql", schema=schema)
    stack.callback(raw.close)
    cli = Cli(workdir, cli_url)
    audit_path = workdir / "audit.jsonl"
    cli.env["IOP_AUDIT_LOG"] = str(audit_path)
    settings = load_settings(cli.config)
    iop = Iop.connect(url, settings=settings, audit_log=False)
    stack.callback(iop.close)
    iop.init(simulation=True)  # the sweeps run as of `tick_on`, 61 days ahead: the stored clock moves there
    today = SystemClock(settings.tz).today()
    return World(backend, workdir, url, cli, raw, iop, audit_path, app_name, today, Scale.of(backend, kills))


# --------------------------------------------------------------------------- material (API)


def add_orgs(world: World) -> None:
    from tests.helpers import add_orgs as add

    add(world.iop)


def open_cases(world: World, n: int) -> list[str]:
    return [open_case(world.iop) for _ in range(n)]


def dialogue_cases(world: World, n: int) -> list[str]:
    refs = open_cases(world, n)
    for ref in refs:
        world.iop.fire(ref, "start_dialogue", actor=OFFICER)
        world.iop.record_meeting(ref, actor=OFFICER, held_on=world.today, joint_challenge="Skydd och stöd")
    return refs


def assessment_cases(world: World, n: int) -> list[str]:
    return [to_assessment(world.iop) for _ in range(n)]


def signed_cases(world: World, n: int) -> list[str]:
    """Signed cases whose agreement started 330 days ago and runs 1,100 days."""
    start = world.today - timedelta(days=330)
    refs = []
    for _ in range(n):
        ref = to_assessment(world.iop)
        prepare_signing(world.iop, ref, start=start.isoformat(), end=(start + timedelta(days=1100)).isoformat())
        world.iop.fire(ref, "sign", actor=SIGNATORY)
        refs.append(ref)
    return refs


def build(world: World) -> dict[str, int]:
    """The starting material; active cases are signed cases activated by an in-process sweep today."""
    s = world.scale
    add_orgs(world)
    signed_cases(world, s.active)
    world.iop.tick()  # as of today: activates them (their agreements have started)
    open_cases(world, s.initiative)
    dialogue_cases(world, s.dialogue)
    assessment_cases(world, s.assessment)
    signed_cases(world, s.signed)
    return {
        "initiative": s.initiative,
        "dialogue": s.dialogue,
        "assessment": s.assessment,
        "active": s.active,
        "signed": s.signed,
    }


def refill_for_sweep(world: World) -> dict[str, int]:
    """Top up what the next sweep finds due: signed cases, then idle timers (new initiatives)."""
    with world.raw.snapshot() as q:
        signed = q("SELECT count(*) FROM cases WHERE state = 'signed'")[0][0]
    added = {"signed": 0, "initiative": 0}
    if signed < world.scale.signed_floor:
        added["signed"] = len(signed_cases(world, 2 * world.scale.signed_floor - signed))
    with world.raw.snapshot() as q:
        due = due_timers(q, world.tick_on)
    if due < world.scale.due_floor:
        added["initiative"] = len(open_cases(world, world.scale.due_floor - due))
    return added


def due_timers(q: Query, on: date) -> int:
    rows = q("SELECT count(*) FROM timers WHERE due_on <= ? AND fired_at IS NULL AND cancelled_at IS NULL", [on])
    return int(rows[0][0])


# --------------------------------------------------------------------------- what can happen next


@dataclass(frozen=True, slots=True)
class CaseView:
    ref: str
    state: str
    meetings: int
    reviewed: int


def case_views(q: Query) -> list[CaseView]:
    rows = q(
        "SELECT c.ref, c.state, "
        "(SELECT count(*) FROM meetings m WHERE m.case_id = c.id), "
        "(SELECT count(*) FROM reviews r WHERE r.case_id = c.id AND r.period = c.period "
        "AND r.round = c.review_round AND r.report_received) FROM cases c ORDER BY c.id"
    )
    return [CaseView(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


def fire_moves(cases: Sequence[CaseView]) -> list[dict[str, Any]]:
    """Triggers each case can take now (a batch line's shape: ref, trigger, reason?)."""
    out: list[dict[str, Any]] = []
    for c in cases:
        if c.state == "initiative":
            out.append({"ref": c.ref, "trigger": "start_dialogue"})
        elif c.state == "dialogue" and c.meetings:
            out.append({"ref": c.ref, "trigger": "submit_for_assessment"})
        elif c.state == "assessment":
            out.append({"ref": c.ref, "trigger": "return_to_dialogue", "reason": "Komplettering behövs"})
        elif c.state == "active":
            out.append({"ref": c.ref, "trigger": "start_review"})
        elif c.state == "review" and c.reviewed:
            out.append({"ref": c.ref, "trigger": "continue"})
    return out


def record_moves(cases: Sequence[CaseView], today: date) -> tuple[list[list[str]], list[list[str]]]:
    """(facts a case needs before its next trigger, any other meeting) as ``case record`` arguments."""
    needed, other = [], []
    for c in cases:
        meeting = ["case", "record", c.ref, "meeting", "--held-on", today.isoformat(), "--joint-challenge", "Skydd"]
        if c.state == "dialogue" and not c.meetings:
            needed.append(meeting)
        elif c.state == "review" and not c.reviewed:
            needed.append(["case", "record", c.ref, "review", "--held-on", today.isoformat(), "--report-received"])
        elif c.state not in {"ended", "signed", "renewed"}:
            other.append(meeting)
    return needed, other
