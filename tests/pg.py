"""The PostgreSQL test server: one reachability check, one skip-or-fail policy, fresh schemas."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_URL = os.environ.get("IOP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def schema_url(schema: str, *, driver: bool = False) -> str:
    """The test server's URL with ``schema`` first on the search path (``driver``: name psycopg for SQLAlchemy)."""
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1) if driver else PG_URL
    return f"{base}?options=-csearch_path%3D{schema}"


def pg_problem() -> str | None:
    """Why the server cannot be used, or None when it answers."""
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_URL} is unreachable ({str(exc).strip().splitlines()[0]})"
    return None


def require_postgres() -> None:
    """Skip with the reason when the server is down; in CI (CI=true) fail instead."""
    problem = pg_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem}; PostgreSQL is required in CI")
    pytest.skip(f"{problem}; start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new, empty schema's name, dropped with everything in it afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
