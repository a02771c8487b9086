"""One suite, every back-end: the ``db_url`` fixture runs each test on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from iop_workflow import FakeClock, Iop
from iop_workflow.settings import Settings
from tests.cli_helpers import Backend, make_backend
from tests.pg import fresh_schema, require_postgres, schema_url

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.fixture(scope="session")
def pg_available() -> None:
    require_postgres()


@pytest.fixture
def pg_schema_url(pg_available: None) -> Iterator[str]:
    """A fresh, empty schema on the PostgreSQL server, dropped afterwards."""
    with fresh_schema() as schema:
        yield schema_url(schema, driver=True)


# The fast loop (`-m "not slow"`) runs in process on SQLite. The PostgreSQL half of every
# two-back-end test and every test that runs the real `iop` in a subprocess (the `backend`
# fixture) are marked slow: the full suite, and CI, run them all.
POSTGRES = pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow])
SUBPROCESS_FIXTURES = frozenset({"backend", "pg_backend"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # A module whose fixtures start a real `iop serve` names them in SERVED_FIXTURES.
        served = getattr(getattr(item, "module", None), "SERVED_FIXTURES", frozenset())
        if (SUBPROCESS_FIXTURES | served) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=["sqlite", POSTGRES])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'iop.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture(params=["sqlite", POSTGRES])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A database for the real ``iop`` in a subprocess: its URL, and raw SQL (tests/cli_helpers.py)."""
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def pg_backend(tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("postgresql", tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 12, 9, 0, tzinfo=STOCKHOLM))


@pytest.fixture
def settings() -> Settings:
    return dataclasses.replace(
        Settings(),
        actors={  # each login exactly its roles (default_roles would become grants to every login)
            "anna": frozenset({"registrar", "officer"}),
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
