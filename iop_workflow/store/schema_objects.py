"""The schema objects that guard the proof, as each schema revision has them, and what a database has.

The append-only triggers (and on PostgreSQL their functions) are what keeps the log, the
checkpoints, the corrections and the access events from being edited in place; an
extra trigger could change what is written (``AFTER INSERT ... SET amount = amount * 10``).
So ``audit verify`` and ``db restore`` compare every trigger, trigger function, view and
rule of the database with this list and name each one missing, extra or changed.

The list is written out here, not read from the migrations, so that a migration that
changes a guard changes it here too: ``tests/test_schema_objects.py`` migrates a fresh
database on each back-end and requires exactly these objects.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

# guarded table -> the schema revision that added its guard
GUARDED = {
    "transition_log": "0001",
    "checkpoints": "0002",
    "corrections": "0002",
    "access_events": "0002",
    "retractions": "0009",
}
_PG_FUNCTIONS = {
    "transition_log_append_only": (
        "BEGIN RAISE EXCEPTION 'transition_log is append-only: % refused', TG_OP "
        "USING ERRCODE = 'insufficient_privilege'; END"
    ),
    "iop_append_only": (
        "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP "
        "USING ERRCODE = 'insufficient_privilege'; END"
    ),
}

Objects = dict[tuple[str, str], str]  # (kind, name) -> normalised definition


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def expected(dialect: str, revision: str) -> Objects:
    """The guards a database at ``revision`` has (revisions are numbered "0001", "0002", ...)."""
    tables = [t for t, since in GUARDED.items() if since <= revision]
    out: Objects = {}
    if dialect == "sqlite":
        for table in tables:
            for verb in ("UPDATE", "DELETE"):
                name = f"{table}_no_{verb.lower()}"
                out["trigger", name] = _norm(
                    f"CREATE TRIGGER {name} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
        return out
    for table in tables:
        function = "transition_log_append_only" if table == "transition_log" else "iop_append_only"
        out["function", function] = _PG_FUNCTIONS[function]
        out["trigger", f"{table}_no_change"] = (
            f"CREATE TRIGGER {table}_no_change BEFORE DELETE OR UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
        out["trigger", f"{table}_no_truncate"] = (
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return out


def found(s: Connection) -> Objects:
    """Every trigger, view and rule of the database's schema, and the functions its triggers run."""
    if s.dialect.name == "sqlite":
        rows = s.execute(sa.text("SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'view')"))
        return {(kind, name): _norm(sql or "") for kind, name, sql in rows}
    schema = s.execute(sa.text("SELECT current_schema()")).scalar_one()
    unqualified = re.compile(rf"\b{re.escape(schema)}\.")
    out: Objects = {}
    triggers = s.execute(
        sa.text(
            "SELECT t.tgname, pg_get_triggerdef(t.oid), t.tgenabled, p.proname, p.prosrc FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_proc p ON p.oid = t.tgfoid WHERE n.nspname = :schema AND NOT t.tgisinternal"
        ),
        {"schema": schema},
    )
    for name, definition, enabled, function, body in triggers:
        disabled = " [disabled]" if enabled == "D" else ""  # ALTER TABLE ... DISABLE TRIGGER keeps it listed
        out["trigger", name] = _norm(unqualified.sub("", definition)) + disabled
        out["function", function] = _norm(body)
    for kind, query in (
        ("view", "SELECT viewname, definition FROM pg_views WHERE schemaname = :schema"),
        ("rule", "SELECT rulename, definition FROM pg_rules WHERE schemaname = :schema"),
    ):
        for name, definition in s.execute(sa.text(query), {"schema": schema}):
            out[kind, name] = _norm(definition)
    return out


def revision_of(s: Connection) -> str | None:
    return s.execute(sa.text("SELECT max(version_num) FROM alembic_version")).scalar()


def problems(s: Connection) -> list[dict[str, Any]]:
    """Each guard missing, extra or changed, against the database's own schema revision."""
    revision = revision_of(s)
    if revision is None:
        return [{"field": "schema", "problem": "schema_unknown", "detail": "the database has no schema revision"}]
    want, have = expected(s.dialect.name, revision), found(s)
    out = []
    for key in sorted(want.keys() | have.keys()):
        kind, name = key
        where = {"field": "schema", "object": f"{kind} {name}"}
        if key not in have:
            out.append({**where, "problem": "schema_object_missing", "detail": f"expected: {want[key]}"})
        elif key not in want:
            out.append({**where, "problem": "schema_object_extra", "detail": have[key]})
        elif have[key] != want[key]:
            out.append({**where, "problem": "schema_object_changed", "detail": f"found: {have[key]}"})
    return out
