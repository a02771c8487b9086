"""The sweep benchmark's file: one signed case made through the API, cloned in bulk with sqlite3.

The template case is made as the tests make one (``tests/helpers.py`` ``to_signed``, on a FakeClock
at 2026-01-12 09:00 Europe/Stockholm): an agreement running 2026-02-01..2028-01-31, so its open
timer is ``fire:activate`` due 2026-02-01. Every clone is whole: the case row (new id and ref), every
row the template has in a table with a ``case_id`` column (its facts, found from the schema, each
bound to its clone's record), its transition_log records re-chained for the new ref (each hash
recomputed with ``iop_workflow.audit.chain``) and its open timer. ``due`` cases (the template
among them), spread evenly, keep the timer due on 2026-02-01; the others have it moved to
``later_due``. The clone runs in one transaction with synchronous=OFF (the build only).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import world

BUILT_AT = datetime(2026, 1, 12, 9, tzinfo=world.STOCKHOLM)  # the template is made here; (a) sweeps here
FIRE_AT = datetime(2026, 2, 1, 9, tzinfo=world.STOCKHOLM)  # the agreement starts: (b) sweeps here


def make_template(path: Path) -> str:
    """A fresh database holding one signed case (tests/helpers.py ``to_signed``), through the API."""
    from tests.helpers import to_signed

    world.base(path)
    iop = world.connect(path, BUILT_AT)
    try:
        return to_signed(iop)
    finally:
        iop.close()


@dataclass(slots=True)
class Template:
    """The template case's rows, as stored."""

    case: dict[str, Any]
    timer: dict[str, Any]  # its one open timer
    facts: dict[str, list[dict[str, Any]]]  # table -> its rows there (tables with a case_id column)
    log: list[dict[str, Any]]  # its transition_log records, in case_seq order


def case_tables(conn: sqlite3.Connection) -> list[str]:
    """Every table with a ``case_id`` column, from the schema."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return [t for t in names if any(col[1] == "case_id" for col in conn.execute(f'PRAGMA table_info("{t}")'))]


def read_template(conn: sqlite3.Connection) -> Template:
    conn.row_factory = sqlite3.Row
    try:
        (case,) = conn.execute("SELECT * FROM cases").fetchall()
        timers = conn.execute(
            "SELECT * FROM timers WHERE case_id = ? AND fired_at IS NULL AND cancelled_at IS NULL", (case["id"],)
        ).fetchall()
        if case["state"] != "signed" or len(timers) != 1 or timers[0]["action"] != "fire:activate":
            raise SystemExit("the template is not a signed case with one open fire:activate timer")
        facts = {}
        for table in case_tables(conn):
            rows = conn.execute(f'SELECT * FROM "{table}" WHERE case_id = ? ORDER BY id', (case["id"],)).fetchall()
            if rows and table != "timers":
                facts[table] = [dict(r) for r in rows]
        log = conn.execute("SELECT * FROM transition_log WHERE case_ref = ? ORDER BY case_seq", (case["ref"],))
        return Template(case=dict(case), timer=dict(timers[0]), facts=facts, log=[dict(r) for r in log])
    finally:
        conn.row_factory = None


def insert_sql(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


def spread(k: int, n: int, m: int) -> bool:
    """Whether index ``k`` of ``n`` is one of ``m`` spread evenly over them."""
    return (k + 1) * m // n != k * m // n


@dataclass(frozen=True, slots=True)
class Clone:
    id: int
    ref: str
    due: bool  # keeps the template's due day (else its timer is moved to later_due)


def rechained(log: list[dict[str, Any]], refs: Iterable[str], first_seq: int) -> Iterator[tuple[Any, ...]]:
    """The template's records for each ref in turn: same content, chained anew, numbered from ``first_seq``."""
    from iop_workflow.audit.chain import GENESIS, record_from_row, seal

    records = [record_from_row(row) for row in log]
    broken = [r.case_seq for r in records if r.compute_hash() != r.hash]
    if broken or records[0].prev_hash != GENESIS:
        raise SystemExit(f"the template's chain does not verify (records {broken})")
    columns = list(log[0])
    seq = first_seq
    for ref in refs:
        prev = GENESIS
        for record, row in zip(records, log, strict=True):
            sealed = seal(replace(record, case_ref=ref, prev_hash=prev))
            out = {**row, "seq": seq, "case_ref": ref, "prev_hash": prev, "hash": sealed.hash}
            yield tuple(out[c] for c in columns)
            prev, seq = sealed.hash, seq + 1


