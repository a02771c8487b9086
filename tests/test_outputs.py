"""Files a command writes (issue #13, item 5): never the database, its journals or the audit streams;
an existing file only with --force; whole or not at all; created with ``[files] mode`` (0600 by default)."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_helpers import Cli, to_assessment

pytestmark = pytest.mark.slow  # real iop processes: each case below runs several

YEAR = str(__import__("datetime").date.today().year)
Output = Callable[[Path], list[str]]
OUTPUTS: dict[str, Output] = {
    "audit export": lambda p: ["audit", "export", "--format", "csv", "--output", str(p)],
    "report annual": lambda p: ["report", "annual", "--year", YEAR, "--format", "csv", "--output", str(p)],
    "db backup": lambda p: ["db", "backup", str(p)],
}


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "(none)"


@pytest.fixture
def world(tmp_path: Path) -> tuple[Cli, Path]:
    db = tmp_path / "iop.db"
    cli = Cli(tmp_path, f"sqlite:///{db}")
    to_assessment(cli)
    return cli, db


def guarded(cli: Cli, db: Path) -> dict[str, Path]:
    stream = db.with_name("iop.audit.jsonl")
    events = stream.with_name("iop.audit.events.jsonl")
    if not events.exists():  # an event line makes it: a sweep's figures
        cli.ok("scheduler", "tick")
    link = db.parent / "alias.db"
    link.symlink_to(db)
    return {
        "database": db,
        "wal": db.with_name(db.name + "-wal"),
        "stream": stream,
        "events": events,
        "symlink to the database": link,
    }


@pytest.mark.parametrize("command", sorted(OUTPUTS))
def test_an_output_onto_the_database_or_a_stream_is_refused_and_changes_nothing(
    world: tuple[Cli, Path], command: str
) -> None:
    cli, db = world
    for name, target in guarded(cli, db).items():
        assert target.exists() or name == "wal", name  # the WAL is gone once the last connection closes
        files = sorted(db.parent.glob("iop*"))
        before = {f: digest(f) for f in files if f.name != db.name + "-shm" and f.name != db.name + "-wal"}
        for force in ([], ["--force"]):
            result = cli(*OUTPUTS[command](target), *force)
            assert result.status == 6, (command, name, force, result.text)
            assert "Traceback" not in result.text
            assert "databasen eller en granskningsström" in result.err or "inte" in result.err, result.err
        after = {f: digest(f) for f in before}
        assert after == before, (command, name)
    assert cli.ok("audit", "verify").status == 0


@pytest.mark.parametrize("command", sorted(OUTPUTS))
def test_an_existing_file_needs_force_and_a_new_one_is_the_owners_only(world: tuple[Cli, Path], command: str) -> None:
    cli, db = world
    existing = db.parent / "rapport.csv"
    existing.write_text("kvar\n", encoding="utf-8")
    refused = cli(*OUTPUTS[command](existing))
    assert refused.status == 6 and "--force" in refused.err, refused.text
    assert existing.read_text(encoding="utf-8") == "kvar\n"
    cli.ok(*OUTPUTS[command](existing), "--force")
    assert existing.read_text(encoding="utf-8", errors="replace") != "kvar\n"
    assert mode(existing) == 0o600
    fresh = db.parent / "ny.out"
    cli.ok(*OUTPUTS[command](fresh))
    assert mode(fresh) == 0o600
    assert not list(db.parent.glob("*.partial")), "a temporary file was left behind"


def test_the_database_and_the_streams_are_created_the_owners_only(world: tuple[Cli, Path]) -> None:
    cli, db = world
    paths = guarded(cli, db)
    for name in ("database", "stream", "events"):
        assert mode(paths[name]) == 0o600, name


def test_a_group_may_read_when_the_setting_says_so(tmp_path: Path) -> None:
    db = tmp_path / "iop.db"
    cli = Cli(tmp_path, f"sqlite:///{db}")
    group = {"IOP_FILES_MODE": "0640"}
    cli.ok("init", env=group)
    cli.ok("audit", "export", "--output", str(tmp_path / "export.jsonl"), env=group)
    assert mode(db) == 0o640 and mode(db.with_name("iop.audit.jsonl")) == 0o640
    assert mode(tmp_path / "export.jsonl") == 0o640
    wrong = cli("case", "list", env={"IOP_FILES_MODE": "0666"})
    assert wrong.status == 6 and "0600, 0640" in wrong.err, wrong.text


def test_the_group_setting_holds_under_a_strict_umask(tmp_path: Path) -> None:
    """umask 077 (common for service accounts) must not turn the 0640 setting into 0600."""
    db = tmp_path / "iop.db"
    cli = Cli(tmp_path, f"sqlite:///{db}")
    group = {"IOP_FILES_MODE": "0640"}
    before = os.umask(0o077)  # the iop processes inherit it
    try:
        cli.ok("init", env=group)
        cli.ok(
            "org",
            "add",
            "--name",
            "Föreningen",
            "--org-number",
            "802479-1322",
            "--legal-form",
            "ideell_forening",
            env=group,
        )
        cli.ok("scheduler", "tick", env=group)  # its figures make the events file
        paths = guarded(cli, db)
    finally:
        os.umask(before)
    for name in ("database", "stream", "events"):
        assert mode(paths[name]) == 0o640, name
