"""Guidelines as versioned, logged data: who loaded which content, and does the table still say so.

Every load that changes a guideline's content is a new version (a new row; the old
ones stay, and a case stays bound to the version it was assessed under) and a record
of the guideline's own chain ``@guideline:<ref>`` in the transition log, holding the
version's full content. ``audit verify`` recomputes each row's content and compares
it with its record (:func:`check_rows`).

``iop init`` loads the shipped files as ``system`` and never replaces a version that
someone loaded by hand: it reports those as skipped. Loading by hand needs the role
``coordinator`` in the guideline's municipality.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain.guidelines import Guideline
from iop_workflow.errors import NotPermitted
from iop_workflow.municipalities import code_of, register, resolve
from iop_workflow.service.changes import append_chain_record, lock_chain
from iop_workflow.service.context import Actor, App
from iop_workflow.store import guidelines as store

CHAIN_PREFIX = "@guideline:"
LOAD = "guideline:load"
CONFIRM = "guideline:confirm"  # a coordinator confirmed the current version's decision (amends it)
STATE = "guideline"
LOADER = "coordinator"  # the role that may load a guideline by hand
SYSTEM = "system"  # who loads the shipped files (iop init)


def chain_of(ref: str) -> str:
    return CHAIN_PREFIX + ref


def load(app: App, actor: Actor, guidelines: Iterable[Guideline], *, shipped: bool = False) -> dict[str, str]:
    """Load each guideline: "added", "updated" (a new version), "unchanged" or "skipped".

    ``shipped`` (``iop init``, actor ``system``): a guideline whose current version was
    loaded by someone else is skipped, never replaced. A file's ``municipality`` may be
    written any way ``--municipality`` accepts; the guideline holds the place's name
    (UnknownMunicipality, exit 6, for one that names no place).
    """
    wanted = [replace(g, municipality=resolve(g.municipality).name) for g in guidelines]
    if not shipped:
        for g in wanted:
            require_coordinator(actor, g)
    with app.db.write() as s:
        done = {g.ref: _load_one(app, s, actor, g, shipped=shipped) for g in wanted}
    _stream(app, done.values())
    return {ref: outcome for ref, (outcome, _rec) in done.items()}


def _stream(app: App, written: Iterable[tuple[str, LogRecord | None]]) -> None:
    for _outcome, rec in written:
        if rec is not None:
            app.sink.emit(rec)


def require_coordinator(actor: Actor, g: Guideline, *, verb_sv: str = "läsa in", verb_en: str = "load") -> None:
    """Loading or confirming ``g`` needs ``coordinator`` in its municipality (a code, as grants hold it)."""
    if LOADER not in actor.within(code_of(g.municipality)).roles:
        raise NotPermitted(
            actor=actor.name,
            roles=sorted(actor.roles),
            needs=LOADER,
            action_sv=f"{verb_sv} riktlinjen {g.ref} ({g.municipality})",
            action_en=f"{verb_en} guideline {g.ref} ({g.municipality})",
        )


def _load_one(app: App, s: Connection, actor: Actor, g: Guideline, *, shipped: bool) -> tuple[str, LogRecord | None]:
    lock_chain(s, chain_of(g.ref))  # before reading the current version (two loads at once on PostgreSQL)
    current = store.latest(s, g.ref)
    # The content as the rows hold it now (a row from before 0005 has another hash formula).
    if current is not None and store.content_hash(store.from_row(s, current)) == store.content_hash(g):
        return "unchanged", None
    if shipped and current is not None and (current["loaded_by"] != SYSTEM or _confirmed(s, current)):
        return "skipped", None
    version = 1 if current is None else int(current["version"]) + 1
    rec = _record(app, s, actor, g, version)
    store.insert_version(s, g, version=version, loaded_by=actor.name, log_seq=int(rec.seq or 0), now=app.clock.now())
    return ("added" if current is None else "updated"), rec


def _confirmed(s: Connection, row: sa.RowMapping) -> bool:
    """Whether the row's content comes from a confirmation (``iop init`` keeps it, as it keeps a hand load)."""
    from iop_workflow.store import ledger  # noqa: PLC0415

    if row["log_seq"] is None:
        return False
    return any(rec.trigger == CONFIRM for rec in ledger.records_by_seq(s, [int(row["log_seq"])]))


def _record(app: App, s: Connection, actor: Actor, g: Guideline, version: int, **extra: Any) -> LogRecord:
    content = store.content_of(g)
    data = {"version": version, "content_hash": store.digest_of(content), "guideline": content, **extra}
    return append_chain_record(
        app, s, chain_of(g.ref), actor=actor, trigger=LOAD, state=STATE, data=data, guideline_ref=g.ref
    )


