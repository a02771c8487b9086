"""``iop db copy --simulation --to URL`` on PostgreSQL: a simulated copy in a new database.

The target database is created on its server through the maintenance database (``postgres``);
one that exists is refused (exit 6) unless ``--force``, which drops and recreates it. The
target is never the source's own database, nor the server's ``postgres``/``template`` ones.
The copy gets the schema at head the way ``iop init`` makes it (the migrations), then every
table's rows from ONE snapshot of the source (a REPEATABLE READ, READ ONLY transaction),
streamed by COPY in foreign-key order, its serial sequences past the copied ids, and its clock
simulated at the source's now (``clock_mode.copy_starts_at``, the SQLite copy's rule). Its
audit log must verify before it is committed (else exit 7). On any failure the half-made
database is dropped: nothing is left behind.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.clock import SIMULATED, SystemClock
from iop_workflow.errors import DatabaseUnavailable, InvalidInput, UsageError
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.context import App
from iop_workflow.store.engine import normalise_url, redact


def check_arguments(dialect: str, file: Path | str | None, to: str | None) -> None:
    """Exactly the target the source's back-end takes: FILE for SQLite, ``--to URL`` for PostgreSQL
    (UsageError, exit 2, nothing written)."""
    if dialect == "sqlite":
        if to is not None:
            raise UsageError(
                problem="--to URL is for a PostgreSQL database; a SQLite database is copied to a FILE: "
                "`iop db copy FILE --simulation`",
                problem_sv="--to URL gäller en PostgreSQL-databas; en SQLite-databas kopieras till en FIL: "
                "`iop db copy FIL --simulation`",
            )
        if file is None:
            raise UsageError(
                problem="give the FILE to copy to: `iop db copy FILE --simulation`",
                problem_sv="ange FILEN att kopiera till: `iop db copy FIL --simulation`",
            )
        return
    if file is not None:
        raise UsageError(
            problem="a PostgreSQL database is copied into a new database, not a FILE: "
            "`iop db copy --simulation --to postgresql://HOST/NEWDB`",
            problem_sv="en PostgreSQL-databas kopieras till en ny databas, inte en FIL: "
            "`iop db copy --simulation --to postgresql://VÄRD/NYDB`",
        )
    if to is None:
        raise UsageError(
            problem="name the new database: `iop db copy --simulation --to postgresql://HOST/NEWDB`",
            problem_sv="ange den nya databasen: `iop db copy --simulation --to postgresql://VÄRD/NYDB`",
        )


def target_url(to: str) -> sa.URL:
    """``--to``'s URL: a PostgreSQL database (else UsageError, exit 2)."""
    try:
        url = sa.make_url(normalise_url(to))
    except sa.exc.ArgumentError:
        url = None
    if url is None or url.get_backend_name() != "postgresql":
        raise UsageError(
            problem=f"--to {redact(to)} is not a PostgreSQL URL: give postgresql://HOST/NEWDB "
            "(a SQLite database is copied with `iop db copy FILE --simulation`)",
            problem_sv=f"--to {redact(to)} är ingen PostgreSQL-URL: ange postgresql://VÄRD/NYDB "
            "(en SQLite-databas kopieras med `iop db copy FIL --simulation`)",
        )
    if not url.database:
        raise UsageError(
            problem=f"--to {redact(to)} names no database: give postgresql://HOST/NEWDB",
            problem_sv=f"--to {redact(to)} anger ingen databas: ange postgresql://VÄRD/NYDB",
        )
    return url


