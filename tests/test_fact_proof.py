"""Fact rows bound to their records: a row edited, added or removed behind the log's back is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.errors import DatabaseUnavailable
from iop_workflow.service import fact_proof
from iop_workflow.store import cases as repo
from iop_workflow.store.migrate import upgrade
from tests.cli_helpers import Backend, Cli, prepare_signing, to_assessment, today
from tests.helpers import add_orgs, to_signed
from tests.tamper import attacker
from tests.test_migrations import _step


def _facts(report: object) -> list[tuple[str, str, str]]:
    problems = report.problems  # type: ignore[attr-defined]
    return [(p.get("table", ""), p["problem"], p.get("detail", "")) for p in problems if p.get("field") == "fact"]


def test_every_fact_row_names_the_record_that_wrote_it_and_holds_its_digest(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    iop.correct(
        ref,
        kind="agreement",
        entry=_entry(iop, ref, "record:agreement"),
        field="purpose",
        value="Skyddat boende året runt",
        reason="Syftet saknades",
        actor="anna",
    )
    with iop.app.db.read() as s:
        for table, facts in repo.FACT_TABLES.items():
            for row in s.execute(sa.select(facts)).mappings():
                (rec,) = [r for r in iop.history(ref) if r["seq"] == row["log_seq"]]
                assert rec["trigger"].startswith("record:"), table
                assert rec["data"][fact_proof.ROW_DIGEST] == fact_proof.row_digest(table, row)
    assert iop.verify().ok


def _entry(iop: Iop, ref: str, trigger: str) -> int:
    return next(int(r["case_seq"]) for r in iop.history(ref) if r["trigger"] == trigger)


@pytest.mark.parametrize(
    ("edit", "table", "problem", "names"),
    [
        ("UPDATE agreements SET end_on = '2099-12-31'", "agreements", "fact_differs_from_log", "end_on"),
        ("UPDATE contributions SET amount = amount * 10", "contributions", "fact_differs_from_log", "amount"),
        ("UPDATE agreements SET purpose = 'Något annat'", "agreements", "fact_differs_from_log", "row_digest"),
        ("UPDATE decisions SET log_seq = NULL", "decisions", "fact_without_record", "record"),
        ("DELETE FROM legal_checks", "legal_checks", "record_without_fact", "record:legal-check"),
        (
            "INSERT INTO meetings (case_id, held_on, participants, joint_challenge, notes, recorded_by, recorded_at)"
            " SELECT case_id, held_on, participants, 'Inlagt i smyg', notes, recorded_by, recorded_at FROM meetings",
            "meetings",
            "fact_without_record",
            "names no record",
        ),
    ],
    ids=["logged-field", "amount", "free-text", "unlinked", "deleted", "inserted"],
)
def test_a_fact_changed_behind_the_logs_back_is_named(
    iop: Iop, edit: str, table: str, problem: str, names: str
) -> None:
    add_orgs(iop)
    to_signed(iop)
    assert iop.verify().ok
    with attacker(iop) as conn:
        conn.execute(sa.text(edit))
    found = _facts(iop.verify())
    # A row without its link also leaves its record without a row: both are named.
    also = {(table, "record_without_fact")} if problem == "fact_without_record" and "UPDATE" in edit else set()
    assert found and {(t, p) for t, p, _d in found} == {(table, problem)} | also
    assert all(names in detail for _t, _p, detail in found)


def test_a_correction_changed_behind_the_logs_back_is_named(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    iop.correct(
        ref,
        kind="contribution",
        entry=_entry(iop, ref, "record:contribution"),
        field="amount",
        value="250000",
        reason="Dubbelregistrerat belopp",
        actor="anna",
    )
    assert iop.verify().ok
    with attacker(iop) as conn:  # corrections are append-only too: the attacker drops that guard as well
        guard = "corrections_no_update" if conn.dialect.name == "sqlite" else "corrections_no_change ON corrections"
        conn.exec_driver_sql(f"DROP TRIGGER {guard}")
        conn.execute(sa.text("UPDATE corrections SET new_value = '\"2500000.00\"'"))
    assert _facts(iop.verify()) == [
        (
            "corrections",
            "fact_differs_from_log",
            f"the corrections row differs from record {iop.history(ref)[-1]['seq']} in: new_value",
        )
    ]


def test_the_migration_binds_existing_rows_by_their_order_once(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    with iop.app.db.read() as s:
        before = {
            t: s.execute(sa.select(f.c.id, f.c.log_seq).order_by(f.c.id)).all() for t, f in repo.FACT_TABLES.items()
        }
    _step(iop, "0005", down=True)  # the fact tables lose log_seq
    with pytest.raises(DatabaseUnavailable, match=r"(older than this version of iop|out of date); run `iop init`"):
        iop.verify()
    upgrade(iop.app.db)  # 0006 binds them again, by position
    with iop.app.db.read() as s:
        after = {
            t: s.execute(sa.select(f.c.id, f.c.log_seq).order_by(f.c.id)).all() for t, f in repo.FACT_TABLES.items()
        }
    assert after == before and any(before.values())
    # Below 0011 a guideline row with an unknown fact lost its link (the old schema holds a placeholder
    # instead): `iop init` records it again, as after 0005.
    assert {p["problem"] for p in iop.verify().problems} == {"guideline_without_record"}
    assert iop.init()["guidelines_recorded"]
    assert iop.verify().ok
    # Corrections find their row by the link.
    iop.correct(
        ref,
        kind="agreement",
        entry=_entry(iop, ref, "record:agreement"),
        field="notice_months",
        value="6",
        reason="Sex månaders uppsägningstid enligt avtalet",
        actor="anna",
    )
    assert iop.verify().ok


def test_verify_and_restore_name_an_edited_agreement(backend: Backend, tmp_path: Path) -> None:
    cli = Cli(tmp_path, backend.url)
    ref = to_assessment(cli)
    prepare_signing(cli, ref, today())
    cli.ok("audit", "verify")
    backend.execute("UPDATE agreements SET end_on = '2099-12-31'")
    found = cli("--json", "audit", "verify")
    assert found.status == 7, found.text
    (problem,) = found.json()["problems"]
    assert (problem["case_ref"], problem["problem"], problem["table"]) == (ref, "fact_differs_from_log", "agreements")
    assert "end_on" in problem["detail"] and "Traceback" not in found.text
    assert "fact_differs_from_log" in cli("audit", "verify").out
    if backend.path is None:
        return
    backup = tmp_path / "copy.db"
    cli.ok("db", "backup", str(backup))
    refused = cli("--db", f"sqlite:///{tmp_path / 'restored.db'}", "db", "restore", str(backup))
    assert refused.status == 7, refused.text
    assert not (tmp_path / "restored.db").exists()
