"""Running the installed ``iop`` in a real subprocess, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.pg import PG_URL, fresh_schema, require_postgres, schema_url

IOP = [sys.executable, "-m", "iop_workflow"]
ROLES_CONFIG = """\
[roles]
default_roles = ["registrar", "officer"]

[roles.actors]
"eva.lind" = ["signatory"]
"lars" = ["legal"]
"kim" = ["coordinator"]
system = ["system"]
"""
FORBIDDEN_AT_START = ("sqlalchemy", "sqlmodel", "alembic", "apscheduler", "structlog")


def today() -> date:
    """The date the CLI's system clock sees (Europe/Stockholm)."""
    return datetime.now(ZoneInfo("Europe/Stockholm")).date()


@dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Backend:
    """A database for one test: its URL, and raw SQL for tampering and snapshots."""

    kind: str
    url: str
    path: Path | None = None
    schema: str | None = None

    def execute(self, *statements: str) -> None:
        if self.path is not None:
            with sqlite3.connect(self.path) as conn:
                for sql in statements:
                    conn.execute(sql)
            return
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {self.schema}")
            for sql in statements:
                conn.execute(sql)


def make_backend(kind: str, tmp_path: Path) -> Iterator[Backend]:
    """Yield a fresh SQLite file, or a fresh PostgreSQL schema (dropped afterwards)."""
    if kind == "sqlite":
        path = tmp_path / "iop.db"
        yield Backend(kind, f"sqlite:///{path}", path=path)
        return
    require_postgres()
    with fresh_schema() as schema:
        yield Backend(kind, schema_url(schema), schema=schema)


class Cli:
    """``iop`` with an environment of its own: tmp HOME and data dir, a roles config, a database."""

    def __init__(self, tmp_path: Path, db_url: str | None) -> None:
        self.tmp_path = tmp_path
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        self.config = tmp_path / "iop-test.toml"
        self.config.write_text(ROLES_CONFIG, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOP_")}
        env.update(
            HOME=str(home),
            XDG_DATA_HOME=str(tmp_path / "data"),
            XDG_CONFIG_HOME=str(tmp_path / "config"),
            IOP_CONFIG=str(self.config),
            PYTHONUTF8="1",
            COLUMNS="200",
        )
        if db_url is not None:
            env["IOP_DATABASE_URL"] = db_url
        self.env = env

    @property
    def data_dir(self) -> Path:
        return self.tmp_path / "data" / "iop-workflow"

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        done = subprocess.run(
            [*IOP, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
            cwd=self.tmp_path,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def sh(self, line: str, env: dict[str, str] | None = None) -> Result:
        """Run ``iop`` with arguments written as a shell would (quotes group words)."""
        return self(*shlex.split(line), env=env)

    def sh_ok(self, line: str, env: dict[str, str] | None = None) -> Result:
        return self.ok(*shlex.split(line), env=env)

    def imports(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
        """Run with ``-X importtime``; return the process and the names of every module it imported."""
        done = subprocess.run(
            [IOP[0], "-X", "importtime", *IOP[1:], *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return done, {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}

    def ok(self, *args: str, env: dict[str, str] | None = None) -> Result:
        result = self(*args, env=env)
        assert result.status == 0, f"iop {' '.join(args)} -> {result.status}\n{result.text}"
        assert "Traceback" not in result.text
        return result


def sqlite_dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy (WAL included) through SQLite's backup API."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def to_assessment(cli: Cli) -> str:
    """Register the shelter, open its case and take it to assessment; returns the ref."""
    cli.ok("init")
    cli.sh_ok(
        "org add --name 'Kvinnojouren i Stenungsund' --org-number 802479-1322 --legal-form ideell_forening "
        "--protected --address 'Hemlig adress 1'"
    )
    ref = cli.sh_ok(
        "--actor anna case open --org 802479-1322 --municipality Stenungsund --title 'Skyddat boende' "
        "--challenge 'Våldsutsatta kvinnor behöver skydd och stöd'"
    ).out.strip()
    cli.sh_ok(f"--actor anna case fire {ref} start_dialogue")
    cli.sh_ok(f"--actor anna case record {ref} meeting --held-on {today()} --joint-challenge 'Skydd och stöd'")
    cli.sh_ok(f"--actor anna case fire {ref} submit_for_assessment")
    return ref


def prepare_signing(cli: Cli, ref: str, start: date) -> None:
    """Every fact signing needs; anna (an officer) assesses, lars (legal) checks the law."""
    guideline = cli.ok("--json", "guideline", "show", "Stenungsund-IOP").json()
    gating = [c["code"] for c in guideline["criteria"] if c["kind"] != "consideration"]
    assert len(gating) == 7
    if guideline["unverified"]:  # the shipped Stenungsund guideline gives no decision: the coordinator confirms it
        cli.sh_ok(
            "--actor kim guideline confirm Stenungsund-IOP --decided-on 2019-05-20 --decided-by Kommunstyrelsen "
            "--minutes-ref 'KS § 88/2019 (test)'"
        )
    for code in gating:
        cli.sh_ok(f"--actor anna case assess {ref} {code} met --note 'Bedömt i dialogen'")
    cli.sh_ok(
        f"--actor lars case record {ref} legal-check --competence --procurement-not-required "
        "--no-competition-distortion --state-aid-basis non_economic --rationale 'Icke-ekonomisk verksamhet'"
    )
    end = start.replace(year=start.year + 2) - timedelta(days=1)
    cli.sh_ok(f"--actor anna case record {ref} agreement --start-on {start} --end-on {end} --notice-months 3")
    cli.sh_ok(
        f"--actor anna case record {ref} contribution --party municipality --kind money --amount 340000 --unit SEK"
    )
    cli.sh_ok(
        f"--actor anna case record {ref} contribution --party organisation --kind volunteer_hours --amount 2000 --unit h"
    )
    cli.sh_ok(
        f"--actor anna case record {ref} decision --body Socialnämnden --decided-on {today()} "
        "--minutes-ref 'SN § 12/2026'"
    )
