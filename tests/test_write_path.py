"""The write path's shape: the statements one fire() sends, and how its transaction begins."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from iop_workflow import FakeClock, Iop, TransitionNotAllowed
from iop_workflow.store import cases as repo
from iop_workflow.store.engine import Database
from tests.helpers import add_orgs, open_case, to_assessment

FACT_TABLES = {
    "organisations",
    "guidelines",
    "meetings",
    "assessments",
    "legal_checks",
    "agreements",
    "contributions",
    "decisions",
    "reviews",
}


@contextmanager
def statements(iop: Iop) -> Iterator[list[str]]:
    seen: list[str] = []

    def on_execute(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(iop.app.db.engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(iop.app.db.engine, "before_cursor_execute", on_execute)


def tables_read(seen: list[str]) -> set[str]:
    """The tables the SELECTs in ``seen`` read, in their subqueries and joins too."""
    return {table for s in seen if s.startswith("SELECT") for table in re.findall(r"\b(?:FROM|JOIN) (\w+)", s)}


def test_a_fire_reads_only_the_facts_its_rules_need(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    anna = iop.actor("anna")  # resolved (her grants read) before the write path is watched
    with statements(iop) as seen:
        iop.fire(ref, "start_dialogue", actor=anna)
    assert tables_read(seen) & FACT_TABLES == {"organisations"}  # org_eligible
    with statements(iop) as seen:
        iop.fire(ref, "decline", actor=anna, reason="Inte aktuellt")
    assert tables_read(seen) & FACT_TABLES == set()
    assert tables_read(seen) == {"cases", "transition_log"}  # the case and its chain head
    if iop.app.db.dialect == "sqlite":
        assert seen[0] == "BEGIN IMMEDIATE"
    assert [r["trigger"] for r in iop.history(ref)] == ["open", "start_dialogue", "decline"]
    assert iop.verify().ok


def test_guards_still_see_fresh_facts_of_the_kinds_they_read(iop: Iop) -> None:
    """A change to the organisation made between two fires is what the next guard sees."""
    add_orgs(iop)
    ref = open_case(iop)
    with iop.app.db.write() as s:
        s.execute(sa.update(repo.ORGS).where(repo.ORGS.c.org_number == "802479-1322").values(non_profit=False))
    with pytest.raises(TransitionNotAllowed) as info:
        iop.fire(ref, "start_dialogue", actor="anna")
    assert [r.code for r in info.value.reasons] == ["org_profit_motive"]
    assert [r["trigger"] for r in iop.history(ref)] == ["open"]


def test_the_record_names_the_bound_guideline_without_reading_it(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    bound = iop.case(ref)["guideline"]["ref"]
    with statements(iop) as seen:
        record = iop.fire(ref, "withdraw", actor="anna", reason="Organisationen drog sig ur")
    assert record["guideline_ref"] == bound
    assert "guidelines" not in tables_read(seen)
    assert iop.history(ref)[-1]["guideline_ref"] == bound


def test_sqlite_writes_take_the_lock_up_front_and_reads_are_transactions(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.write() as s:
            s.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        with db.write() as s:  # holds the write lock before its first statement
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            s.exec_driver_sql("INSERT INTO t VALUES (1)")
        with db.read() as s:  # a real (deferred) transaction: one snapshot throughout
            assert s.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 1
            other.execute("INSERT INTO t VALUES (2)")
            assert s.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 1
        with pytest.raises(RuntimeError), db.write() as s:
            s.exec_driver_sql("INSERT INTO t VALUES (3)")
            raise RuntimeError("undo")
        with db.engine.connect() as conn:  # outside a unit of work a statement commits on its own,
            conn.exec_driver_sql("INSERT INTO t VALUES (4)")  # hence the product's units of work only
            assert other.execute("SELECT count(*) FROM t WHERE x = 4").fetchone()[0] == 1
        assert sorted(x for (x,) in other.execute("SELECT x FROM t")) == [1, 2, 4]
        other.close()
    finally:
        db.dispose()


def test_writers_of_one_process_queue_for_the_file_instead_of_polling_sqlite(tmp_path: Path) -> None:
    """Every Database on one SQLite file shares one writer queue; a thread waits there, not in SQLite's busy loop."""
    import threading

    path = tmp_path / "q.db"
    first, second = Database(f"sqlite:///{path}"), Database(f"sqlite:///{tmp_path}/./q.db")
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert first._writer is not None and first._writer is second._writer
        assert other._writer is not first._writer
        with first.write() as s:
            s.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        order: list[str] = []
        waiting = threading.Event()

        def late_writer() -> None:
            waiting.set()
            with second.write() as s2:
                order.append("second")
                s2.exec_driver_sql("INSERT INTO t VALUES (2)")

        with first.write() as s:
            thread = threading.Thread(target=late_writer)
            thread.start()
            assert waiting.wait(5)
            order.append("first")
            s.exec_driver_sql("INSERT INTO t VALUES (1)")
        thread.join(10)
        assert order == ["first", "second"]
        with first.read() as s:
            assert [x for (x,) in s.exec_driver_sql("SELECT x FROM t ORDER BY rowid")] == [1, 2]
    finally:
        for db in (first, second, other):
            db.dispose()


def test_the_product_opens_transactions_only_through_its_units_of_work() -> None:
    """On SQLite only ``Database.read`` and ``Database.write`` send BEGIN (store/engine.py says why), so no
    module may open a connection of the product's engine by itself: its statements would commit one by one."""
    package = Path(__file__).resolve().parents[1] / "iop_workflow"
    found = [
        f"{path.relative_to(package)}:{n}"
        for path in package.rglob("*.py")
        if path.name != "engine.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ".engine.begin(" in line or ".engine.connect(" in line
    ]
    assert found == []


def test_a_fire_checks_cached_guidelines_by_id_and_content_hash_only(iop: Iop, clock: FakeClock) -> None:
    """Every fire whose rules read guidelines asks which versions are current; a cached guideline is not
    fetched whole again (two columns, not the row with its provenance and dates)."""
    from datetime import date

    from tests.helpers import to_signed

    add_orgs(iop)
    ref = to_signed(iop)
    clock.set_date(date(2026, 2, 1))
    with statements(iop) as seen:
        iop.fire(ref, "activate", actor="system")
    # (PostgreSQL's order lock is a SELECT with no FROM)
    reads = [s for s in seen if s.startswith("SELECT") and s.partition(" FROM ")[2].startswith("guidelines")]
    assert reads, seen
    assert {s.split(" FROM ")[0] for s in reads} == {"SELECT guidelines.id, guidelines.content_hash"}
    assert iop.case(ref)["state"] == "active"
