"""Start-up of a reading command (issue #3): `iop case show` loads the read path and nothing more.

benchmarks/cli.py measures the time; these tests pin down the causes, so that a
new module-level import does not quietly bring the cost back.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import IOP, Cli

# Loaded by writing commands, `init`, the daemon or table output only; a read must not pay for them.
NOT_ON_THE_READ_PATH = (
    "structlog",  # the audit sink, imported when a record is emitted
    "rich",  # tables (case list, history), not case show's plain text
    "alembic",  # `iop init` only
    "apscheduler",  # the daemon only
    "stdnum",  # validating an organisation number (writes)
    "psycopg",  # the PostgreSQL driver, on a SQLite database
    "sqlalchemy.dialects.postgresql",  # ditto: the timers' partial index no longer pulls it in
    "iop_workflow.cli.admin_cmds",  # the other commands' code: loaded when that command is used
    "iop_workflow.cli.audit_cmds",
    "iop_workflow.cli.batch",
    "iop_workflow.cli.demo",
    "iop_workflow.cli.demo_walks",
    "iop_workflow.cli.diagram",
    "iop_workflow.cli.scheduler_cmds",
    "iop_workflow.cli.workflow_cmds",
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, str]:
    """A SQLite database with one organisation and one open case, as benchmarks/cli.py seeds it."""
    tmp = tmp_path_factory.mktemp("startup")
    cli = Cli(tmp, f"sqlite:///{tmp / 'iop.db'}")
    cli.ok("init")
    cli.ok("org", "add", "--name", "Förening", "--org-number", "802479-1322", "--legal-form", "ideell_forening")
    ref = cli.ok(
        "case", "open", "--org", "802479-1322", "--municipality", "Stenungsund", "--title", "T", "--challenge", "C"
    ).out.strip()
    return cli, ref


# Runs the CLI in a fresh interpreter, as `iop` does, then reports what that left behind.
# (sys.modules, not -X importtime: importtime does not list a module that
# importlib.import_module loads, and the commands are loaded that way.)
_PROBE = """\
import contextlib, gc, io, json, sys
from iop_workflow.cli.main import run
out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = run(sys.argv[1:])
print(json.dumps({"status": status, "out": out.getvalue(), "modules": sorted(sys.modules),
                  "frozen": gc.get_freeze_count(), "gc_enabled": gc.isenabled()}))
"""


def probe(cli: Cli, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [IOP[0], "-c", _PROBE, *args], env=cli.env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_case_show_imports_only_the_read_path(seeded: tuple[Cli, str]) -> None:
    cli, ref = seeded
    shown = probe(cli, "case", "show", ref)
    assert shown["status"] == 0
    assert f"{ref}  T" in shown["out"]
    modules = set(shown["modules"])
    loaded = sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in NOT_ON_THE_READ_PATH))
    assert loaded == []
    # The probe sees what the read path does need, so an empty list above means something.
    assert {"sqlmodel", "sqlalchemy.dialects.sqlite", "iop_workflow.store.tables", "iop_workflow.cli.cases"} <= modules


def test_case_show_freezes_the_imported_modules_out_of_the_collector(seeded: tuple[Cli, str]) -> None:
    """The import of the database layers runs with gc off and ends in gc.freeze() (cli/context.py)."""
    cli, ref = seeded
    shown = probe(cli, "case", "show", ref)
    assert shown["status"] == 0
    assert shown["gc_enabled"] is True  # collection is back on for the command's own objects
    assert shown["frozen"] > 20_000  # sqlalchemy, sqlmodel, pydantic and the tables: tens of thousands


def test_help_still_lists_every_command(tmp_path: Path) -> None:
    """Commands load lazily (cli/main.py COMMANDS); help and unknown names still see all of them."""
    from iop_workflow.cli.main import COMMANDS

    cli = Cli(tmp_path, None)
    listed = cli.ok("--help").out.split("Commands:", 1)[1].split()
    assert {"case", "demo", "init", "workflow"} <= set(COMMANDS)
    for name in COMMANDS:
        assert name in listed
    unknown = cli("cases")
    assert unknown.status == 2
    assert "No such command" in unknown.err


def test_alembic_sees_the_partial_timer_index(tmp_path: Path) -> None:
    """The index left the Timer class (it loaded both dialects); migrate.py declares it for Alembic."""
    from alembic import command

    from iop_workflow.store.engine import Database
    from iop_workflow.store.migrate import alembic_config, upgrade
    from iop_workflow.store.tables import OPEN_TIMERS_INDEX, Timer

    db = Database(f"sqlite:///{tmp_path / 'schema.db'}")
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            command.check(alembic_config(conn))  # raises AutogenerateDiffsDetected on any difference
    finally:
        db.dispose()
    (index,) = [i for i in Timer.__table__.indexes if i.name == OPEN_TIMERS_INDEX]  # type: ignore[attr-defined]
    where = "fired_at IS NULL AND cancelled_at IS NULL"
    assert [c.name for c in index.columns] == ["due_on"]
    assert str(index.dialect_options["sqlite"]["where"]) == where
    assert str(index.dialect_options["postgresql"]["where"]) == where
