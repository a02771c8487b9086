"""Verify and checkpoints against an attacker who drops the log's guards (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.audit.chain import HASHED_FIELDS
from iop_workflow.errors import IntegrityError, InvalidInput, NotFound
from iop_workflow.service.audit import verify_on
from tests.helpers import SHELTER, add_orgs, open_case, to_assessment, to_signed
from tests.tamper import attacker, forge_next, insert, rechain, records


def populate(iop: Iop) -> list[str]:
    add_orgs(iop)
    signed = to_signed(iop)
    assessing = to_assessment(iop, "Jönköping", SHELTER)
    fresh = open_case(iop, "Mark", SHELTER)
    return [signed, assessing, fresh]


def where(report: Any) -> list[tuple[Any, ...]]:
    """The chain's problems (the fact tables' are :func:`fact_problems`)."""
    return [(p.get("case_ref"), p.get("case_seq"), p["field"]) for p in report.problems if p["field"] != "fact"]


def fact_problems(report: Any) -> list[tuple[Any, ...]]:
    return [(p["case_ref"], p["case_seq"], p["problem"]) for p in report.problems if p["field"] == "fact"]


def test_an_untouched_log_verifies_with_its_counts(iop: Iop) -> None:
    refs = populate(iop)
    report = iop.verify()
    assert report.ok and report.cases == 3 and report.checkpoints == 0
    cp = iop.checkpoint(actor="system")
    assert (cp.cases, cp.records, len(cp.digest)) == (3, report.records, 64)
    assert iop.verify(digest=cp.digest.upper()).as_dict()["digest"] == {"digest": cp.digest, "checkpoint": cp.seq}
    one = iop.verify(case=refs[1])
    assert one.ok and one.cases == 1 and one.records == len(iop.history(refs[1]))


def test_changing_a_field_names_the_record_and_field(iop: Iop) -> None:
    ref = populate(iop)[0]
    with attacker(iop) as conn:
        conn.execute(
            sa.text("UPDATE transition_log SET reason = 'förfalskad' WHERE case_ref = :r AND case_seq = 3"), {"r": ref}
        )
    assert where(iop.verify()) == [(ref, 3, "hash")]


def test_deleting_a_record_names_the_gap(iop: Iop) -> None:
    ref = populate(iop)[0]
    with attacker(iop) as conn:
        conn.execute(sa.text("DELETE FROM transition_log WHERE case_ref = :r AND case_seq = 4"), {"r": ref})
    assert where(iop.verify()) == [(ref, 5, "case_seq")]


def test_deleting_the_last_fact_record_is_caught_by_the_checkpoint(iop: Iop) -> None:
    ref = populate(iop)[1]
    iop.record_meeting(ref, actor="anna", held_on="2026-01-12", joint_challenge="Ett till möte")
    n = len(iop.history(ref))
    iop.checkpoint()
    with attacker(iop) as conn:
        conn.execute(sa.text("DELETE FROM transition_log WHERE case_ref = :r AND case_seq = :n"), {"r": ref, "n": n})
    report = iop.verify()
    assert where(report) == [(ref, n, "chain")]
    assert f"the chain ends at {n - 1}" in report.problems[0]["problem"]
    assert fact_problems(report) == [(ref, None, "fact_without_record")]  # the meeting's row lost its record


def test_removing_a_whole_case_is_caught(iop: Iop) -> None:
    refs = populate(iop)
    iop.checkpoint()
    with attacker(iop) as conn:
        conn.execute(sa.text("DELETE FROM transition_log WHERE case_ref = :r"), {"r": refs[2]})
    # The case row is still there, and so are its open timers, which no record planned now.
    assert where(iop.verify()) == [(refs[2], None, "chain"), (refs[2], None, "timer")]
    with attacker(iop) as conn:
        case_id = conn.execute(sa.text("SELECT id FROM cases WHERE ref = :r"), {"r": refs[2]}).scalar_one()
        conn.execute(sa.text("DELETE FROM timers WHERE case_id = :c"), {"c": case_id})
        conn.execute(sa.text("DELETE FROM cases WHERE id = :c"), {"c": case_id})
    report = iop.verify()
    assert where(report) == [(refs[2], 1, "chain")]
    assert "none is left (chain removed)" in report.problems[0]["problem"]


def test_reordering_is_caught(iop: Iop) -> None:
    ref = populate(iop)[0]
    with attacker(iop) as conn:
        a, b = records(conn, ref)[2:4]
        conn.execute(sa.text("UPDATE transition_log SET seq = -1 WHERE seq = :s"), {"s": a.seq})
        conn.execute(sa.text("UPDATE transition_log SET seq = :a WHERE seq = :b"), {"a": a.seq, "b": b.seq})
        conn.execute(sa.text("UPDATE transition_log SET seq = :b WHERE seq = -1"), {"b": b.seq})
    report = iop.verify()
    assert where(report) == [(ref, 4, "seq")]
    # The meeting's row names its seq, which now holds another record; the meeting's record no row names.
    assert {p for _r, _s, p in fact_problems(report)} == {"fact_record_mismatch", "record_without_fact"}
    with attacker(iop) as conn:
        conn.execute(
            sa.text("UPDATE transition_log SET case_seq = -case_seq WHERE case_ref = :r AND case_seq IN (5, 6)"),
            {"r": ref},
        )
        conn.execute(
            sa.text("UPDATE transition_log SET case_seq = 6 WHERE case_ref = :r AND case_seq = -5"), {"r": ref}
        )
        conn.execute(
            sa.text("UPDATE transition_log SET case_seq = 5 WHERE case_ref = :r AND case_seq = -6"), {"r": ref}
        )
    report = iop.verify()
    assert report.problems[0]["case_ref"] == ref and report.problems[0]["field"] in {"seq", "case_seq", "prev_hash"}


def test_a_naively_forged_record_is_caught(iop: Iop) -> None:
    ref = populate(iop)[1]
    with attacker(iop) as conn:
        forged = forge_next(conn, ref)
        insert(conn, replace(forged, hash="ab" * 32))
    report = iop.verify()
    assert where(report) == [(ref, forged.case_seq, "hash")]
    assert fact_problems(report) == [(ref, forged.case_seq, "record_without_fact")]  # a meeting with no row


def test_a_perfectly_chained_record_behind_the_checkpoint_is_caught(iop: Iop) -> None:
    ref = populate(iop)[1]
    iop.checkpoint()
    with attacker(iop) as conn:
        insert(conn, replace(forge_next(conn, ref), seq=0))  # slipped in below every covered seq
    report = iop.verify()
    assert [(p["case_ref"], p["field"]) for p in report.problems if p["field"] != "fact"] == [(ref, "seq")]
    assert [p["problem"] for p in report.problems if p["field"] == "fact"] == ["record_without_fact"]


def test_records_after_a_checkpoint_are_fine_when_chained(iop: Iop) -> None:
    refs = populate(iop)
    iop.checkpoint()
    iop.fire(refs[2], "start_dialogue", actor="anna")
    iop.fire(refs[1], "return_to_dialogue", actor="anna", reason="Mer dialog")
    iop.checkpoint()
    assert iop.verify().ok and iop.verify().checkpoints == 2


def test_a_rewritten_history_is_caught_by_the_checkpoint_and_the_filed_digest(iop: Iop) -> None:
    ref = populate(iop)[0]
    filed = iop.checkpoint().digest
    with attacker(iop) as conn:
        rechain(conn, ref, 3, actor="mallory")  # every hash after it recomputed: the chain itself verifies
    report = iop.verify()
    assert [(p["case_ref"], p["field"]) for p in report.problems] == [(ref, "hash")]
    assert "differs from the head checkpoint 1 recorded" in report.problems[0]["problem"]
    # The attacker rewrites the checkpoint too: only the digest kept outside still tells.
    from iop_workflow.audit.checkpoint import heads_json
    from iop_workflow.store import ledger

    with attacker(iop) as conn:
        cp = ledger.last_checkpoint(conn)
        assert cp is not None
        new = replace(cp, heads=tuple(ledger.heads(conn)))
        new = replace(new, digest=new.compute_digest())
        conn.execute(
            sa.text("UPDATE checkpoints SET heads = :h, digest = :d WHERE seq = :s"),
            {"h": heads_json(new.heads), "d": new.digest, "s": cp.seq},
        )
    assert iop.verify().ok
    report = iop.verify(digest=filed)
    assert [p["field"] for p in report.problems] == ["digest"]
    assert f"{filed} is not the digest of any of the 1 checkpoints" in report.problems[0]["problem"]


def test_a_changed_checkpoint_is_caught(iop: Iop) -> None:
    populate(iop)
    iop.checkpoint()
    iop.checkpoint()
    with attacker(iop) as conn:
        conn.execute(sa.text("UPDATE checkpoints SET records = records + 1 WHERE seq = 1"))
    report = iop.verify()
    assert [(p["checkpoint"], p["field"]) for p in report.problems] == [(1, "digest")]


def test_checkpoint_refuses_a_broken_log_and_writes_nothing(iop: Iop) -> None:
    ref = populate(iop)[0]
    with attacker(iop) as conn:
        conn.execute(sa.text("UPDATE transition_log SET actor = 'x' WHERE case_ref = :r AND case_seq = 2"), {"r": ref})
    with pytest.raises(IntegrityError):
        iop.checkpoint()
    assert iop.verify().checkpoints == 0


def test_bad_inputs(iop: Iop) -> None:
    populate(iop)
    with pytest.raises(InvalidInput):
        iop.verify(digest="not-hex")
    with pytest.raises(NotFound):
        iop.verify(case="IOP-2099-0001")


def test_checkpoints_and_the_log_refuse_updates(iop: Iop) -> None:
    populate(iop)
    iop.checkpoint()
    for sql in ("UPDATE checkpoints SET actor = 'x'", "DELETE FROM checkpoints", "DELETE FROM transition_log"):
        with pytest.raises(sa.exc.DBAPIError), iop.app.db.engine.begin() as conn:
            conn.execute(sa.text(sql))


_NEW: dict[str, Any] = {
    "case_ref": "IOP-2099-9999",
    "case_seq": 1000,
    "at": "2020-01-01T00:00:00.000000Z",
    "actor": "mallory",
    "os_user": "mallory",
    "roles": '["admin"]',
    "source": "scheduler",
    "trigger": "sign",
    "from_state": "ended",
    "to_state": "ended",
    "reason": "förfalskad",
    "data": '{"x": 1}',
    "guideline_ref": "FALSK",
    "workflow_version": "f" * 64,
    "prev_hash": "e" * 64,
}


_OTHER = {"source": "api", "trigger": "expire", "from_state": "review", "to_state": "review", "actor": "eve"}


def test_100_random_single_field_tamperings_are_all_detected(iop: Iop) -> None:
    refs = populate(iop)
    iop.checkpoint()
    rng = random.Random(20261121)
    with iop.app.db.engine.connect() as conn:
        all_seqs = [int(s) for s in conn.execute(sa.text("SELECT seq FROM transition_log")).scalars()]
    fields = [*HASHED_FIELDS, "hash"]
    for _ in range(100):
        seq, field = rng.choice(all_seqs), rng.choice(fields)
        value = _NEW.get(field, rng.randbytes(32).hex())
        with attacker(iop, commit=False) as conn:
            before = conn.execute(sa.text("SELECT * FROM transition_log WHERE seq = :s"), {"s": seq}).mappings().one()
            if before[field] == value:
                value = _OTHER.get(field, "x")
            conn.execute(sa.text(f'UPDATE transition_log SET "{field}" = :v WHERE seq = :s'), {"v": value, "s": seq})
            report = verify_on(conn)
        assert not report.ok, (seq, field)
        assert any(p.get("case_ref") == before["case_ref"] for p in report.problems), (seq, field, report.problems)
    assert iop.verify().ok and set(refs)


def test_a_deleted_newest_checkpoint_and_a_forged_legal_record_are_named_by_the_filed_digest(iop: Iop) -> None:
    """Issue #13's tamper case: the attacker forges a record the rules allow, chained perfectly, and deletes
    the newest checkpoint that would have pinned the head; the log alone verifies, the digest filed outside
    does not."""
    refs = populate(iop)
    iop.checkpoint()
    iop.fire(refs[2], "start_dialogue", actor="anna")
    filed = iop.checkpoint().digest
    with attacker(iop) as conn:  # a careful forger: the record, the case row and its timers agree
        conn.execute(sa.text("DELETE FROM checkpoints WHERE digest = :d"), {"d": filed})
        insert(
            conn,
            forge_next(
                conn,
                refs[2],
                trigger="withdraw",
                from_state="dialogue",
                to_state="ended",
                actor="anna",
                reason="Förfalskad",
                data={"end_reason": "withdrawn", "timers": []},
            ),
        )
        conn.execute(
            sa.text("UPDATE cases SET state = 'ended', end_reason = 'withdrawn', version = version + 1 WHERE ref = :r"),
            {"r": refs[2]},
        )
        conn.execute(
            sa.text(
                "UPDATE timers SET cancelled_at = CURRENT_TIMESTAMP WHERE fired_at IS NULL AND "
                "cancelled_at IS NULL AND case_id = (SELECT id FROM cases WHERE ref = :r)"
            ),
            {"r": refs[2]},
        )
    report = iop.verify()
    assert report.ok, report.problems  # legal, chained, and no checkpoint left that covers the head
    report = iop.verify(digest=filed)
    assert not report.ok and [p["field"] for p in report.problems] == ["digest"]
    assert f"{filed} is not the digest of any of the 1 checkpoints" in report.problems[0]["problem"]
