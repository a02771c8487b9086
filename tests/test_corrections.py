"""Corrections are new logged records; the recorded facts stay as they were (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from iop_workflow import FakeClock, Iop
from iop_workflow.errors import InvalidInput, NotFound, TransitionNotAllowed
from iop_workflow.store.cases import case_row
from iop_workflow.store.facts import build_facts
from tests.helpers import add_orgs, to_signed


def entry(iop: Iop, ref: str, trigger: str, nth: int = 0) -> int:
    return int([r for r in iop.history(ref) if r["trigger"] == trigger][nth]["case_seq"])


def test_a_correction_is_logged_shown_and_leaves_the_fact_row(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    decision = entry(iop, ref, "record:decision")
    clock.set_date(date(2026, 1, 20))
    logged = iop.correct(
        ref,
        "decision",
        decision,
        field="decided_on",
        value="2026-01-14",
        reason="Protokollet visar 14 januari",
        actor="anna",
    )
    assert logged["trigger"] == "record:correction" and logged["reason"] == "Protokollet visar 14 januari"
    fix = logged["data"]["correction"]
    assert (fix["kind"], fix["entry"], fix["field"], fix["from"], fix["to"]) == (
        "decision",
        decision,
        "decided_on",
        "2026-01-12",
        "2026-01-14",
    )
    original = next(r for r in iop.history(ref) if r["case_seq"] == decision)
    assert fix["entry_hash"] == original["hash"]
    assert original["data"]["decision"]["decided_on"] == "2026-01-12"  # history shows both
    shown = next(f for f in iop.case(ref)["facts"] if f["entry"] == decision)
    assert shown["values"]["decided_on"] == "2026-01-14"
    assert shown["corrections"]["decided_on"]["entry"] == logged["case_seq"]
    with iop.app.db.engine.connect() as conn:
        assert str(conn.execute(sa.text("SELECT decided_on FROM decisions")).scalar_one()) == "2026-01-12"
    assert iop.verify().ok


def test_a_second_correction_of_the_same_field_starts_from_the_corrected_value(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    money = entry(iop, ref, "record:contribution")
    iop.correct(ref, "contribution", money, field="amount", value="350000", reason="Fel belopp", actor="anna")
    again = iop.correct(ref, "contribution", money, field="amount", value="360 000", reason="Igen", actor="anna")
    assert (again["data"]["correction"]["from"], again["data"]["correction"]["to"]) == ("350000.00", "360000.00")
    agreement = entry(iop, ref, "record:agreement")
    iop.correct(ref, "agreement", agreement, field="end_on", value="2027-12-31", reason="Ett år kortare", actor="anna")
    assert iop.register()[0]["end_on"] == "2027-12-31"


@pytest.mark.parametrize(
    ("kind", "field", "value", "error"),
    [
        ("decision", "colour", "x", InvalidInput),  # unknown field
        ("decision", "decided_on", "2026-02-30", InvalidInput),  # impossible date
        ("decision", "decided_on", "2026-01-12", InvalidInput),  # already that value
        ("meeting", "held_on", "2026-01-01", InvalidInput),  # the entry is a decision, not a meeting
        ("agreement", "end_on", "2020-01-01", InvalidInput),  # end before start (entry resolved below)
    ],
)
def test_bad_corrections_write_nothing(iop: Iop, kind: str, field: str, value: str, error: type[Exception]) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    which = entry(iop, ref, "record:agreement" if kind == "agreement" else "record:decision")
    before = iop.history(ref)
    with pytest.raises(error):
        iop.correct(ref, kind, which, field=field, value=value, reason="x", actor="anna")
    assert iop.history(ref) == before


def test_refusals_name_what_is_wrong(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    with pytest.raises(NotFound):
        iop.correct("IOP-2026-9999", "decision", 1, field="body", value="KS", reason="x", actor="anna")
    # An entry number the case does not have is a bad argument (exit 6), as for a retraction.
    with pytest.raises(InvalidInput) as no_entry:
        iop.correct(ref, "decision", 999, field="body", value="KS", reason="x", actor="anna")
    assert (no_entry.value.field, no_entry.value.exit_status) == ("entry", 6)
    assert f"{ref} has no entry #999" in no_entry.value.message("en")
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.correct(
            ref, "agreement", entry(iop, ref, "record:agreement"), field="purpose", value="x", reason="x", actor="eva"
        )
    assert refused.value.reasons[0].code == "role_not_allowed"
    with pytest.raises(InvalidInput):
        iop.correct(
            ref, "decision", entry(iop, ref, "record:decision"), field="body", value="KS", reason=" ", actor="anna"
        )


def test_corrections_are_append_only(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    iop.correct(
        ref,
        "decision",
        entry(iop, ref, "record:decision"),
        field="body",
        value="Kommunstyrelsen",
        reason="x",
        actor="anna",
    )
    for sql in ("UPDATE corrections SET new_value = '\"x\"'", "DELETE FROM corrections"):
        with pytest.raises(sa.exc.DBAPIError), iop.app.db.engine.begin() as conn:
            conn.execute(sa.text(sql))


def open_timers(iop: Iop, ref: str) -> dict[str, str]:
    return {t["kind"]: t["due_on"] for t in iop.case(ref)["timers"]}


def test_a_corrected_agreement_date_moves_the_deadline_and_the_guards_see_it(iop: Iop, clock: FakeClock) -> None:
    """The rules decide on corrected facts: activation waits for the corrected start date."""
    add_orgs(iop)
    ref = to_signed(iop)  # agreement 2026-02-01 .. 2028-01-31: activation due 2026-02-01
    assert open_timers(iop, ref) == {"agreement_start": "2026-02-01"}
    iop.correct(
        ref,
        "agreement",
        entry(iop, ref, "record:agreement"),
        field="start_on",
        value="2026-03-02",
        reason="Avtalet börjar en månad senare",
        actor="anna",
    )
    assert open_timers(iop, ref) == {"agreement_start": "2026-03-02"}
    with iop.app.db.engine.connect() as conn:
        moved = conn.execute(sa.text("SELECT kind, due_on FROM timers WHERE outcome = 'moved by a correction'")).all()
    assert [(k, str(d)) for k, d in moved] == [("agreement_start", "2026-02-01")]
    clock.set_date(date(2026, 2, 10))
    assert iop.sweep_timers()["due"] == 0
    with pytest.raises(TransitionNotAllowed, match="2026-03-02"):  # the guard reads the corrected start
        iop.fire(ref, "activate", actor="anna")
    clock.set_date(date(2026, 3, 2))
    assert iop.sweep_timers()["fired"] == 1  # the batch path reads the corrections too
    assert iop.case(ref)["state"] == "active"
    # The active state's deadlines are planned from the corrected period (start 2026-03-02).
    assert open_timers(iop, ref)["review_due"] == "2027-03-02"
    assert iop.verify().ok


def test_a_correction_that_changes_no_deadline_moves_none(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    iop.correct(
        ref,
        "decision",
        entry(iop, ref, "record:decision"),
        field="body",
        value="Kommunstyrelsen",
        reason="Fel nämnd",
        actor="anna",
    )
    assert open_timers(iop, ref) == {"agreement_start": "2026-02-01"}
    with iop.app.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM timers WHERE outcome LIKE 'moved%'")).scalar_one() == 0
    # Every kind of fact is read through its corrections: a corrected text and amount keep their types.
    money = entry(iop, ref, "record:contribution")
    iop.correct(ref, "contribution", money, field="amount", value="350000", reason="Fel belopp", actor="anna")
    with iop.app.db.read() as s:
        facts = build_facts(
            s, case_row(s, ref), iop.app.guidelines, preparing=iop.app.definition.states_in("preparing")
        )
    [decision] = facts.decisions
    assert decision.body == "Kommunstyrelsen"
    assert facts.agreements[0].contributions[0].amount == Decimal("350000")
    assert iop.options(ref, actor="eva")  # every rule runs on the corrected facts


@pytest.mark.parametrize(
    ("value", "bound"), [("2026-01-09", "öppnande (2026-01-12)"), ("2026-01-21", "i dag (2026-01-20)")]
)
def test_a_correction_keeps_what_happened_within_the_cases_time(
    iop: Iop, clock: FakeClock, value: str, bound: str
) -> None:
    """Before the case was opened, or after today: refused, naming both bounds; nothing written."""
    add_orgs(iop)
    ref = to_signed(iop)
    decision = entry(iop, ref, "record:decision")
    clock.set_date(date(2026, 1, 20))
    before = iop.history(ref)
    with pytest.raises(InvalidInput) as refused:
        iop.correct(ref, "decision", decision, field="decided_on", value=value, reason="x", actor="anna")
    assert refused.value.field == "decided_on" and bound in refused.value.message("sv")
    assert iop.history(ref) == before
