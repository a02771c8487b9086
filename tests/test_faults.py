"""The machine fails under a write: a read-only database, a full disk, a locked database.

Each fault is real and each command a real ``python -m iop_workflow`` process:
a read-only file (as user nobody: root ignores file modes), a read-only file
system (a tmpfs remounted ro), a read-only PostgreSQL (as a hot standby is), a full file system (a 1 MB tmpfs, filled) or, where
mounting is not permitted, a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored), and
another connection holding ``BEGIN EXCLUSIVE`` past the busy timeout.

Every write is one that succeeds on a healthy machine (the last step of each test
shows that); under the fault it exits 8 (database unavailable) with a message
that says what is wrong, no traceback, nothing in the internal-error log, and
not one row changed.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import IOP, Backend, Cli, Result, copy_sqlite, make_backend, sqlite_dump, to_assessment
from tests.fuzz_support import InProcessCli, build_template, pg_rows

WRITE = [  # as the OS login itself: the user nobody may not act as anyone else (--actor needs admin)
    "org",
    "add",
    "--name",
    "Föreningen Fel",
    "--org-number",
    "802014-5671",
    "--legal-form",
    "annan",
]
BIG_WRITE = [
    "--actor",
    "anna",
    "case",
    "open",
    "--org",
    "802479-1322",
    "--municipality",
    "Stenungsund",
    "--title",
    "Stor",
]
BIG_WRITE += ["--challenge", "Utmaning " * 1_100]  # ~10 kB: more than the space left on the full disk


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("template"))


def _run(
    cli: Cli, args: list[str], *, prefix: list[str] | None = None, limit: Callable[[], None] | None = None
) -> Result:
    done = subprocess.run(
        [*(prefix or []), *IOP, *args],
        env=cli.env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        cwd=cli.tmp_path,
        preexec_fn=limit,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def _unavailable(result: Result, cli: Cli, *words: str) -> None:
    assert result.status == 8, result.text
    assert "Traceback" not in result.text
    assert result.err.startswith("Databasen sqlite:///") and "går inte att använda: " in result.err, result.err
    assert any(w in result.err for w in words), result.err
    assert not (cli.data_dir / "cli-errors.log").exists()


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (skipped where mounting is not permitted), unmounted afterwards."""
    where = tmp_path / "mnt"
    _mount_tmpfs(where, "1m")
    try:
        yield where
    finally:
        gc.collect()  # sqlite3 connections live in reference cycles: close them before unmounting
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(where)], check=True)


def test_a_read_only_file_system(template: Path, tmpfs: Path) -> None:
    db = tmpfs / "iop.db"
    copy_sqlite(template, db)
    before = sqlite_dump(db)
    gc.collect()  # no file of the mount may stay open for writing when it turns read-only
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    cli = Cli(tmpfs.parent, f"sqlite:///{db}")
    _unavailable(_run(cli, WRITE), cli, "the database file cannot be opened: check its directory, permissions and disk")
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    assert sqlite_dump(db) == before
    assert _run(cli, WRITE).status == 0  # the same write, on a writable file system


def test_a_full_file_system(template: Path, tmpfs: Path) -> None:
    db = tmpfs / "iop.db"
    copy_sqlite(template, db)
    before = sqlite_dump(db)
    free = shutil.disk_usage(tmpfs).free
    filler = tmpfs / "filler"
    filler.write_bytes(b"\0" * (free - 40 * 1024))  # room for the WAL index (32 kB) and a page or two, no more
    cli = Cli(tmpfs.parent, f"sqlite:///{db}")
    _unavailable(_run(cli, BIG_WRITE), cli, "the disk is full (database or disk is full)")
    filler.unlink()
    assert sqlite_dump(db) == before
    assert _run(cli, BIG_WRITE).status == 0  # the same write, with room on the disk


def test_a_file_size_limit_where_the_disk_cannot_be_filled(template: Path, tmp_path: Path) -> None:
    """The fallback for a full disk: writes past 4 kB fail (EFBIG), as they do on a full disk (ENOSPC)."""
    db = tmp_path / "iop.db"
    copy_sqlite(template, db)
    before = sqlite_dump(db)
    cli = Cli(tmp_path, f"sqlite:///{db}")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    # Keep the WAL index (32 kB) in place so that only the WAL, the write itself, hits the limit.
    with sqlite3.connect(db) as holder:
        holder.execute("SELECT count(*) FROM cases").fetchone()
        _unavailable(
            _run(cli, WRITE, limit=limit), cli, "the disk cannot be written: full, over a size limit or failing"
        )
        assert sqlite_dump(db) == before
    assert _run(cli, WRITE).status == 0


