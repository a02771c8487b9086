"""Open timers are held to the log: the record that planned them says which they are (issue #13, item 1)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.audit.chain import GENESIS, seal
from iop_workflow.errors import InvalidInput
from iop_workflow.service.backup import BackupRejected
from tests.helpers import add_orgs, open_case, to_signed
from tests.tamper import attacker, records


def timer_problems(report: Any) -> list[tuple[str, str]]:
    return sorted((p["case_ref"], p["problem"]) for p in report.problems if p["field"] == "timer")


def open_timers(iop: Iop, ref: str) -> list[tuple[str, str]]:
    with iop.app.db.read() as s:
        rows = s.execute(
            sa.text(
                "SELECT t.kind, t.due_on FROM timers t JOIN cases c ON c.id = t.case_id "
                "WHERE c.ref = :r AND t.fired_at IS NULL AND t.cancelled_at IS NULL ORDER BY t.id"
            ),
            {"r": ref},
        )
        return [(k, str(d)) for k, d in rows]


def entry(iop: Iop, ref: str, trigger: str) -> int:
    return int(next(r["case_seq"] for r in iop.history(ref) if r["trigger"] == trigger))


@pytest.fixture
def cases(iop: Iop) -> tuple[str, str]:
    add_orgs(iop)
    return to_signed(iop), open_case(iop, "Mark")


def test_each_planning_record_holds_its_plan_and_an_untouched_table_verifies(iop: Iop, cases: tuple[str, str]) -> None:
    signed, fresh = cases
    opened = iop.history(fresh)[0]
    assert [(t["kind"], t["due_on"]) for t in opened["data"]["timers"]] == open_timers(iop, fresh)
    last = iop.history(signed)[-1]
    assert last["trigger"] == "sign" and [(t["kind"], t["due_on"]) for t in last["data"]["timers"]] == open_timers(
        iop, signed
    )
    report = iop.verify()
    assert report.ok and not timer_problems(report) and not report.warnings, report.problems


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("UPDATE timers SET due_on = '2099-12-31' WHERE {open}", {"timer_not_planned", "planned_timer_missing"}),
        ("DELETE FROM timers WHERE {open}", {"planned_timer_missing"}),
        ("UPDATE timers SET cancelled_at = '2026-01-13 09:00:00' WHERE {open}", {"planned_timer_missing"}),
        (
            "UPDATE timers SET fired_at = '2026-01-13 09:00:00', outcome = 'alert' WHERE {open}",
            {"planned_timer_missing"},
        ),
        (
            "INSERT INTO timers (case_id, kind, state, due_on, action, planned_at) SELECT case_id, kind, state, "
            "'2031-01-01', action, planned_at FROM timers WHERE {open}",
            {"timer_not_planned"},
        ),
    ],
    ids=["moved", "deleted", "cancelled", "marked-fired-early", "inserted"],
)
def test_an_edited_timer_is_named(iop: Iop, cases: tuple[str, str], edit: str, expected: set[str]) -> None:
    _signed, fresh = cases
    with attacker(iop) as conn:
        case_id = conn.execute(sa.text("SELECT id FROM cases WHERE ref = :r"), {"r": fresh}).scalar_one()
        where = f"case_id = {int(case_id)} AND fired_at IS NULL AND cancelled_at IS NULL"
        conn.execute(sa.text(edit.format(open=where)))
    report = iop.verify()
    assert not report.ok
    found = timer_problems(report)
    assert {p for _ref, p in found} == expected and {r for r, _p in found} == {fresh}, found
    assert timer_problems(iop.verify(case=fresh)) == found  # one case's verify checks its timers too


def test_a_timer_closed_by_the_sweep_when_due_verifies(iop: Iop, cases: tuple[str, str], clock: Any) -> None:
    _signed, fresh = cases
    ((kind, due_on),) = open_timers(iop, fresh)
    assert kind == "idle"
    clock.set_date(date.fromisoformat(due_on))
    assert iop.sweep_timers()["alerts"] == 1
    assert open_timers(iop, fresh) == []  # closed by the sweep, on its due day
    report = iop.verify()
    assert report.ok and not timer_problems(report), report.problems


def test_a_correction_records_the_deadlines_it_moves(iop: Iop, cases: tuple[str, str]) -> None:
    signed, _fresh = cases
    before = open_timers(iop, signed)
    agreement = entry(iop, signed, "record:agreement")
    logged = iop.correct(
        signed,
        "agreement",
        agreement,
        field="start_on",
        value="2026-03-02",
        reason="Avtalet börjar senare",
        actor="anna",
    )
    after = open_timers(iop, signed)
    assert after != before and [(t["kind"], t["due_on"]) for t in logged["data"]["timers"]] == after
    assert ("agreement_start", "2026-03-02") in after
    report = iop.verify()
    assert report.ok and not timer_problems(report), report.problems


def test_a_caller_cannot_write_a_plan_of_its_own(iop: Iop, cases: tuple[str, str]) -> None:
    _signed, fresh = cases
    with pytest.raises(InvalidInput, match="timers"):
        iop.fire(fresh, "start_dialogue", actor="anna", data={"timers": "[]"})


def test_a_case_planned_before_records_held_their_plan_is_a_warning(iop: Iop, cases: tuple[str, str]) -> None:
    """A database of an earlier release: its planning records have no ``timers``; not checked, said once."""
    _signed, fresh = cases
    with attacker(iop) as conn:  # as the earlier release wrote it: the same chain without the plan
        prev = GENESIS
        for rec in records(conn, fresh):
            data = {k: v for k, v in rec.data.items() if k != "timers"}
            new = seal(replace(rec, data=data, prev_hash=prev))
            conn.execute(
                sa.text("UPDATE transition_log SET data = :d, prev_hash = :p, hash = :h WHERE seq = :s"),
                {"d": json.dumps(data), "p": new.prev_hash, "h": new.hash, "s": rec.seq},
            )
            prev = new.hash
    report = iop.verify()
    assert report.ok, report.problems
    (warning,) = [w for w in report.warnings if w["field"] == "timer"]
    assert warning["case_ref"] == fresh and "1 case(s)" in warning["detail"]


def test_restore_refuses_a_backup_whose_timers_were_moved(tmp_path: Path, settings: Any, clock: Any) -> None:
    """A restore accepts nothing it cannot verify: a backup with a moved deadline is refused, naming it."""
    with Iop.connect(f"sqlite:///{tmp_path / 'live.db'}", clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        ref = open_case(iop)
        iop.backup(tmp_path / "backup.db")
        with Iop.connect(f"sqlite:///{tmp_path / 'backup.db'}", audit_log=False) as copy, attacker(copy) as conn:
            conn.execute(sa.text("UPDATE timers SET due_on = '2099-12-31' WHERE fired_at IS NULL"))
        with pytest.raises(BackupRejected) as refused:
            iop.restore(tmp_path / "backup.db", force=True)
        assert any(p.get("field") == "timer" and p.get("case_ref") == ref for p in refused.value.problems)
        assert iop.verify().ok