def record_unrecorded(app: App, actor: Actor) -> list[str]:
    """Give each version loaded before migration 0005 its record, with the content it has now."""
    done: list[tuple[str, LogRecord | None]] = []
    with app.db.write() as s:
        for row in store.every_version(s):
            if row["log_seq"] is not None:
                continue
            g = store.from_row(s, row)
            rec = _record(app, s, actor, g, int(row["version"]), recorded_after_load=True)
            store.link_record(s, int(row["id"]), int(rec.seq or 0))
            done.append((f"{g.ref} v{row['version']}", rec))
    _stream(app, done)
    return [name for name, _rec in done]


def check_rows(
    rows: Iterable[tuple[Mapping[str, Any], Guideline]],
    records: Mapping[int, Mapping[str, Any]],
    latest: Mapping[tuple[str, int], int] | None = None,
) -> list[dict[str, Any]]:
    """Each guideline row against the record it names: a problem per row that differs or has none.

    ``rows``: (row, the guideline its columns and criteria hold now); ``records``: the data
    of the records the rows name, by seq, with ``case_ref`` and ``trigger`` added; ``latest``:
    the seq of the last load or confirm record of each (ref, version), which the row must name
    (a row put back to an earlier record's content, a confirmation undone, is caught).
    """
    problems = []
    for row, g in rows:
        where = {"guideline_ref": row["ref"], "version": row["version"], "field": "guideline"}
        rec = records.get(row["log_seq"]) if row["log_seq"] is not None else None
        if rec is None:
            problems.append(
                {
                    **where,
                    "problem": "guideline_without_record",
                    "detail": "no guideline:load record holds this version (run `iop init` after an "
                    "upgrade to record versions loaded before schema 0005)",
                }
            )
            continue
        own = (rec.get("trigger") in (LOAD, CONFIRM), rec.get("case_ref"), rec.get("version"))
        last = (latest or {}).get((row["ref"], row["version"]), row["log_seq"])
        if own != (True, chain_of(row["ref"]), row["version"]) or last != row["log_seq"]:
            detail = f"record {row['log_seq']} is not this version's load or latest confirm record"
            if last != row["log_seq"]:
                detail += f" (record {last} is)"
            problems.append({**where, "problem": "guideline_record_mismatch", "detail": detail})
            continue
        content = rec.get("guideline") or {}
        if store.digest_of(content) != rec.get("content_hash"):
            detail = f"record {row['log_seq']}'s content does not match its content_hash"
            problems.append({**where, "problem": "guideline_record_inconsistent", "detail": detail})
            continue
        now = _as_recorded(store.content_of(g), content, row["municipality"])
        if store.digest_of(now) != rec["content_hash"]:
            changed = sorted(k for k in set(now) | set(content) if now.get(k) != content.get(k))
            detail = f"the table differs from record {row['log_seq']} in: {', '.join(changed)}"
            problems.append({**where, "problem": "guideline_differs_from_log", "detail": detail})
    return problems


def checked(s: Connection) -> list[dict[str, Any]]:
    """:func:`check_rows` over the database's guideline rows and their records."""
    from iop_workflow.store import ledger  # noqa: PLC0415 - only verify reads the log this way

    rows = [(dict(row), store.from_row(s, row)) for row in store.every_version(s)]
    seqs = sorted({int(r["log_seq"]) for r, _g in rows if r["log_seq"] is not None})
    records = {
        rec.seq: {**rec.data, "case_ref": rec.case_ref, "trigger": rec.trigger}
        for rec in ledger.records_by_seq(s, seqs)
        if rec.seq is not None
    }
    latest: dict[tuple[str, int], int] = {}
    for ref in sorted({str(r["ref"]) for r, _g in rows}):
        for rec in ledger.chain_records(s, chain_of(ref)):
            if rec.trigger in (LOAD, CONFIRM) and rec.seq is not None and isinstance(rec.data.get("version"), int):
                latest[(ref, rec.data["version"])] = rec.seq
    return check_rows(rows, records, latest)


def _as_recorded(now: dict[str, Any], recorded: Mapping[str, Any], code: str) -> dict[str, Any]:
    """The row's content, its municipality written as the record wrote it when that names the row's place.

    Migration 0007 turned the rows' municipality names into SCB codes; a record keeps what it said
    ("Stenungsunds kommun"), and the row still agrees with it when that name resolves to the code.
    """
    said = recorded.get("municipality")
    if (
        isinstance(said, str)
        and said != now.get("municipality")
        and (place := register().find(said)) is not None
        and place.code == code
    ):
        return {**now, "municipality": said}
    return now