def simulated_copy(app: App, to: str, *, force: bool) -> dict[str, Any]:
    """Copy the PostgreSQL database of ``app`` into the new database ``to``, its clock simulated."""
    from iop_workflow.store import pg_copy  # noqa: PLC0415

    started = time.perf_counter()
    target = target_url(to)
    system_now = utc_iso(SystemClock(app.settings.tz).now())
    with app.db.snapshot() as source:
        _require_head(source, app.db.url)
        here = (
            *source.exec_driver_sql(pg_copy.SERVER_IDENTITY).one(),
            source.exec_driver_sql("SELECT current_database()").scalar_one(),
        )
        with pg_copy.maintenance(target) as admin:
            _refuse_own(target, here, (*pg_copy.server_identity(admin), target.database))
            pg_copy.create_database(admin, target, force=force)
            try:
                summary = _fill(app, source, target, system_now)
            except BaseException:
                pg_copy.drop_database(admin, target)  # nothing half-made is left behind
                raise
    now = datetime.fromisoformat(summary["now"])
    return {
        "database": redact(to),
        "source": redact(app.db.url),
        **summary,
        "clock": SIMULATED,
        "today": now.astimezone(app.settings.tz).date(),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _require_head(source: Connection, url: str) -> None:
    """The source is an iop database (else exit 8, as the SQLite copy) at this version's schema (else exit 2)."""
    from iop_workflow.store import migrate  # noqa: PLC0415

    if not sa.inspect(source).has_table("alembic_version"):
        raise DatabaseUnavailable(url=redact(url), problem="not an iop-workflow database (no schema); run `iop init`")
    have = source.execute(sa.text("SELECT max(version_num) FROM alembic_version")).scalar()
    if have != migrate.head_revision():
        raise UsageError(
            problem=f"the database's schema ({have}) is not this version's ({migrate.head_revision()}): "
            "run `iop init` first",
            problem_sv=f"databasens schema ({have}) är inte programmets ({migrate.head_revision()}): "
            "kör `iop init` först",
        )


def _refuse_own(target: sa.URL, source: tuple[Any, ...], wanted: tuple[Any, ...]) -> None:
    """The source's own database or the server's own are never a copy's target (InvalidInput, exit 6)."""
    from iop_workflow.store.pg_copy import SERVER_DATABASES  # noqa: PLC0415

    if tuple(map(str, source)) == tuple(map(str, wanted)):
        sv, en = "är själva databasen som kopieras", "is the database being copied"
    elif target.database in SERVER_DATABASES:
        sv, en = "är serverns egen databas; välj ett nytt namn", "is the server's own database; choose a new name"
    else:
        return
    raise InvalidInput(field="--to", value=redact(target.render_as_string()), problem_sv=sv, problem_en=en)


def _fill(app: App, source: Connection, target: sa.URL, system_now: str) -> dict[str, Any]:
    """The schema at head in the new database, the source snapshot's rows, the clock simulated, verified."""
    from iop_workflow.service.audit import verify_on  # noqa: PLC0415
    from iop_workflow.service.backup import BackupRejected  # noqa: PLC0415
    from iop_workflow.service.clock_mode import copy_starts_at  # noqa: PLC0415
    from iop_workflow.store import dbclock, migrate, pg_copy  # noqa: PLC0415
    from iop_workflow.store.engine import Database  # noqa: PLC0415

    tables = migrate.all_tables()
    state = dbclock.read(source)
    assert state is not None  # the schema is at head
    now = copy_starts_at(state.mode, state.now, system_now)
    import psycopg  # noqa: PLC0415

    db = Database(target.render_as_string(hide_password=False))
    try:
        pg_copy.create_schema_of(target)
        migrate.upgrade(db)
        with db.write() as copy:
            pg_copy.copy_rows(source, copy, tables)
            pg_copy.reset_sequences(copy, tables)
            dbclock.write(copy, mode=SIMULATED, now=now)
            report = verify_on(copy)
            if not report.ok:
                raise BackupRejected(file=redact(target.render_as_string()), problems=report.problems)
            cases = copy.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
            records, max_seq = copy.execute(sa.text("SELECT count(*), coalesce(max(seq), 0) FROM transition_log")).one()
    except psycopg.Error as exc:  # COPY runs on the driver's connections
        raise DatabaseUnavailable(url=redact(db.url), problem=str(exc).strip().splitlines()[0]) from None
    finally:
        db.dispose()
    return {
        "cases": int(cases),
        "records": int(records),
        "max_seq": int(max_seq),
        "schema": migrate.head_revision(),
        "verified": True,
        "checkpoints": report.checkpoints,
        "now": now,
    }
