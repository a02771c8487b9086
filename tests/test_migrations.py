"""Schema migrations on a database that holds data: 0003 drops two transition_log indexes, 0011 adds
guideline status, 0014 puts refs in code-point order on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from iop_workflow import Iop
from iop_workflow.store import ledger
from iop_workflow.store.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.helpers import add_orgs, open_case, to_signed

LOG_ROWS = sa.text("SELECT seq, case_ref, case_seq, hash, prev_hash, data FROM transition_log ORDER BY seq")


def _log_indexes(conn: sa.Connection) -> set[tuple[str, ...]]:
    """The column lists of transition_log's unique constraints and indexes."""
    inspector = sa.inspect(conn)
    found = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("transition_log")}
    found |= {tuple(str(name) for name in i["column_names"]) for i in inspector.get_indexes("transition_log")}
    return found


def _step(iop: Iop, revision: str, *, down: bool = False) -> None:
    with iop.app.db.engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def test_0003_keeps_the_log_and_its_guards_and_drops_only_the_redundant_indexes(iop: Iop) -> None:
    add_orgs(iop)
    to_signed(iop)
    open_case(iop)
    with iop.app.db.engine.connect() as conn:
        before = conn.execute(LOG_ROWS).all()
        assert _log_indexes(conn) >= {("case_ref", "case_seq"), ("at",)}
        assert ("hash",) not in _log_indexes(conn) and ("case_ref",) not in _log_indexes(conn)

    _step(iop, "0002", down=True)
    with iop.app.db.engine.connect() as conn:
        assert {("hash",), ("case_ref",)} <= _log_indexes(conn)
        assert conn.execute(LOG_ROWS).all() == before

    upgrade(iop.app.db)
    assert current_revision(iop.app.db) == head_revision()
    with iop.app.db.engine.connect() as conn:
        assert conn.execute(LOG_ROWS).all() == before
        indexes = _log_indexes(conn)
        assert ("hash",) not in indexes and ("case_ref",) not in indexes
        assert {("case_ref", "case_seq"), ("at",)} <= indexes
        command.check(alembic_config(conn))  # the models and the migrated schema agree
    # Below 0005 the guideline rows lost their link to their load records: `iop init` records
    # them again, as the upgrade notes say, and verify names them until then.
    assert {p["problem"] for p in iop.verify().problems} == {"guideline_without_record"}
    assert iop.init()["guidelines_recorded"]
    assert iop.verify().ok

    # The append-only guards came back with the rebuilt table, and (case_ref, case_seq) is still unique.
    for statement in ("UPDATE transition_log SET actor = 'x'", "DELETE FROM transition_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), iop.app.db.engine.begin() as conn:
            conn.execute(sa.text(statement))
    first = before[0]
    with pytest.raises(sa.exc.IntegrityError), iop.app.db.engine.begin() as conn:
        conn.execute(
            sa.text(
                'INSERT INTO transition_log (case_ref, case_seq, at, actor, roles, source, "trigger", to_state,'
                " data, workflow_version, prev_hash, hash) SELECT case_ref, case_seq, at, actor, roles, source,"
                " \"trigger\", to_state, data, workflow_version, prev_hash, 'other' FROM transition_log WHERE seq = :s"
            ),
            {"s": first.seq},
        )
    with iop.app.db.engine.connect() as conn:
        assert conn.execute(LOG_ROWS).all()[: len(before)] == before  # init appended, changed nothing


def test_0011_gives_existing_guidelines_a_status_claiming_no_verification_and_everything_still_verifies(
    iop: Iop,
) -> None:
    add_orgs(iop)
    to_signed(iop)  # under Stenungsund-IOP, confirmed by the tests' coordinator
    with iop.app.db.engine.connect() as conn:
        before = conn.execute(LOG_ROWS).all()
    with iop.app.db.write() as conn:  # as `iop db upgrade` runs: one transaction
        command.downgrade(alembic_config(conn), "0006")
    with iop.app.db.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("guidelines")}
        assert "status" not in columns and "provenance" not in columns
    upgrade(iop.app.db)  # 0006 -> head (0011 among them) with cases, logs and guideline rows in place
    assert current_revision(iop.app.db) == head_revision()
    with iop.app.db.engine.connect() as conn:
        assert conn.execute(LOG_ROWS).all() == before
        command.check(alembic_config(conn))
    iop.app.guidelines = type(iop.app.guidelines)()  # row contents changed under the cache
    for g in iop.guidelines():  # adopted, nothing verified: in force for nobody
        assert g.status.value == "adopted" and g.provenance == () and not g.in_force(iop.app.clock.today())
    assert {p["problem"] for p in iop.verify().problems} == {"guideline_without_record"}
    assert iop.init()["guidelines_recorded"]  # records without the 0011 fields prove the legacy rows
    assert iop.verify().ok


def _sorts(conn: sa.Connection, query: sa.Select[Any]) -> bool:
    """Whether the database sorts to answer ``query`` rather than reading it in an index's order
    (PostgreSQL with sorting priced out, so the planner takes an index whenever one gives the order)."""
    sql = str(query.compile(dialect=conn.dialect))
    if conn.dialect.name == "sqlite":
        return any("TEMP B-TREE" in str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    conn.exec_driver_sql("SET LOCAL enable_sort = off")
    return any("Sort" in str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def test_0014_the_log_and_the_cases_come_in_verify_order_through_their_indexes(iop: Iop) -> None:
    add_orgs(iop)
    to_signed(iop)
    with iop.app.db.engine.connect() as conn:
        before = conn.execute(LOG_ROWS).all()
        queries = (ledger.chain_query(conn), ledger.states_query(conn))
        assert [_sorts(conn, q) for q in queries] == [False, False]
    _step(iop, "0013", down=True)
    if iop.app.db.engine.dialect.name == "postgresql":  # the default collation: the server sorts
        with iop.app.db.engine.connect() as conn:
            assert [_sorts(conn, q) for q in queries] == [True, True]
    upgrade(iop.app.db)
    with iop.app.db.engine.connect() as conn:
        assert conn.execute(LOG_ROWS).all() == before
        assert [_sorts(conn, q) for q in queries] == [False, False]
        command.check(alembic_config(conn))  # the model declares what the migration made
    assert iop.verify().ok