def fact_rows(
    t: Template, rows: list[dict[str, Any]], columns: Sequence[str], full: Iterable[Clone], first_seq: int
) -> Iterator[tuple[Any, ...]]:
    """The template's rows of one fact table for each clone, each bound (``log_seq``) to its clone's record.

    The k-th clone's records are numbered ``first_seq + k * len(t.log)`` onwards (``rechained``).
    """
    position = {row["seq"]: i for i, row in enumerate(t.log)}
    for k, c in enumerate(full):
        for row in rows:
            seq = row.get("log_seq")
            bound = None if seq is None else first_seq + k * len(t.log) + position[seq]
            yield tuple({**row, "case_id": c.id, "log_seq": bound}[col] for col in columns)


def clone(path: Path, *, total: int, due: int, later_due: str) -> dict[str, Any]:
    """Grow the template's file to ``total`` whole cases; all but ``due`` of them (the template one of
    those) have their open timer moved to ``later_due``."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = MEMORY", "synchronous = OFF", "cache_size = -262144", "foreign_keys = OFF"):
        conn.execute(f"PRAGMA {pragma}")
    t = read_template(conn)
    year, last = conn.execute("SELECT year, last FROM case_ref_counters").fetchone()
    first_id = conn.execute("SELECT max(id) FROM cases").fetchone()[0] + 1
    make_ref = world.settings().case_ref

    def clones() -> Iterator[Clone]:
        for k in range(total - 1):
            yield Clone(id=first_id + k, ref=make_ref(year, last + 1 + k), due=spread(k, total - 1, due - 1))

    def cases() -> Iterator[tuple[Any, ...]]:
        for c in clones():
            yield tuple({**t.case, "id": c.id, "ref": c.ref}.values())

    timer_columns = [k for k in t.timer if k != "id"]

    def timers() -> Iterator[tuple[Any, ...]]:
        for c in clones():
            row = {**t.timer, "case_id": c.id, "due_on": t.timer["due_on"] if c.due else later_due}
            yield tuple(row[k] for k in timer_columns)

    first_seq = conn.execute("SELECT max(seq) FROM transition_log").fetchone()[0] + 1
    conn.execute("BEGIN")
    conn.executemany(insert_sql("cases", list(t.case)), cases())
    conn.executemany(insert_sql("timers", timer_columns), timers())
    for table, rows in t.facts.items():
        columns = [k for k in rows[0] if k != "id"]
        conn.executemany(insert_sql(table, columns), fact_rows(t, rows, columns, clones(), first_seq))
    refs = (c.ref for c in clones())
    conn.executemany(insert_sql("transition_log", list(t.log[0])), rechained(t.log, refs, first_seq))
    conn.execute("UPDATE case_ref_counters SET last = ? WHERE year = ?", (last + total - 1, year))
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    fact_counts = {k: len(v) for k, v in t.facts.items()}
    return {
        "clones": total - 1,
        "due": due,
        "rows_per_case": {"cases": 1, "timers": 1, **fact_counts, "transition_log": len(t.log)},
        "timer": {k: t.timer[k] for k in ("kind", "state", "due_on", "action")},
        "later_due_on": later_due,
    }


def build(path: Path, *, total: int, due: int, later_due: str) -> dict[str, Any]:
    started = time.perf_counter()
    make_template(path)
    made = time.perf_counter()
    stats = clone(path, total=total, due=due, later_due=later_due)
    done = time.perf_counter()
    if Path(f"{path}-wal").exists():
        raise SystemExit(f"{path} still has a WAL file after the build")
    return {
        "cases": total,
        "template_s": round(made - started, 3),
        "clone_s": round(done - made, 3),
        "total_s": round(done - started, 3),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        **stats,
    }
