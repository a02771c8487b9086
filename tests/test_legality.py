"""Records legal under the workflow they name: a forged record the chain accepts, the rules do not."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.service import legality
from tests.helpers import add_orgs, to_assessment, to_signed
from tests.tamper import attacker, forge_next, insert


def _rules(items: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return [(p["case_ref"], p["case_seq"], p["detail"]) for p in items if p.get("field") == "rule"]


def test_a_whole_life_cycle_is_legal_and_init_marks_the_cut_over_once(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    entry = next(int(r["case_seq"]) for r in iop.history(ref) if r["trigger"] == "record:agreement")
    iop.correct(
        ref, kind="agreement", entry=entry, field="notice_months", value="6", reason="Enligt avtalet", actor="anna"
    )
    report = iop.verify()
    assert report.ok and report.warnings == [] and report.as_dict()["warnings"] == []
    cut = [r for r in iop.export(case="@admin") if r["trigger"] == legality.CUTOVER]
    assert len(cut) == 1 and cut[0]["data"] == {"check": legality.CHECK}
    iop.init()
    assert [r["trigger"] for r in iop.export(case="@admin")].count(legality.CUTOVER) == 1


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (
            {"trigger": "pay_out", "roles": ("treasurer",), "at": "1999-01-01T00:00:00.000000Z"},
            "the workflow has no trigger pay_out",
        ),
        ({"trigger": "sign", "to_state": "signed", "roles": ("signatory",)}, "sign does not leave dialogue"),
        (
            {"trigger": "submit_for_assessment", "to_state": "ended", "roles": ("officer",)},
            "submit_for_assessment from dialogue leads to assessment, not ended",
        ),
        (
            {"trigger": "submit_for_assessment", "to_state": "assessment", "roles": ("legal",)},
            "roles legal may not fire submit_for_assessment",
        ),
        ({"trigger": "record:review", "roles": ("officer",)}, "a review cannot be recorded in state dialogue"),
        (
            {"trigger": "record:decision", "to_state": "assessment", "roles": ("officer",)},
            "record:decision changed the state from dialogue to assessment",
        ),
        ({"trigger": "record:bribe", "roles": ("officer",)}, "no fact of kind bribe can be recorded"),
        ({"trigger": "record:meeting", "roles": ("auditor",)}, "roles auditor may not record a meeting"),
    ],
    ids=[
        "unknown-trigger",
        "wrong-source",
        "wrong-dest",
        "wrong-role",
        "wrong-state-for-fact",
        "fact-moves",
        "unknown-kind",
        "fact-role",
    ],
)
def test_a_perfectly_chained_illegal_record_is_named(iop: Iop, changes: dict[str, Any], says: str) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    iop.fire(ref, "return_to_dialogue", actor="anna", reason="Mer dialog")  # in dialogue, legally
    with attacker(iop) as conn:
        forged = forge_next(conn, ref, **changes)
        insert(conn, forged)
        conn.execute(sa.text("UPDATE cases SET state = :s WHERE ref = :r"), {"s": forged.to_state, "r": ref})
    report = iop.verify()
    found = _rules(report.problems)
    assert len(found) == 1 and found[0][:2] == (ref, forged.case_seq), found
    assert says in found[0][2]
    assert _rules(report.warnings) == []


def test_a_record_slipped_in_before_the_cut_over_is_a_warning_and_still_a_chain_problem(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    with attacker(iop) as conn:
        insert(conn, replace(forge_next(conn, ref, trigger="pay_out"), seq=0))
    report = iop.verify()
    assert _rules(report.problems) == []
    (warning,) = _rules(report.warnings)
    assert "the workflow has no trigger pay_out" in warning[2] and "before the cut-over: record" in warning[2]
    assert {p["field"] for p in report.problems} >= {"seq"}  # the chain names it as out of order anyway


def test_a_stored_workflow_version_edited_is_named_for_every_record_under_it(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    with attacker(iop) as conn:
        conn.execute(sa.text("UPDATE workflow_versions SET content = content || '\n# edited\n[states.extra]\n'"))
    details = {d for _r, _s, d in _rules(iop.verify().problems)}
    assert len(details) == 1 and "workflow version" in details.pop()
    assert len(_rules(iop.verify(case=ref).problems)) == len(iop.history(ref))
