"""Recovery: ``iop db backup`` / ``iop db restore`` (SQLite) and the pg_dump guidance (PostgreSQL).

The backup under load is taken while a real ``iop scheduler tick`` subprocess fires hundreds
of due timers; what it copied must be a state between two of the sweep's commits, and its
restore must verify and take new transitions.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from iop_workflow import Iop
from iop_workflow.service.sweep import BATCH
from iop_workflow.settings import load_settings
from tests.cli_helpers import IOP, Backend, Cli, make_backend, sqlite_dump, today
from tests.helpers import add_orgs, open_case
from tests.tamper import attacker

DUE = 2 * BATCH  # timers the sweep fires: two batches, each one transaction


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("sqlite", tmp_path)


def api(cli: Cli, url: str) -> Iop:
    return Iop.connect(url, settings=load_settings(cli.config), audit_log=False)


def counts(path: Path) -> tuple[int, int]:
    """(fired timers, idle alerts) as a plain reader sees them."""
    conn = sqlite3.connect(path)
    try:
        fired = conn.execute("SELECT count(*) FROM timers WHERE fired_at IS NOT NULL").fetchone()[0]
        idle = conn.execute("SELECT count(*) FROM alerts WHERE kind = 'case_idle'").fetchone()[0]
    finally:
        conn.close()
    return int(fired), int(idle)


def no_partials(directory: Path) -> bool:
    return not [p.name for p in directory.iterdir() if p.name.endswith(".partial")]


@pytest.mark.slow
def test_a_backup_taken_during_a_running_sweep_restores_verified_and_usable(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    cli = Cli(tmp_path, sqlite_backend.url)
    assert sqlite_backend.path is not None
    with api(cli, sqlite_backend.url) as iop:
        iop.init(simulation=True)  # the sweep below runs 61 days ahead: a simulated clock moves there
        add_orgs(iop)
        refs = [open_case(iop) for _ in range(DUE)]  # each plans an idle alert due in 60 days
        before = counts(sqlite_backend.path)
        backup = tmp_path / "backups" / "during-sweep.db"
        backup.parent.mkdir()
        at = (today() + timedelta(days=61)).isoformat()
        sweep = subprocess.Popen(
            [*IOP, "--json", "scheduler", "tick", "--at", at],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while counts(sqlite_backend.path)[0] == before[0]:  # wait for the sweep's first commit
                assert sweep.poll() is None, sweep.communicate()
                assert time.monotonic() < deadline, "the sweep committed nothing within 60 s"
                time.sleep(0.002)
            taken = iop.backup(backup)
            still_running = sweep.poll() is None
        finally:
            out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 0, err
    assert still_running, "the sweep had finished before the backup did"
    [timers] = [sweep for sweep in json.loads(out)["sweeps"] if sweep["kind"] == "timers"]
    assert timers["alerts"] == DUE and timers["failed"] == 0
    after = counts(sqlite_backend.path)
    copied, alerts = counts(backup)
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    assert before[0] < copied < after[0] == DUE, (before, copied, after)  # between two of the sweep's commits
    assert copied % BATCH == 0 and alerts == copied  # whole batches, each fired timer with its alert
    assert taken["integrity"] == "ok" and taken["cases"] == DUE and taken["bytes"] == backup.stat().st_size
    assert not Path(f"{backup}-wal").exists() and no_partials(backup.parent)

    fresh = tmp_path / "restored" / "iop.db"
    restored = Cli(tmp_path, f"sqlite:///{fresh}")
    result = restored.ok("--json", "db", "restore", str(backup)).json()
    assert result["verified"] is True and result["replaced"] is False and result["cases"] == DUE
    verified = restored.ok("--json", "audit", "verify").json()
    assert verified["ok"] is True and verified["cases"] == DUE
    fired = restored.ok("--json", "--actor", "anna", "case", "fire", refs[0], "start_dialogue").json()
    assert fired["case"]["state"] == "dialogue"
    restored.ok("audit", "verify")


@pytest.mark.slow
def test_backup_refuses_bad_targets_with_their_exit_status(sqlite_backend: Backend, tmp_path: Path) -> None:
    cli = Cli(tmp_path, sqlite_backend.url)
    assert cli("db", "backup", str(tmp_path / "x.db")).status == 8  # no database yet: nothing to back up
    cli.ok("init")
    first = cli.ok("--json", "db", "backup", str(tmp_path / "b.db")).json()
    assert first["pages"] * first["page_size"] == first["bytes"] > 0
    content = (tmp_path / "b.db").read_bytes()

    again = cli("--json", "--lang", "en", "db", "backup", str(tmp_path / "b.db"))
    assert again.status == 6 and again.json()["error"]["code"] == "invalid_input"
    assert "--force" in again.json()["error"]["message"]
    assert (tmp_path / "b.db").read_bytes() == content
    assert cli.ok("db", "backup", str(tmp_path / "b.db"), "--force").status == 0

    unwritable = _unwritable_dir(tmp_path)
    refused = cli("--lang", "en", "db", "backup", str(unwritable / "b.db"))
    assert refused.status == 6 and "not writable" in refused.err and "Traceback" not in refused.text
    assert not (unwritable / "b.db").exists()
    missing_dir = cli("--lang", "en", "db", "backup", str(tmp_path / "no" / "such" / "b.db"))
    assert missing_dir.status == 6 and "does not exist" in missing_dir.err
    assert no_partials(tmp_path)


def _unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (root ignores mode bits: then a read-only mount)."""
    candidates = [tmp_path / "read-only", Path("/sys")]
    candidates[0].mkdir()
    candidates[0].chmod(0o500)
    for directory in candidates:
        try:
            fd, name = tempfile.mkstemp(dir=directory)
        except OSError:
            return directory
        os.close(fd)
        os.unlink(name)
    pytest.skip("no directory here refuses this user's writes")


