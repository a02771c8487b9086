"""Playing the attacker: drop the append-only triggers inside a transaction and change the log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow import Iop
from iop_workflow.audit.chain import GENESIS, LogRecord, record_from_row, seal
from iop_workflow.store import schema_objects
from iop_workflow.store.cases import log_values
from iop_workflow.store.migrate import head_revision

_SQLITE = ("transition_log_no_update", "transition_log_no_delete", "checkpoints_no_update", "checkpoints_no_delete")


def drop_guards(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for name in _SQLITE:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    else:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS transition_log_no_change ON transition_log")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS checkpoints_no_change ON checkpoints")


def restore_guards(conn: Connection) -> None:
    """Put back each dropped guard exactly as the schema has it (a careful attacker covers the tracks)."""
    have = schema_objects.found(conn)
    for (kind, name), definition in schema_objects.expected(conn.dialect.name, head_revision()).items():
        if kind == "trigger" and (kind, name) not in have:
            conn.exec_driver_sql(definition)


@contextmanager
def attacker(iop: Iop, *, commit: bool = True, cover_tracks: bool = True) -> Iterator[Connection]:
    """A connection with the log's guards dropped; committed or rolled back. ``cover_tracks``: the
    guards are put back before the commit, so only what was changed shows."""
    with iop.app.db.engine.connect() as conn:
        tx = conn.begin()
        if conn.dialect.name == "sqlite":  # outside the product's units of work pysqlite begins nothing itself
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        drop_guards(conn)
        try:
            yield conn
            if cover_tracks:
                restore_guards(conn)
        finally:
            if commit:
                tx.commit()
            else:
                tx.rollback()


def records(conn: Connection, ref: str) -> list[LogRecord]:
    rows = conn.execute(sa.text("SELECT * FROM transition_log WHERE case_ref = :r ORDER BY case_seq"), {"r": ref})
    return [record_from_row(r) for r in rows.mappings()]


def insert(conn: Connection, rec: LogRecord) -> None:
    values = log_values(rec.hashed_content(), rec.hash)  # the row as the product writes it
    if rec.seq is not None:
        values["seq"] = rec.seq
    cols = ", ".join(values)
    conn.execute(sa.text(f"INSERT INTO transition_log ({cols}) VALUES ({', '.join(':' + c for c in values)})"), values)


def forge_next(conn: Connection, ref: str, **changes: object) -> LogRecord:
    """A perfectly chained record after the case's last one (the attacker knows the algorithm)."""
    last = records(conn, ref)[-1]
    draft = replace(
        last,
        case_seq=last.case_seq + 1,
        prev_hash=last.hash or GENESIS,
        from_state=last.to_state,
        trigger="record:meeting",
        actor="mallory",
        data={"meeting": {"held_on": "2026-01-01"}},
        seq=None,
        hash="",
    )
    return seal(replace(draft, **changes))  # type: ignore[arg-type]


def rechain(conn: Connection, ref: str, start: int, **changes: object) -> None:
    """Rewrite record ``start`` of the chain and recompute every hash after it (a careful attacker)."""
    chain = records(conn, ref)
    prev = chain[start - 2].hash if start > 1 else GENESIS
    for rec in chain[start - 1 :]:
        new = seal(replace(rec, prev_hash=prev, **(changes if rec.case_seq == start else {})))  # type: ignore[arg-type]
        conn.execute(
            sa.text("UPDATE transition_log SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"),
            {"a": new.actor, "p": new.prev_hash, "h": new.hash, "s": rec.seq},
        )
        prev = new.hash
