"""Schema migrations on a database that holds data: 0003 drops two transition_log indexes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from iop_workflow import Iop
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
