"""The pg_dump / pg_restore commands that back up and restore a PostgreSQL database of iop."""

from __future__ import annotations

import shlex
from typing import Any

import sqlalchemy as sa

from iop_workflow.errors import UsageError


class NotForBackend(UsageError):
    """``iop db backup|restore`` on PostgreSQL: the pg_dump / pg_restore commands to use instead."""

    code = "unsupported_backend"

    def __init__(
        self, *, operation: str, url: str, backup_command: str, restore_command: str, password: bool = False
    ) -> None:
        super().__init__(problem=f"{operation} needs SQLite")
        self.operation = operation
        self.url = url
        self.backup_command = backup_command
        self.restore_command = restore_command
        self.password = password

    def details(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "url": self.url,
            "backup_command": self.backup_command,
            "restore_command": self.restore_command,
        }

    def _sv(self) -> str:
        secret = " (lösenordet ges med PGPASSWORD eller ~/.pgpass)" if self.password else ""
        return (
            f"`iop db {self.operation}` hanterar bara SQLite; {self.url} är PostgreSQL. Säkerhetskopiera med:\n"
            f"  {self.backup_command}\nåterställ med:\n  {self.restore_command}\n"
            f"och kontrollera sedan med `iop audit verify`{secret}."
        )

    def _en(self) -> str:
        secret = " (give the password with PGPASSWORD or ~/.pgpass)" if self.password else ""
        return (
            f"`iop db {self.operation}` handles SQLite only; {self.url} is PostgreSQL. Back it up with:\n"
            f"  {self.backup_command}\nrestore it with:\n  {self.restore_command}\n"
            f"then check it with `iop audit verify`{secret}."
        )


def pg_commands(url: str, file: str | None = None) -> tuple[str, str]:
    """(backup command, restore command) for ``url``, as a plain libpq URL without its password.

    A schema chosen with ``options=-csearch_path=NAME`` becomes ``--schema=NAME`` (pg_dump
    ignores the connection's search_path); the password is left out of the printed
    commands (give it with PGPASSWORD or ~/.pgpass).
    """
    parsed = sa.make_url(url)
    query = dict(parsed.query)
    schema, kept = _split_options(query.pop("options", None))
    if kept:
        query["options"] = kept
    plain = sa.URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    )
    target = plain.render_as_string(hide_password=False)
    dump_file = file or "iop.dump"
    dump = ["pg_dump", "--format=custom", f"--file={dump_file}"]
    if schema:
        dump.append(f"--schema={schema}")
    dump.append(target)
    restore = ["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={target}", dump_file]
    return shlex.join(dump), shlex.join(restore)


def _split_options(options: object) -> tuple[str | None, str]:
    """(the search_path schema, the other ``-c`` settings) of a libpq ``options`` value."""
    if not isinstance(options, str):
        return None, ""
    schema, kept = None, []
    tokens = iter(options.split())
    for word in tokens:
        setting = next(tokens, "") if word == "-c" else word[2:] if word.startswith("-c") else None
        if setting is None:
            kept.append(word)
        elif setting.partition("=")[0].strip() == "search_path":
            schema = setting.partition("=")[2].split(",")[0].strip() or None
        else:
            kept.append(f"-c{setting}")
    return schema, " ".join(kept)
