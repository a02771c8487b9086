"""PostgreSQL databases copied whole: a new database made through the server's maintenance database,
every table's rows streamed by COPY, serial sequences moved past the copied ids.

The service (``service/pg_copy.py``) decides what to copy and when; this module only moves bytes:
it knows no clock and no audit rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.errors import DatabaseUnavailable, InvalidInput
from iop_workflow.store.engine import redact

if TYPE_CHECKING:
    import psycopg

MAINTENANCE_DATABASE = "postgres"
# Databases no copy may be made into (and so, with --force, dropped): the server's own.
SERVER_DATABASES = frozenset({MAINTENANCE_DATABASE, "template0", "template1"})
# The server one is connected to: the same instance answers the same start time on the same port.
SERVER_IDENTITY = "SELECT pg_postmaster_start_time()::text, current_setting('port')"


def conninfo(url: sa.URL) -> str:
    """A libpq URI for psycopg (SQLAlchemy's ``+psycopg`` driver name dropped)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def maintenance(url: sa.URL) -> Iterator[Any]:
    """An AUTOCOMMIT psycopg connection to ``url``'s server's maintenance database."""
    import psycopg  # noqa: PLC0415 - only PostgreSQL commands pay for the driver

    where = url.set(database=MAINTENANCE_DATABASE)
    try:
        conn = psycopg.connect(conninfo(where), autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise DatabaseUnavailable(url=redact(where.render_as_string()), problem=_first_line(exc)) from None
    try:
        yield conn
    finally:
        conn.close()


def server_identity(conn: Any) -> tuple[str, str]:
    """(start time, port) of the server a psycopg connection talks to."""
    start, port = conn.execute(SERVER_IDENTITY).fetchone()
    return str(start), str(port)


def create_database(conn: Any, url: sa.URL, *, force: bool) -> None:
    """CREATE DATABASE ``url.database`` on the maintenance connection ``conn``; an existing one is
    refused (exit 6) unless ``force``, which drops it first."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    name = sql.Identifier(str(url.database))
    try:
        if force:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    except psycopg.errors.DuplicateDatabase:
        raise InvalidInput(
            field="--to",
            value=redact(url.render_as_string()),
            problem_sv="databasen finns redan; --force ersätter den",
            problem_en="the database already exists; --force replaces it",
        ) from None
    except psycopg.Error as exc:
        raise DatabaseUnavailable(url=redact(url.render_as_string()), problem=_first_line(exc)) from None


def create_schema_of(url: sa.URL) -> None:
    """In the new database ``url``, the schema its search path names first, when there is none yet
    (``?options=-csearch_path%3DNAME``: the copy's tables go there)."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    try:
        with psycopg.connect(conninfo(url), autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT current_schema()").fetchone() != (None,):
                return
            row = conn.execute("SELECT current_setting('search_path')").fetchone()
            first = str(row[0] if row else "").split(",")[0].strip().strip('"')
            if first and not first.startswith("$"):
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(first)))
    except psycopg.Error as exc:
        raise DatabaseUnavailable(url=redact(url.render_as_string()), problem=_first_line(exc)) from None


def drop_database(conn: Any, url: sa.URL) -> None:
    """DROP DATABASE ``url.database`` if it exists (a half-made copy)."""
    from psycopg import sql  # noqa: PLC0415

    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(str(url.database))))


def copy_rows(source: Connection, target: Connection, tables: Sequence[sa.Table], *, clear: bool = True) -> None:
    """Stream every row of ``tables`` from ``source`` into ``target`` with COPY, in the tables' order.

    Constant memory: the server's COPY blocks are passed on as they arrive. ``clear``: the rows a
    fresh schema holds (its migrations' seeds) are deleted first, last table first.
    """
    from psycopg import sql  # noqa: PLC0415

    if clear:
        for table in reversed(tables):
            target.execute(sa.delete(table))
    src = cast("psycopg.Connection[Any]", source.connection.dbapi_connection)  # COPY is the driver's
    dst = cast("psycopg.Connection[Any]", target.connection.dbapi_connection)
    for table in tables:
        columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
        keys = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.primary_key.columns) or sql.SQL("1")
        out = sql.SQL("COPY (SELECT {} FROM {} ORDER BY {}) TO STDOUT").format(
            columns, sql.Identifier(table.name), keys
        )
        into = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table.name), columns)
        with src.cursor() as read, dst.cursor() as write, read.copy(out) as rows, write.copy(into) as sink:
            for block in rows:
                sink.write(block)


def reset_sequences(s: Connection, tables: Sequence[sa.Table]) -> None:
    """Move each serial or identity sequence of ``tables`` past the largest id its column holds
    (rows written with explicit ids leave it behind); an empty table's starts again at 1."""
    for table in tables:
        for column in table.columns:
            if not isinstance(column.type, sa.Integer):
                continue
            found = s.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": column.name}
            ).scalar()
            if found is None:
                continue
            top = s.execute(sa.select(sa.func.max(column))).scalar()
            s.execute(
                sa.text("SELECT setval(:sequence, :value, :called)"),
                {"sequence": found, "value": 1 if top is None else int(top), "called": top is not None},
            )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
