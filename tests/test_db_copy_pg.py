"""``iop db copy --simulation --to URL``: a simulated copy of a PostgreSQL database in a new database
(issue #14, item 1). Real PostgreSQL, the real ``iop`` in a subprocess; every database made is dropped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.errors import UsageError
from iop_workflow.settings import Settings
from iop_workflow.store.migrate import all_tables
from tests.cli_helpers import Backend, Cli, today
from tests.helpers import seed_due
from tests.pg import PG_URL, require_postgres
from tests.tamper import attacker


def database_url(name: str) -> str:
    return sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


@pytest.fixture
def target() -> Iterator[str]:
    """A new database's name on the test server (not created); dropped afterwards if anything made it."""
    require_postgres()
    import psycopg

    name = f"iop_copy_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def state(url: str, settings: Settings) -> dict[str, Any]:
    """What a database holds: its records, cases, clock row and the tables it has."""
    with Iop.connect(url, settings=settings, audit_log=False) as iop:
        report = iop.verify()
        with iop.app.db.read() as s:
            clock = dict(s.execute(sa.text("SELECT mode, now, ordered_from_seq FROM db_clock")).mappings().one())
            tables = set(sa.inspect(s).get_table_names())
    return {"ok": report.ok, "records": report.records, "cases": report.cases, "clock": clock, "tables": tables}


def test_a_copy_verifies_its_clock_is_simulated_at_now_and_moves_apart_from_the_source(
    pg_backend: Backend, target: str, tmp_path: Path, settings: Settings
) -> None:
    seed_due(pg_backend.url, settings, signed=1)  # a real database: an agreement start due in February 2026
    before = state(pg_backend.url, settings)
    cli = Cli(tmp_path, pg_backend.url)
    copied = cli.ok("--json", "db", "copy", "--simulation", "--to", database_url(target)).json()
    assert copied["database"] == database_url(target) and copied["clock"] == "simulated"
    assert copied["today"] == str(today())  # a real source's now is the system clock's
    assert (copied["cases"], copied["records"]) == (before["cases"], before["records"]) and copied["verified"]

    copy = Cli(tmp_path, database_url(target))
    assert "intact" in copy.ok("--lang", "en", "audit", "verify").out
    made = state(database_url(target), settings)
    assert made["ok"] and (made["cases"], made["records"]) == (before["cases"], before["records"])
    assert made["clock"]["mode"] == "simulated" and made["clock"]["now"] == copied["now"]
    assert made["clock"]["ordered_from_seq"] == before["clock"]["ordered_from_seq"]
    assert made["tables"] == {t.name for t in all_tables()} | {"alembic_version"}  # every table is copied

    later = today() + timedelta(days=400)
    assert copy.ok("--json", "scheduler", "tick", "--at", str(later)).json()["fired"] >= 1  # new ids: sequences moved
    moved = state(database_url(target), settings)
    assert moved["ok"] and moved["records"] > made["records"] and moved["clock"]["now"].startswith(str(later))
    assert state(pg_backend.url, settings) == before  # the source: same records, its clock real


def test_a_simulated_source_keeps_its_stored_instant_and_a_target_may_name_a_schema(
    pg_backend: Backend, target: str, settings: Settings
) -> None:
    seed_due(pg_backend.url, settings, signed=1, simulation=True)  # stored at 2026-01-12
    stored = state(pg_backend.url, settings)["clock"]["now"]
    into = database_url(target) + "?options=-csearch_path%3Dwhat_if"  # a schema of the new database
    with Iop.connect(pg_backend.url, settings=settings, audit_log=False) as iop:
        copied = iop.copy_simulated(to=into)
    assert copied["now"] == stored and str(copied["today"]) == "2026-01-12"
    made = state(into, settings)
    assert made["ok"] and made["clock"]["now"] == stored and made["clock"]["mode"] == "simulated"
    with sa.create_engine(database_url(target).replace("postgresql://", "postgresql+psycopg://")).connect() as conn:
        assert "cases" in sa.inspect(conn).get_table_names(schema="what_if")


def test_an_existing_target_is_refused_without_force_and_replaced_with_it(
    pg_backend: Backend, target: str, tmp_path: Path, settings: Settings
) -> None:
    import psycopg

    seed_due(pg_backend.url, settings, signed=1)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {target}")
    with psycopg.connect(database_url(target), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int)")
    cli = Cli(tmp_path, pg_backend.url)
    refused = cli("--lang", "en", "db", "copy", "--simulation", "--to", database_url(target))
    assert refused.status == 6 and "already exists; --force replaces it" in refused.err
    assert "Traceback" not in refused.text
    with psycopg.connect(database_url(target)) as conn:  # nothing changed there
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"kept"}
    out = cli.ok("db", "copy", "--simulation", "--force", "--to", database_url(target)).out
    assert out.startswith(f"Simulerad kopia skriven till {database_url(target)}:") and "tick --at DATUM" in out
    made = state(database_url(target), settings)
    assert made["ok"] and "kept" not in made["tables"]