@pytest.mark.slow
def test_a_locked_database(template: Path, tmp_path: Path) -> None:
    """Another writer holds the lock past the busy timeout: exit 8 with JSON saying so; reads go on."""
    db = tmp_path / "iop.db"
    copy_sqlite(template, db)
    before = sqlite_dump(db)
    cli = Cli(tmp_path, f"sqlite:///{db}")
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        result = _run(cli, ["--json", *WRITE])
        waited = time.monotonic() - started
        assert (result.status, result.err) == (8, ""), result.text
        error = json.loads(result.out)["error"]
        assert error["code"] == "database_unavailable"
        assert error["details"]["problem"].startswith("locked by another writer for longer than 10 s"), error
        assert waited >= 9, waited  # it waited for the busy timeout before giving up
        assert _run(cli, ["org", "list"]).status == 0  # WAL: readers are not blocked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sqlite_dump(db) == before
    assert _run(cli, WRITE).status == 0


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory user nobody can reach (pytest's tmp tree is private to root)."""
    where = Path(tempfile.mkdtemp(prefix="iop-faults-"))
    where.chmod(0o777)
    try:
        yield where
    finally:
        shutil.rmtree(where)


def _as_nobody() -> list[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as user nobody")
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run([*prefix, *IOP, "--version"], capture_output=True, check=False, cwd="/")
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run the package here: {probe.stderr.decode().strip()[-200:]}")
    return prefix


def test_a_read_only_database_file(template: Path, shared_dir: Path) -> None:
    """As user nobody: the file is mode 0444 (the directory is writable, for the WAL index)."""
    nobody = _as_nobody()
    db = shared_dir / "iop.db"
    copy_sqlite(template, db)
    db.chmod(0o444)
    before = sqlite_dump(db)
    cli = Cli(shared_dir, f"sqlite:///{db}")
    for sub in ("home", "data", "config"):
        (shared_dir / sub).mkdir(exist_ok=True, mode=0o777)
        (shared_dir / sub).chmod(0o777)
    assert _run(cli, ["org", "list"], prefix=nobody).status == 0  # reading still works
    _unavailable(
        _run(cli, WRITE, prefix=nobody), cli, "the database is read-only (attempt to write a readonly database)"
    )
    assert sqlite_dump(db) == before


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("postgresql", tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_read_only_postgresql_database(pg: Backend, tmp_path: Path) -> None:
    """A hot standby, or a role that may only read: every transaction is read-only (SQLSTATE 25006)."""
    cli = Cli(tmp_path, pg.url)
    ref = to_assessment(InProcessCli(tmp_path, pg.url))
    before = pg_rows(pg)
    read_only = Cli(tmp_path, pg.url + "%20-cdefault_transaction_read_only%3Don")
    result = _run(read_only, ["--actor", "anna", "case", "fire", ref, "decline", "--reason", "Ingen budget"])
    assert result.status == 8 and "Traceback" not in result.text, result.text
    assert result.err.startswith("Databasen postgresql+psycopg://") and "the database is read-only (" in result.err
    assert not (cli.data_dir / "cli-errors.log").exists()
    assert _run(read_only, ["case", "show", ref]).status == 0  # reading works
    assert pg_rows(pg) == before
    assert _run(cli, ["--actor", "anna", "case", "fire", ref, "decline", "--reason", "Ingen budget"]).status == 0


@pytest.mark.slow
@pytest.mark.postgres
def test_a_locked_postgresql_row(pg: Backend, tmp_path: Path) -> None:
    """Another session holds the case's row lock: the write gives up after lock_timeout, exit 8, nothing changed.

    PostgreSQL's own default is to wait forever. The engine sets 10 s (as SQLite's busy timeout)
    where nothing else sets one; a lock_timeout from the server, the role or the URL wins, which
    is how this test waits 0.3 s instead of 10.
    """
    import psycopg

    from iop_workflow.store.engine import Database

    cli = Cli(tmp_path, pg.url)
    ref = to_assessment(InProcessCli(tmp_path, pg.url))
    before = pg_rows(pg)
    fire = ["--actor", "anna", "case", "fire", ref, "decline", "--reason", "Ingen budget"]
    with psycopg.connect(pg.url) as holder:
        holder.execute("SELECT 1 FROM cases WHERE ref = %s FOR UPDATE", (ref,))
        started = time.monotonic()
        result = _run(Cli(tmp_path, pg.url + "%20-clock_timeout%3D300"), fire)
        waited = time.monotonic() - started
        assert result.status == 8 and "Traceback" not in result.text, result.text
        assert "locked by another session for longer than the lock timeout (lock_timeout)" in result.err, result.err
        assert 0.3 <= waited < 9, waited  # the URL's 300 ms, not the engine's default
        assert _run(cli, ["case", "show", ref]).status == 0  # reading is not blocked by a row lock
    assert not (cli.data_dir / "cli-errors.log").exists()
    assert pg_rows(pg) == before
    database = Database(pg.url)
    try:
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "10s"
    finally:
        database.dispose()
    assert _run(cli, fire).status == 0