@pytest.mark.slow
def test_restore_refuses_what_does_not_verify_and_leaves_the_database_untouched(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    cli = Cli(tmp_path, sqlite_backend.url)
    assert sqlite_backend.path is not None
    with api(cli, sqlite_backend.url) as iop:
        iop.init()
        add_orgs(iop)
        ref = open_case(iop)
        iop.fire(ref, "start_dialogue", actor="anna")
        good = tmp_path / "good.db"
        iop.backup(good)
    tampered = tmp_path / "tampered.db"
    cli.ok("db", "backup", str(tampered))
    with Iop.connect(f"sqlite:///{tampered}", audit_log=False) as other, attacker(other) as conn:
        conn.exec_driver_sql(
            "UPDATE transition_log SET reason = 'efterhandsändrad' WHERE case_seq = 2 AND case_ref NOT LIKE '@%'"
        )
    not_iop = tmp_path / "other.db"
    with sqlite3.connect(not_iop) as conn:
        conn.execute("CREATE TABLE t (x)")
    text = tmp_path / "notes.txt"
    text.write_text("inte en databas\n", encoding="utf-8")
    untouched = sqlite_dump(sqlite_backend.path)

    exists = cli("--lang", "en", "db", "restore", str(good))
    assert exists.status == 6 and "--force" in exists.err
    for bad, says in ((tampered, ref), (not_iop, "not an iop-workflow database"), (text, "not a SQLite database")):
        refused = cli("--json", "--lang", "en", "db", "restore", str(bad), "--force")
        error = refused.json()["error"]
        assert refused.status == 7 and error["code"] == "backup_rejected", refused.text
        assert says in error["message"] and error["details"]["file"] == str(bad)
        assert sqlite_dump(sqlite_backend.path) == untouched
    assert cli("db", "restore", str(tmp_path / "missing.db"), "--force").status == 6
    assert sqlite_dump(sqlite_backend.path) == untouched and no_partials(tmp_path)
    assert cli.ok("audit", "verify").status == 0


def test_restore_with_force_replaces_the_database_an_open_api_then_sees(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    cli = Cli(tmp_path, sqlite_backend.url)
    with api(cli, sqlite_backend.url) as iop:
        iop.init()
        add_orgs(iop)
        kept = open_case(iop)
        snapshot = iop.backup(tmp_path / "snapshot.db")
        iop.fire(kept, "start_dialogue", actor="anna")
        later = open_case(iop)
        assert {c["ref"] for c in iop.cases()} == {kept, later}
        result = iop.restore(tmp_path / "snapshot.db", force=True)
        assert result["replaced"] is True and result["records"] == snapshot["records"]
        assert [(c["ref"], c["state"]) for c in iop.cases()] == [(kept, "initiative")]
        assert iop.fire(kept, "start_dialogue", actor="anna")["to_state"] == "dialogue"
        assert iop.verify().ok
    assert cli.ok("--json", "audit", "verify").json()["records"] == snapshot["records"] + 1


@pytest.mark.postgres
def test_postgresql_gets_the_pg_dump_commands_and_they_work(pg_backend: Backend, tmp_path: Path) -> None:
    backend = pg_backend
    cli = Cli(tmp_path, backend.url)
    with api(cli, backend.url) as iop:
        iop.init()
        add_orgs(iop)
        ref = open_case(iop)
    dump = tmp_path / "iop.dump"
    for command in ("backup", "restore"):
        answer = cli("--json", "--lang", "en", "db", command, str(dump))
        error = answer.json()["error"]
        assert answer.status == 2 and error["code"] == "unsupported_backend" and "Traceback" not in answer.text
        details = error["details"]
        assert details["backup_command"] in error["message"] and details["restore_command"] in error["message"]
        assert f"--schema={backend.schema}" in details["backup_command"]
    human = cli("db", "backup", str(dump))
    assert human.status == 2 and "pg_dump --format=custom" in human.err and "pg_restore --clean" in human.err

    subprocess.run(shlex.split(details["backup_command"]), check=True, capture_output=True, timeout=120)
    cli.ok("--actor", "anna", "case", "fire", ref, "start_dialogue")
    subprocess.run(shlex.split(details["restore_command"]), check=True, capture_output=True, timeout=120)
    assert cli.ok("--json", "case", "show", ref).json()["state"] == "initiative"
    assert cli.ok("--json", "audit", "verify").json()["ok"] is True
    with pytest.raises(Exception, match="append-only"):  # the restore brought the log's guard back
        backend.execute("UPDATE transition_log SET reason = 'x'")
