"""One suite, every back-end: the ``db_url`` fixture runs each test on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from iop_workflow import FakeClock, Iop
from iop_workflow.settings import Settings

PG_URL = os.environ.get("IOP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _pg_reachable() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_URL} is unreachable ({str(exc).strip().splitlines()[0]})"
    return None


@pytest.fixture(scope="session")
def pg_available() -> None:
    problem = _pg_reachable()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem}; PostgreSQL is required in CI")
    pytest.skip(f"{problem}; start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")


@pytest.fixture
def pg_schema_url(pg_available: None) -> Iterator[str]:
    """A fresh, empty schema on the PostgreSQL server, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'iop.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 12, 9, 0, tzinfo=STOCKHOLM))


@pytest.fixture
def settings() -> Settings:
    return dataclasses.replace(
        Settings(),
        actors={
            "eva": frozenset({"signatory"}),
            "lars": frozenset({"legal"}),
            "kim": frozenset({"coordinator"}),
            "system": frozenset({"system"}),
            "revisor": frozenset({"auditor"}),
        },
    )


@pytest.fixture
def iop(db_url: str, clock: FakeClock, settings: Settings, tmp_path: Path) -> Iterator[Iop]:
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=tmp_path / "audit.jsonl") as api:
        api.init()
        yield api
