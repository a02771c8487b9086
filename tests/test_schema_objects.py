"""The guards of the proof (append-only triggers and their functions) are part of what verify checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from iop_workflow import Iop
from iop_workflow.store import schema_objects
from iop_workflow.store.engine import Database
from iop_workflow.store.migrate import alembic_config, head_revision, upgrade
from tests.cli_helpers import Backend, Cli, prepare_signing, to_assessment, today
from tests.helpers import add_orgs, to_signed
from tests.tamper import attacker

REVISIONS = sorted(rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions())
EVIL = (
    "CREATE TRIGGER evil AFTER INSERT ON contributions "
    "BEGIN UPDATE contributions SET amount = amount * 10 WHERE id = NEW.id; END"
)


def _schema(report: object) -> list[tuple[str, str]]:
    problems = report.problems  # type: ignore[attr-defined]
    return [(p["object"], p["problem"]) for p in problems if p.get("field") == "schema"]


@pytest.mark.parametrize("revision", REVISIONS)
def test_each_revision_has_exactly_the_guards_the_list_names(db_url: str, revision: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db, revision)
        with db.engine.connect() as conn:
            assert schema_objects.revision_of(conn) == revision
            assert schema_objects.found(conn) == schema_objects.expected(conn.dialect.name, revision)
            assert schema_objects.problems(conn) == []
    finally:
        db.engine.dispose()


def test_an_extra_trigger_a_missing_guard_and_a_changed_one_are_named(iop: Iop) -> None:
    add_orgs(iop)
    to_signed(iop)
    assert iop.verify().ok
    with attacker(iop, cover_tracks=False) as conn:  # drops the log's own guards: named missing
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(EVIL)
            conn.exec_driver_sql("DROP TRIGGER corrections_no_update")
            conn.exec_driver_sql(
                "CREATE TRIGGER corrections_no_update BEFORE UPDATE ON corrections BEGIN SELECT 1; END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN NEW.amount := NEW.amount * 10; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER evil BEFORE INSERT ON contributions FOR EACH ROW EXECUTE FUNCTION evil()"
            )
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION iop_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RETURN NEW; END $$"
            )
    found = dict(_schema(iop.verify()))
    if iop.app.db.engine.dialect.name == "sqlite":
        assert found == {
            "trigger evil": "schema_object_extra",
            "trigger corrections_no_update": "schema_object_changed",
            "trigger transition_log_no_update": "schema_object_missing",
            "trigger transition_log_no_delete": "schema_object_missing",
            "trigger checkpoints_no_update": "schema_object_missing",
            "trigger checkpoints_no_delete": "schema_object_missing",
        }
    else:
        assert found == {
            "trigger evil": "schema_object_extra",
            "function evil": "schema_object_extra",
            "function iop_append_only": "schema_object_changed",
            "trigger transition_log_no_change": "schema_object_missing",
            "trigger checkpoints_no_change": "schema_object_missing",
        }


@pytest.mark.slow
def test_restore_refuses_a_backup_carrying_a_trigger_of_its_own(tmp_path: Path) -> None:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'iop.db'}")
    ref = to_assessment(cli)
    prepare_signing(cli, ref, today())
    backup = tmp_path / "backup.db"
    cli.ok("db", "backup", str(backup))
    backend = Backend("sqlite", f"sqlite:///{backup}", path=backup)
    backend.execute(EVIL)
    target = tmp_path / "restored.db"
    refused = cli("--json", "--db", f"sqlite:///{target}", "db", "restore", str(backup))
    assert refused.status == 7, refused.text
    assert "schema_object_extra" in refused.text and "trigger evil" in refused.text
    assert not target.exists()
    assert head_revision() == REVISIONS[-1]


def test_a_guard_on_an_extra_view_is_named(iop: Iop) -> None:
    with attacker(iop, commit=False) as conn:
        conn.execute(sa.text("CREATE VIEW spy AS SELECT * FROM organisations"))
        found = dict(_schema_of(conn))
    assert found["view spy"] == "schema_object_extra"


def _schema_of(conn: sa.Connection) -> list[tuple[str, str]]:
    return [(p["object"], p["problem"]) for p in schema_objects.problems(conn)]