def test_the_source_and_the_servers_own_databases_are_never_a_target(
    pg_backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    seed_due(pg_backend.url, settings, signed=1)
    before = state(pg_backend.url, settings)
    cli = Cli(tmp_path, pg_backend.url)
    own = sa.make_url(PG_URL).database
    for name, why in ((own, "is the database being copied"), ("postgres", "is the server's own database")):
        refused = cli("--lang", "en", "db", "copy", "--simulation", "--force", "--to", database_url(str(name)))
        assert refused.status == 6 and why in refused.err and "Traceback" not in refused.text, refused.text
    assert exists(str(own)) and exists("postgres")
    assert state(pg_backend.url, settings) == before


def test_wrong_targets_for_the_back_end_are_usage_errors_and_write_nothing(
    pg_backend: Backend, target: str, tmp_path: Path, settings: Settings
) -> None:
    seed_due(pg_backend.url, settings, signed=1)
    cli = Cli(tmp_path, pg_backend.url)
    file = tmp_path / "what-if.db"
    for args, says in (
        (["--to", f"sqlite:///{file}"], "is not a PostgreSQL URL"),
        ([str(file)], "is copied into a new database, not a FILE"),
        ([str(file), "--to", database_url(target)], "not a FILE"),
        ([], "name the new database"),
        (["--to", "postgresql://postgres@127.0.0.1:5432"], "names no database"),
    ):
        refused = cli("--lang", "en", "db", "copy", "--simulation", *args)
        assert refused.status == 2 and says in refused.err and "Traceback" not in refused.text, (args, refused.text)
    assert not file.exists() and not exists(target)


def test_a_copy_that_does_not_verify_is_dropped(
    pg_backend: Backend, target: str, tmp_path: Path, settings: Settings
) -> None:
    seed_due(pg_backend.url, settings, signed=1)
    with Iop.connect(pg_backend.url, settings=settings, audit_log=False) as iop, attacker(iop) as conn:
        conn.execute(sa.text("UPDATE transition_log SET actor = 'mallory' WHERE seq = 3"))
    refused = Cli(tmp_path, pg_backend.url)("--lang", "en", "db", "copy", "--simulation", "--to", database_url(target))
    assert refused.status == 7 and "is not an intact iop database" in refused.err and "Traceback" not in refused.text
    assert not exists(target)  # created, filled, refused: dropped


def test_to_is_refused_on_sqlite_and_nothing_is_written(tmp_path: Path, settings: Settings) -> None:
    with Iop.connect(f"sqlite:///{tmp_path / 'iop.db'}", settings=settings, audit_log=False) as iop:
        iop.init()
        for path, to in (
            (None, "postgresql://postgres@127.0.0.1/x"),
            (tmp_path / "c.db", "postgresql://h/x"),
            (None, None),
        ):
            with pytest.raises(UsageError) as refused:
                iop.copy_simulated(path, to=to)
            assert "FILE" in refused.value.message("en") and "FIL" in refused.value.message("sv")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".db")) == ["iop.db"]


def test_a_source_without_the_schema_or_at_an_older_one_is_refused_and_nothing_is_made(
    pg_backend: Backend, target: str, tmp_path: Path, settings: Settings
) -> None:
    from alembic import command

    from iop_workflow.store.migrate import alembic_config

    cli = Cli(tmp_path, pg_backend.url)
    empty = cli("--lang", "en", "db", "copy", "--simulation", "--to", database_url(target))
    assert empty.status == 8 and "run `iop init`" in empty.err and "Traceback" not in empty.text, empty.text
    seed_due(pg_backend.url, settings, signed=1)
    with Iop.connect(pg_backend.url, settings=settings, audit_log=False) as iop, iop.app.db.write() as conn:
        command.downgrade(alembic_config(conn), "0012")
    older = cli("--lang", "en", "db", "copy", "--simulation", "--to", database_url(target))
    assert older.status == 2 and "(0012) is not this version's" in older.err and "Traceback" not in older.text
    assert not exists(target)


@pytest.mark.slow
def test_the_copy_reads_one_snapshot_read_only(pg_schema_url: str) -> None:
    from iop_workflow.store.engine import Database

    db = Database(pg_schema_url)
    try:
        with db.snapshot() as s:
            shown = [
                s.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("transaction_isolation", "transaction_read_only")
            ]
        assert shown == ["repeatable read", "on"]
    finally:
        db.dispose()
