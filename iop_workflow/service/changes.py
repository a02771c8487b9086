"""The shared write path: bump the case's version and append its log record, together."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import CURRENT_FORMAT, LogRecord, content_hash
from iop_workflow.service.context import Actor, App
from iop_workflow.store import cases as repo


def utc_iso(when: datetime) -> str:
    """Fixed-width ISO-8601 in UTC: sorts as text and hashes the same everywhere.

    A naive value is a database timestamp, which is stored in UTC (SQLite drops the zone)."""
    aware = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append_record(
    app: App,
    s: Connection,
    *,
    case_ref: str,
    actor: Actor,
    trigger: str,
    from_state: str | None,
    to_state: str,
    reason: str | None,
    data: Mapping[str, Any],
    guideline_ref: str | None,
    now: datetime,
) -> LogRecord:
    """Append one hash-chained record to the case's chain (inside the caller's transaction).

    Its ``at`` is ``now``, or the latest ``at`` before it in the chain or in the log when ``now``
    is earlier (a system clock stepped back): time in the log never runs backwards (:func:`dated`).
    """
    lock_chain(s, ORDER_LOCK)  # PostgreSQL: the log's one appender, from reading its last ``at`` to commit
    head = repo.append_point(s, case_ref)
    content = record_content(
        app,
        case_ref=case_ref,
        case_seq=head.case_seq + 1,
        prev_hash=head.hash,
        actor=actor,
        trigger=trigger,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data=data,
        guideline_ref=guideline_ref,
        at=dated(now, head.chain_at, head.log_at),
    )
    digest = content_hash(content)
    seq = repo.insert_log_content(s, content, digest)
    return sealed(content, digest, seq)


def append_chain_record(
    app: App,
    s: Connection,
    chain: str,
    *,
    actor: Actor,
    trigger: str,
    state: str,
    data: Mapping[str, Any],
    guideline_ref: str | None = None,
) -> LogRecord:
    """Append to a chain with no case row (``@admin``, ``@guideline:<ref>``), one appender at a time.

    A case's own row serialises its chain; these chains have none, so on PostgreSQL two
    appends at once would take the same case_seq (a unique violation). A transaction-scoped
    advisory lock per chain orders them; SQLite's write lock (BEGIN IMMEDIATE) already does.
    """
    lock_chain(s, chain)
    return append_record(
        app,
        s,
        case_ref=chain,
        actor=actor,
        trigger=trigger,
        from_state=state,
        to_state=state,
        reason=None,
        data=data,
        guideline_ref=guideline_ref,
        now=app.clock.now(),
    )


# The log's global order: on PostgreSQL one appender at a time from its ``at`` to its commit, so that
# ``seq`` order and ``at`` order agree (``seq`` is taken at insert, commits come in any order).
ORDER_LOCK = "@order"


def dated(now: datetime, chain_at: str | None, log_at: str | None) -> str:
    """The ``at`` of a new record: ``now``, never before its chain's last record nor the log's last one.

    A real database's system clock may step back (NTP, a VM restored); the record is then dated
    at the latest instant already in the log rather than before it, so both orders auditors read
    (a case's chain, the log's ``seq``) stay non-decreasing. On a simulated database ``now`` is
    the stored clock, which only moves forward.
    """
    return max(utc_iso(now), chain_at or "", log_at or "")


def lock_chain(s: Connection, chain: str) -> None:
    """Hold chain ``chain`` for this transaction (PostgreSQL; re-entrant). Take it before reading
    what the append depends on (a guideline's current version, say), so that read stays true.

    The log's order (:data:`ORDER_LOCK`) is taken first: a transaction that appends to several
    such chains (a guideline load, a sweep) then never holds the order while it waits for a chain
    another appender holds while it waits for the order (a deadlock)."""
    if s.dialect.name == "postgresql":
        if chain != ORDER_LOCK:
            lock_chain(s, ORDER_LOCK)
        key = int.from_bytes(hashlib.sha256(chain.encode("utf-8")).digest()[:8], "big", signed=True)
        s.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def record_content(
    app: App,
    *,
    case_ref: str,
    case_seq: int,
    prev_hash: str,
    actor: Actor,
    trigger: str,
    from_state: str | None,
    to_state: str,
    reason: str | None,
    data: Mapping[str, Any],
    guideline_ref: str | None,
    at: str,
) -> dict[str, Any]:
    """A record's hashed content, as ``LogRecord.hashed_content()`` gives it: hashed, stored, then wrapped."""
    return {
        "case_ref": case_ref,
        "case_seq": case_seq,
        "at": at,
        "actor": actor.name,
        "os_user": actor.recorded_os_user,
        "roles": sorted(actor.roles),
        "source": actor.source,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        "data": {**data, "history": actor.step.as_dict()} if actor.step is not None else dict(data),
        "guideline_ref": guideline_ref,
        "workflow_version": app.definition.version,
        "prev_hash": prev_hash,
        "auth": actor.auth.as_dict(),
        "format": CURRENT_FORMAT,
    }


def sealed(content: Mapping[str, Any], digest: str, seq: int) -> LogRecord:
    """The stored record as a ``LogRecord``."""
    return LogRecord(**{**content, "roles": tuple(content["roles"])}, hash=digest, seq=seq)


def record_fact(
    app: App,
    s: Connection,
    case: sa.RowMapping,
    *,
    actor: Actor,
    kind: str,
    data: Mapping[str, Any],
    guideline_ref: str | None,
    reason: str | None = None,
) -> LogRecord:
    """Log a recorded fact as a record that keeps the state, and bump the case's version."""
    now = app.clock.now()
    repo.update_case(s, case, {"updated_at": now})
    return append_record(
        app,
        s,
        case_ref=case["ref"],
        actor=actor,
        trigger=f"record:{kind}",
        from_state=case["state"],
        to_state=case["state"],
        reason=reason,
        data=data,
        guideline_ref=guideline_ref,
        now=now,
    )
