"""``iop db backup | restore | copy``: copies of the database (SQLite files; PostgreSQL: pg_dump, simulated copies).

Exit statuses: 0 done; 2 the database is PostgreSQL (the message gives the exact
pg_dump / pg_restore commands); 6 FILE exists (without ``--force``), is missing,
or its directory cannot be written; 7 the copy or the file to restore is not an
intact iop database (nothing was replaced); 8 there is no database to back up.
``copy FILE --simulation``: a backup whose clock is simulated; on PostgreSQL ``copy --simulation
--to URL`` makes the simulated copy in a new database (6 also when it exists without ``--force``
or is the source's own; 7 when the copy does not verify; nothing is left behind). Exit 2 without
``--simulation``, with FILE on PostgreSQL, with ``--to`` on SQLite, or a ``--to`` that is no
PostgreSQL URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from iop_workflow.cli.context import State, emit_json, pass_state


@click.group()
def db() -> None:
    """Back up, restore and copy the database (SQLite; for PostgreSQL: the pg_dump commands, simulated copies)."""


@db.command("backup")
@click.argument("file", metavar="FILE")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@pass_state
def db_backup(state: State, /, *, file: str, force: bool) -> None:
    """Copy the live database to FILE, consistent while others write; integrity-checked."""
    result = state.iop.backup(Path(file), force=force)
    if state.json:
        emit_json(result)
        return
    click.echo(
        state.say(
            f"Säkerhetskopia skriven till {result['file']}: {_size(result)}, integritetskontroll ok; "
            f"{result['cases']} ärenden, {result['records']} loggposter.",
            f"Backup written to {result['file']}: {_size(result)}, integrity check ok; "
            f"{result['cases']} cases, {result['records']} log records.",
        )
    )


@db.command("restore")
@click.argument("file", metavar="FILE")
@click.option("--force", is_flag=True, help="Replace the database if it exists.")
@pass_state
def db_restore(state: State, /, *, file: str, force: bool) -> None:
    """Replace the database with FILE once its audit log verifies (else exit 7)."""
    result = state.iop.restore(Path(file), force=force)
    if state.json:
        emit_json(result)
        return
    click.echo(
        state.say(
            f"{result['file']} återställd till {result['database']}: granskningsloggen är intakt "
            f"({result['cases']} ärenden, {result['records']} poster, {result['checkpoints']} kontrollpunkter).",
            f"{result['file']} restored to {result['database']}: the audit log is intact "
            f"({result['cases']} cases, {result['records']} records, {result['checkpoints']} checkpoints).",
        )
    )
    if not result["schema_current"]:
        click.echo(
            state.say(
                "Schemat är äldre än programmet: kör `iop init`.",
                "The schema is older than this version: run `iop init`.",
            )
        )


@db.command("copy")
@click.argument("file", metavar="[FILE]", required=False)
@click.option("--simulation", is_flag=True, help="Make the copy's clock simulated (required).")
@click.option("--to", "to", metavar="URL", help="PostgreSQL: the new database to copy into (instead of FILE).")
@click.option("--force", is_flag=True, help="Replace FILE (or the --to database) if it exists.")
@pass_state
def db_copy(state: State, /, *, file: str | None, simulation: bool, to: str | None, force: bool) -> None:
    """A simulated copy of the database for "what happens on that day": its clock starts at now.

    SQLite: to FILE. PostgreSQL: into the new database --to URL (created; --force drops one that exists).
    """
    from iop_workflow.errors import UsageError  # noqa: PLC0415

    if not simulation:
        raise UsageError(
            problem="`iop db copy` makes simulated copies: give --simulation (`iop db backup FILE` makes a plain copy)",
            problem_sv="`iop db copy` gör simulerade kopior: ange --simulation "
            "(`iop db backup FIL` gör en vanlig kopia)",
        )
    result = state.iop.copy_simulated(file, to=to, force=force)
    if state.json:
        emit_json(result)
        return
    where = result["database"] if to is not None else f"sqlite:///{result['file']}"
    click.echo(
        state.say(
            f"Simulerad kopia skriven till {result.get('file', where)}: {result['cases']} ärenden, "
            f"{result['records']} loggposter; klockan står på {result['today']} (`iop --db {where} scheduler "
            "tick --at DATUM` flyttar den).",
            f"Simulated copy written to {result.get('file', where)}: {result['cases']} cases, {result['records']} "
            f"log records; its clock stands at {result['today']} (`iop --db {where} scheduler "
            "tick --at DATE` moves it).",
        )
    )


def _size(result: Mapping[str, Any]) -> str:
    return f"{result['pages']} × {result['page_size']} B = {result['bytes']:,} B".replace(",", " ")
