"""A database's clock is real or simulated, and time in the log only moves forward (issue #14, item 1)."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from iop_workflow import Iop
from iop_workflow.clock import STOCKHOLM, FakeClock
from iop_workflow.errors import UsageError
from iop_workflow.service.context import simulated_audit_path
from iop_workflow.settings import Settings
from iop_workflow.store.migrate import alembic_config
from tests.cli_helpers import Backend, Cli, to_assessment, today
from tests.conftest import POSTGRES
from tests.helpers import ORG, add_orgs, open_case, seed_due
from tests.pg import fresh_schema, require_postgres, schema_url
from tests.server_helpers import BACKENDS, Runner, serving
from tests.server_helpers import database as server_database
from tests.tamper import attacker, forge_next, insert

SQLITE = "sqlite"


def local_day(at: str) -> date:
    return datetime.fromisoformat(at).astimezone(STOCKHOLM).date()


def log_size(url: str, settings: Settings) -> int:
    with Iop.connect(url, settings=settings, audit_log=False) as iop:
        return int(iop.verify().records)


def iop_at(iop: Iop, ref: str) -> str:
    return str(iop.history(ref)[-1]["at"])


def at_problems(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in report["problems"] if p.get("field") == "at"]


# -- the "Why" bullet: `tick --at 2027-01-01` on the working database -----------------------------------
def test_a_real_database_refuses_tick_at_another_day_writes_nothing_and_lists_it_with_dry_run(
    backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    seed_due(backend.url, settings, signed=1)  # an agreement start due in February 2026
    cli = Cli(tmp_path, backend.url)
    before = log_size(backend.url, settings)
    for day in (today() + timedelta(days=400), today() - timedelta(days=1)):
        refused = cli("--lang", "en", "scheduler", "tick", "--at", str(day))
        assert refused.status == 2 and "Traceback" not in refused.text, refused.text
        assert f"--at {day} is not today ({today()})" in refused.err and "--dry-run" in refused.err
        assert log_size(backend.url, settings) == before  # nothing written
    future = str(today() + timedelta(days=400))
    looked = cli.ok("--json", "scheduler", "tick", "--at", future, "--dry-run").json()
    assert looked["on"] == future and looked["dry_run"] and looked["due"] >= 1 and looked["fired"] == 0
    assert log_size(backend.url, settings) == before
    done = cli.ok("--json", "scheduler", "tick", "--at", str(today())).json()  # today is the real clock's day
    assert done["on"] == str(today()) and done["fired"] >= 1
    with Iop.connect(backend.url, settings=settings, audit_log=False) as iop:
        assert iop.clock()["mode"] == "real"
        fired = [r for r in iop.export() if r["source"] == "scheduler"]
        assert fired and all(local_day(r["at"]) == today() for r in fired)
        assert iop.verify().ok


# -- a simulated database ---------------------------------------------------------------------------------
def test_a_simulated_database_moves_forward_never_back_and_every_command_dates_by_it(
    backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    cli = Cli(tmp_path, backend.url)
    start, later = today(), today() + timedelta(days=50)
    made = cli.ok("init", "--simulation")
    assert f"Klockan är simulerad: i dag är {start}" in made.out
    ref = to_assessment(cli)  # officer commands in a real subprocess
    moved = cli.ok("--json", "scheduler", "tick", "--at", str(later)).json()
    assert moved["on"] == str(later)
    before = log_size(backend.url, settings)
    back = cli("--lang", "en", "scheduler", "tick", "--at", str(later - timedelta(days=1)))
    assert back.status == 2 and "Traceback" not in back.text
    assert f"before the simulated clock's date {later}" in back.err
    assert log_size(backend.url, settings) == before
    cli.ok("--json", "scheduler", "tick")  # without --at: as of the stored date, which stays
    cli.ok("--actor", "anna", "case", "fire", ref, "withdraw", "--reason", "Föreningen drar sig ur")
    history = cli.ok("--json", "case", "history", ref).json()
    days = [local_day(r["at"]) for r in history]
    assert days[0] == start and days[-1] == later and days == sorted(days)
    with Iop.connect(backend.url, settings=settings, audit_log=False) as iop:  # the Python API dates by it too
        assert iop.clock()["mode"] == "simulated" and iop.clock()["today"] == later
        other = open_case(iop)
        assert [local_day(r["at"]) for r in iop.history(other)] == [later]
        assert iop.verify().ok
    again = cli("--lang", "en", "init", "--simulation")  # already simulated: stays so
    assert again.status == 0, again.text


def test_a_real_database_with_records_cannot_become_simulated(tmp_path: Path, settings: Settings) -> None:
    url = f"sqlite:///{tmp_path / 'iop.db'}"
    seed_due(url, settings)
    cli = Cli(tmp_path, url)
    refused = cli("--lang", "en", "init", "--simulation")
    assert refused.status == 2 and "iop db copy FILE --simulation" in refused.err and "Traceback" not in refused.text
    assert cli("--lang", "en", "init", "--start", "2026-01-01").status == 2  # --start needs --simulation


def test_an_injected_clock_wins_and_leaves_a_simulated_databases_clock_alone(
    tmp_path: Path, clock: FakeClock, settings: Settings
) -> None:
    url = f"sqlite:///{tmp_path / 'iop.db'}"
    with Iop.connect(url, settings=settings, audit_log=False) as plain:
        plain.init(simulation=True, start="2025-12-01")
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as iop:
        add_orgs(iop)
        ref = open_case(iop)
        assert [local_day(r["at"]) for r in iop.history(ref)] == [clock.today()]  # 2026-01-12, not 2025-12-01
        with pytest.raises(UsageError) as refused:
            iop.tick(at=clock.today() + timedelta(days=1))
        assert "injected clock's date 2026-01-12" in refused.value.message("en")
        assert iop.tick(at=clock.today())["on"] == str(clock.today())
        assert iop.tick(at="2026-09-01", dry_run=True)["on"] == "2026-09-01"
    with Iop.connect(url, settings=settings, audit_log=False) as plain:
        assert plain.clock() == {
            "mode": "simulated",
            "today": date(2025, 12, 1),
            "now": datetime(2025, 12, 1, 9, tzinfo=STOCKHOLM),
        }
        other = open_case(plain)  # the stored clock is behind the log: dated at the log's last instant
        assert iop_at(plain, other) == iop_at(plain, ref)


def test_a_clock_that_steps_back_dates_the_record_at_the_logs_last_instant(
    iop: Iop, db_url: str, settings: Settings
) -> None:
    add_orgs(iop)
    ref = open_case(iop)  # the fixture's clock: 2026-01-12 09:00
    ahead = FakeClock(datetime(2026, 2, 1, 9, tzinfo=STOCKHOLM))  # another process whose clock is ahead
    with Iop.connect(db_url, clock=ahead, settings=settings, audit_log=False) as other:
        later = iop_at(other, open_case(other))
    iop.fire(ref, "start_dialogue", actor="anna")  # this clock is now behind the log: it stepped back
    assert later.startswith("2026-02-01") and iop_at(iop, ref) == later
    assert not at_problems(iop.verify().as_dict())


# -- verify: a record dated before its predecessor ----------------------------------------------------------
def test_verify_names_a_record_dated_before_the_one_before_it(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    iop.fire(ref, "start_dialogue", actor="anna")
    with attacker(iop) as conn:
        forged = forge_next(conn, ref, at="2025-06-01T07:00:00.000000Z")
        insert(conn, forged)
    report = iop.verify().as_dict()
    [problem] = at_problems(report)
    assert not report["ok"] and problem["case_ref"] == ref and problem["case_seq"] == forged.case_seq
    assert problem["previous"]["case_seq"] == forged.case_seq - 1 and problem["previous"]["case_ref"] == ref
    assert f"{ref} #{forged.case_seq - 1}" in problem["detail"] and "2025-06-01" in problem["detail"]


def test_verify_names_a_record_dated_before_the_previous_one_in_the_log(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    with attacker(iop) as conn:  # a new chain's first record, dated before the log's last record
        last = conn.execute(sa.text("SELECT seq, at FROM transition_log ORDER BY seq DESC LIMIT 1")).one()
        forged = forge_next(
            conn,
            ref,
            at="2025-06-01T07:00:00.000000Z",
            case_ref="IOP-2099-0001",
            case_seq=1,
            prev_hash="0" * 64,
            trigger="open",
            from_state=None,
        )
        insert(conn, forged)
    report = iop.verify().as_dict()
    ordered = [p for p in at_problems(report) if "in the log" in p["detail"]]
    assert ordered and ordered[0]["previous"]["seq"] == last.seq and ordered[0]["previous"]["at"] == last.at
    assert ordered[0]["case_ref"] == "IOP-2099-0001" and not report["ok"]


def test_records_written_before_the_cut_over_that_run_backwards_are_warnings(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    with iop.app.db.engine.begin() as conn:
        from alembic import command

        command.downgrade(alembic_config(conn), "0011")  # a database from before this change
    with attacker(iop) as conn:
        forged = forge_next(conn, ref, at="2025-06-01T07:00:00.000000Z")
        insert(conn, forged)
    iop.init()  # 0012 records the cut-over point: after every record there is
    report = iop.verify().as_dict()
    assert not at_problems(report), report["problems"]
    [warning] = [w for w in report["warnings"] if w.get("field") == "at"]
    assert warning["case_seq"] == forged.case_seq and "written before the time-order cut-over: seq" in warning["detail"]
    iop.fire(ref, "start_dialogue", actor="anna")  # a new record: dated after the backwards one's predecessor
    history = iop.history(ref)
    assert history[-1]["at"] >= history[-2]["at"] and not at_problems(iop.verify().as_dict())


# -- db copy --simulation --------------------------------------------------------------------------------------
def test_db_copy_simulation_makes_a_simulated_copy_and_leaves_the_working_database_alone(
    backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    seed_due(backend.url, settings, signed=1)
    cli = Cli(tmp_path, backend.url)
    target = tmp_path / "what-if.db"
    if backend.kind != "sqlite":
        refused = cli("--lang", "en", "db", "copy", str(target), "--simulation")
        assert refused.status == 2 and "PostgreSQL" in refused.err and "--to" in refused.err  # tests/test_db_copy_pg.py
        assert "Traceback" not in refused.text
        assert not target.exists()
        return
    assert cli("db", "copy", str(target)).status == 2  # --simulation is required
    before = log_size(backend.url, settings)
    copied = cli.ok("--json", "db", "copy", str(target), "--simulation").json()
    assert copied["clock"] == "simulated" and copied["today"] == str(today()) and copied["records"] == before
    copy = Cli(tmp_path, f"sqlite:///{target}")
    later = str(today() + timedelta(days=400))
    assert copy.ok("--json", "scheduler", "tick", "--at", later).json()["fired"] >= 1
    assert copy("scheduler", "tick", "--at", str(today())).status == 2  # the copy's clock went forward
    assert log_size(backend.url, settings) == before  # the working database is unchanged
    with Iop.connect(f"sqlite:///{target}", settings=settings, audit_log=False) as iop:
        assert iop.clock()["today"] == date.fromisoformat(later) and iop.verify().ok


# -- any interleaving keeps time moving forward ---------------------------------------------------------------
@contextmanager
def simulated_database(kind: str, settings: Settings) -> Iterator[Iop]:
    if kind == "sqlite":
        with (
            tempfile.TemporaryDirectory() as tmp,
            Iop.connect(f"sqlite:///{tmp}/iop.db", settings=settings, audit_log=False) as iop,
        ):
            yield iop
        return
    require_postgres()
    with fresh_schema() as schema, Iop.connect(schema_url(schema), settings=settings, audit_log=False) as iop:
        yield iop


STEP = st.one_of(
    st.tuples(st.just("open"), st.just(0)),
    st.tuples(st.just("dialogue"), st.integers(0, 5)),
    st.tuples(st.just("meeting"), st.integers(0, 5)),
    st.tuples(st.just("tick"), st.just(0)),
    st.tuples(st.just("tick_at"), st.integers(0, 200)),
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [SQLITE, POSTGRES])
@hsettings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=3, max_size=14))
def test_any_interleaving_of_commands_and_ticks_keeps_each_chain_in_time_order(
    kind: str, settings: Settings, steps: list[tuple[str, int]]
) -> None:
    with simulated_database(kind, settings) as iop:
        iop.init(simulation=True, start="2026-11-20")
        add_orgs(iop)
        refs: list[str] = []
        for action, n in steps:
            if action == "open":
                refs.append(open_case(iop))
            elif action == "tick":
                assert iop.tick()["failed"] == 0
            elif action == "tick_at":
                assert iop.tick(at=iop.app.clock.today() + timedelta(days=n))["failed"] == 0
            elif refs:
                ref = refs[n % len(refs)]
                state = iop.case(ref)["state"]
                if action == "dialogue" and state == "initiative":
                    iop.fire(ref, "start_dialogue", actor="anna")
                elif action == "meeting" and state == "dialogue":
                    iop.record_meeting(ref, actor="anna", held_on=iop.app.clock.today(), joint_challenge="Stöd")
        records = list(iop.export())
        chains: dict[str, list[str]] = {}
        for r in records:
            chains.setdefault(r["case_ref"], []).append(r["at"])
        assert all(ats == sorted(ats) for ats in chains.values())
        assert [r["at"] for r in records] == sorted(r["at"] for r in records)  # the global order too
        assert iop.verify().ok
        opened = Counter(local_day(r["at"]).year for r in records if r["trigger"] == "open")
        for year in sorted(opened | {2026: 0}):
            assert iop.annual_report(year=year, actor="revisor")["events"]["opened"] == opened[year]


# -- iop serve on a simulated database ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("kind", BACKENDS)
def test_iop_serve_dates_its_records_by_the_stored_clock_as_tick_moves_it(kind: str, tmp_path: Path) -> None:
    with server_database(kind, tmp_path) as backend:
        runner = Runner(backend, tmp_path / "run")
        runner.ok("init", "--simulation", "--start", "2026-03-02")
        runner.ok(
            "org", "add", "--name", "Kvinnojouren i Stenungsund", "--org-number", ORG, "--legal-form", "ideell_forening"
        )
        token = runner.token("handlaggare", "officer,registrar")
        with serving(runner) as served, served.client(token) as officer:
            opened = officer.post(
                "/v1/cases",
                json={
                    "org_number": ORG,
                    "municipality": "Stenungsund",
                    "title": "Skyddat boende",
                    "challenge": "Skydd och stöd",
                },
            )
            assert opened.status_code == 201, opened.text
            ref = opened.json()["ref"]
            runner.ok("scheduler", "tick", "--at", "2026-04-01")  # while the server runs
            moved = officer.post(
                f"/v1/cases/{ref}/transitions",
                json={"trigger": "start_dialogue"},
                headers={"If-Match": opened.headers["ETag"]},
            )
            assert moved.status_code == 200, moved.text
            history = officer.get(f"/v1/cases/{ref}/history").json()
        assert [local_day(r["at"]) for r in history] == [date(2026, 3, 2), date(2026, 4, 1)]


def test_a_simulated_database_writes_its_audit_stream_beside_a_shared_one_never_into_it(
    db_url: str, tmp_path: Path, settings: Settings
) -> None:
    """With ``audit_log`` configured (and on PostgreSQL by default) every database writes one file; a
    what-if database's records must not enter the live stream an auditor reads."""
    shared = tmp_path / "streams" / "audit.jsonl"
    configured = dataclasses.replace(settings, audit_log=str(shared))
    with Iop.connect(f"sqlite:///{tmp_path / 'live.db'}", settings=configured) as live:
        live.init()
        add_orgs(live)
        live_ref = open_case(live)
        assert live.app.sink.path == shared
    live_lines = shared.read_text(encoding="utf-8").splitlines()
    assert any(live_ref in line for line in live_lines)
    with Iop.connect(db_url, settings=configured) as sim:
        sim.init(simulation=True, start=date(2026, 1, 12))
        add_orgs(sim)
        sim_ref = open_case(sim)
        own = sim.app.sink.path
        records = len(sim.history(sim_ref))
    assert own == simulated_audit_path(shared, db_url) and own != shared
    assert shared.read_text(encoding="utf-8").splitlines() == live_lines  # the live stream is untouched
    own_lines = own.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["case_ref"] for line in own_lines].count(sim_ref) == records
    with Iop.connect(f"sqlite:///{tmp_path / 'live.db'}", settings=configured) as live:
        assert live.app.sink.path == shared  # a real database keeps the shared file
