"""Pins: tests that fail when the thing they guard is broken (docs/testing.md)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import ConcurrentUpdate, FakeClock, Iop
from iop_workflow.audit.chain import GENESIS, LogRecord, canonical_json, record_from_row, seal
from iop_workflow.audit.checkpoint import Checkpoint
from iop_workflow.audit.export import jsonl_line
from iop_workflow.audit.masking import mask_record, mask_value
from iop_workflow.audit.verify import verify_chains
from iop_workflow.domain.guards import GUARDS
from iop_workflow.errors import TransitionNotAllowed
from iop_workflow.service.changes import utc_iso
from iop_workflow.settings import Settings
from iop_workflow.store import cases as case_repo
from iop_workflow.store import timers as timer_repo
from tests.conftest import STOCKHOLM
from tests.helpers import seed_due
from tests.test_guards import KUNGALV, SIGNATORY, ready, sign_reasons

# --- 1. Known-answer hashes -------------------------------------------------------------------

RECORD = LogRecord(
    case_ref="IOP-2026-0001",
    case_seq=1,
    at="2026-01-12T08:00:00+00:00",
    actor="anna",
    os_user="anna",
    roles=("officer", "registrar"),
    source="cli",
    trigger="open",
    from_state=None,
    to_state="initiative",
    reason="Ny",
    data={"b": "å", "a": 1},
    guideline_ref=None,
    workflow_version="vvvvvvvv",
    prev_hash=GENESIS,
    auth={"method": "local", "issuer": None, "subject": "anna", "token_id": None},
    format=2,
)
RECORD_BYTES = (
    '{"actor":"anna","at":"2026-01-12T08:00:00+00:00","auth":{"issuer":null,"method":"local","subject":"anna",'
    '"token_id":null},"case_ref":"IOP-2026-0001","case_seq":1,"data":{"a":1,"b":"å"},"format":2,'
    '"from_state":null,"guideline_ref":null,"os_user":"anna","prev_hash":"' + "0" * 64 + '","reason":"Ny",'
    '"roles":["officer","registrar"],"source":"cli","to_state":"initiative","trigger":"open",'
    '"workflow_version":"vvvvvvvv"}'
).encode()
RECORD_HASH = "f284f2a4e31aaa6171917894daaaa6ccf752075eda52750e405b6223ef77e3c0"
CHECKPOINT = Checkpoint(
    at="2026-01-12T08:00:00+00:00",
    actor="revisor",
    cases=1,
    records=1,
    max_seq=1,
    heads=(("IOP-2026-0001", 1, RECORD_HASH),),
)
CHECKPOINT_BYTES = (
    '{"actor":"revisor","at":"2026-01-12T08:00:00+00:00","cases":1,"heads":[["IOP-2026-0001",1,"'
    + RECORD_HASH
    + '"]],"max_seq":1,"prev_digest":"'
    + "0" * 64
    + '","records":1}'
).encode()
CHECKPOINT_DIGEST = "fa86a0673f6cd096030a63109ca7c7e7ee990a137e5f096651c2bd80d84d0fef"


def test_record_hash_is_a_known_answer() -> None:
    assert hashlib.sha256(RECORD_BYTES).hexdigest() == RECORD_HASH  # the literal is self-consistent
    assert canonical_json(RECORD.hashed_content()).encode("utf-8") == RECORD_BYTES
    assert RECORD.compute_hash() == RECORD_HASH


# A format-1 record whose data holds what ``default=str`` and the float formatting decide: a Decimal,
# floats, a date, nested keys out of order, non-ASCII keys and a no-break space; ``at`` in the write
# path's own format (``utc_iso``: fixed-width microseconds and ``Z``).
RECORD_V1 = LogRecord(
    case_ref="IOP-2026-0002",
    case_seq=2,
    at="2026-06-01T07:30:00.000000Z",
    actor="Åsa Öberg",
    os_user=None,
    roles=("signatory",),
    source="scheduler",
    trigger="sign",
    from_state="assessment",
    to_state="signed",
    reason=None,
    guideline_ref="KS2019/2069",
    workflow_version="wwwwwwww",
    prev_hash="a" * 64,
    data={
        "amount": Decimal("340000.50"),
        "share": 0.25,
        "big": 1e16,
        "start_on": date(2026, 2, 1),
        "nested": {"ö": [True, None, -1]},
        "€": "x\u00a0y",
    },
)
RECORD_V1_BYTES = (
    '{"actor":"Åsa Öberg","at":"2026-06-01T07:30:00.000000Z","case_ref":"IOP-2026-0002","case_seq":2,'
    '"data":{"amount":"340000.50","big":1e+16,"nested":{"ö":[true,null,-1]},"share":0.25,'
    '"start_on":"2026-02-01","€":"x\u00a0y"},"from_state":"assessment","guideline_ref":"KS2019/2069",'
    '"os_user":null,"prev_hash":"' + "a" * 64 + '","reason":null,"roles":["signatory"],"source":"scheduler",'
    '"to_state":"signed","trigger":"sign","workflow_version":"wwwwwwww"}'
).encode()
RECORD_V1_HASH = "b93ec0d20ff3ba0fd316c83dc92892ed035c9524f63b561429187af24ddfb34a"


def test_format_1_record_with_typed_data_is_a_known_answer() -> None:
    assert hashlib.sha256(RECORD_V1_BYTES).hexdigest() == RECORD_V1_HASH
    assert canonical_json(RECORD_V1.hashed_content()).encode("utf-8") == RECORD_V1_BYTES
    assert RECORD_V1.compute_hash() == RECORD_V1_HASH


def test_record_dates_are_fixed_width_utc() -> None:
    """``at`` is hashed as written: a change of its format would fork every chain written after it."""
    assert utc_iso(datetime(2026, 6, 1, 9, 30, tzinfo=STOCKHOLM)) == RECORD_V1.at
    assert utc_iso(datetime(2026, 1, 12, 9, 0, 0, 7, tzinfo=STOCKHOLM)) == "2026-01-12T08:00:00.000007Z"
    assert utc_iso(datetime(2026, 1, 12, 8, 0)) == "2026-01-12T08:00:00.000000Z"  # naive: a UTC database time


@pytest.mark.parametrize(("record", "digest"), [(RECORD, RECORD_HASH), (RECORD_V1, RECORD_V1_HASH)])
def test_a_stored_record_reproduces_its_known_hash(record: LogRecord, digest: str) -> None:
    """The row the store writes, read back, hashes to the known answer (the text columns round-trip)."""
    row = {"seq": 7, **case_repo.log_values(record.hashed_content(), digest)}
    back = record_from_row(row)
    assert back.format == record.format
    assert back.hash == digest
    assert back.compute_hash() == digest


def test_checkpoint_digest_is_a_known_answer() -> None:
    assert hashlib.sha256(CHECKPOINT_BYTES).hexdigest() == CHECKPOINT_DIGEST
    assert canonical_json(CHECKPOINT.hashed_content()).encode("utf-8") == CHECKPOINT_BYTES
    assert CHECKPOINT.compute_digest() == CHECKPOINT_DIGEST


# --- 2. Store-level races (both back-ends; SQLite included) -----------------------------------


def race(n: int, step: Callable[[threading.Barrier], Any]) -> list[Any]:
    """Run ``step`` in ``n`` threads; each returns its outcome (or the exception it raised)."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            out[i] = step(barrier)
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


def test_stale_case_version_loses(db_url: str, settings: Settings) -> None:
    """Two writers read version v; both update; exactly one wins, the other gets ConcurrentUpdate."""
    refs = seed_due(db_url, settings)
    clock = FakeClock(datetime(2026, 1, 13, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        db = iop.app.db
        with db.read() as s:
            before = case_repo.case_row(s, refs[0])

        def step(barrier: threading.Barrier) -> str:
            with db.read() as s:
                row = case_repo.case_row(s, refs[0])
            barrier.wait()  # both have read the same version before either writes
            title = f"by {threading.get_ident()}"
            with db.write() as s:
                case_repo.update_case(s, row, {"title": title})
            return title

        outcomes = race(2, step)
        with db.read() as s:
            final = case_repo.case_row(s, refs[0])
    wins = [o for o in outcomes if isinstance(o, str)]
    assert len(wins) == 1, outcomes
    lost = [o for o in outcomes if isinstance(o, ConcurrentUpdate)]
    assert len(lost) == 1, outcomes
    assert (lost[0].expected_version, lost[0].found_version) == (before["version"], before["version"] + 1)
    assert (final["version"], final["title"]) == (before["version"] + 1, wins[0])  # the loser wrote nothing


def test_a_write_with_a_version_already_replaced_changes_nothing(db_url: str, settings: Settings) -> None:
    """The same race, one step after the other: a write from a stale read is refused and leaves the row."""
    refs = seed_due(db_url, settings)
    clock = FakeClock(datetime(2026, 1, 13, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        db = iop.app.db
        with db.read() as s:
            stale = case_repo.case_row(s, refs[0])
        with db.write() as s:
            assert case_repo.update_case(s, stale, {"title": "first"}) == stale["version"] + 1
        with pytest.raises(ConcurrentUpdate) as caught, db.write() as s:
            case_repo.update_case(s, stale, {"title": "second"})
        with db.read() as s:
            final = case_repo.case_row(s, refs[0])
            second = case_repo.case_row(s, refs[0])
        with db.write() as s:  # a fresh read writes again
            assert case_repo.update_case(s, second, {"title": "third"}) == stale["version"] + 2
    assert (caught.value.expected_version, caught.value.found_version) == (stale["version"], stale["version"] + 1)
    assert (final["version"], final["title"]) == (stale["version"] + 1, "first")


def _timer(db: Any, timer_id: int) -> dict[str, Any]:
    with db.read() as s:
        row = s.execute(sa.select(case_repo.TIMERS).where(case_repo.TIMERS.c.id == timer_id)).mappings().one()
    return dict(row)


def test_open_timer_is_marked_once(db_url: str, settings: Settings) -> None:
    """Two sweepers saw the same open timer; exactly one may mark it fired, and its outcome stays."""
    seed_due(db_url, settings)
    clock = FakeClock(datetime(2026, 3, 1, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        db = iop.app.db
        with db.read() as s:
            timer_id = int(next(timer_repo.due(s, clock.today()))["id"])

        def step(barrier: threading.Barrier) -> str | None:
            with db.read() as s:
                assert any(r["id"] == timer_id for r in timer_repo.due(s, clock.today()))
            barrier.wait()
            outcome = f"fire:{threading.get_ident()}"
            with db.write() as s:
                return outcome if timer_repo.mark(s, timer_id, clock.now(), outcome=outcome) else None

        outcomes = race(2, step)
        row = _timer(db, timer_id)
    wins = [o for o in outcomes if isinstance(o, str)]
    assert len(wins) == 1 and outcomes.count(None) == 1, outcomes
    assert row["outcome"] == wins[0] and row["fired_at"] is not None and row["cancelled_at"] is None


def test_a_closed_timer_stays_as_it_was_closed(db_url: str, settings: Settings) -> None:
    """Every write to a timer is conditional on "still open": a fired or cancelled one is left alone."""
    seed_due(db_url, settings, signed=2)
    clock = FakeClock(datetime(2026, 3, 1, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        db = iop.app.db
        with db.read() as s:
            fired, cancelled = (int(r["id"]) for r in list(timer_repo.due(s, clock.today()))[:2])
            case_id = int(_timer(db, fired)["case_id"])
        with db.write() as s:
            assert timer_repo.mark(s, fired, clock.now(), outcome="fire:first")
            assert timer_repo.mark(s, cancelled, clock.now(), outcome="cancel:first", cancelled=True)
        before = {fired: _timer(db, fired), cancelled: _timer(db, cancelled)}
        clock.advance(timedelta(hours=1))
        with db.write() as s:
            for timer_id in (fired, cancelled):
                assert not timer_repo.mark(s, timer_id, clock.now(), outcome="fire:again")
                assert not timer_repo.mark(s, timer_id, clock.now(), outcome="cancel:again", cancelled=True)
                timer_repo.note_failure(s, timer_id, "failed: again")
            case_repo.cancel_open_timers(s, case_id, clock.now())
        after = {fired: _timer(db, fired), cancelled: _timer(db, cancelled)}
        with db.read() as s:
            assert fired not in {int(r["id"]) for r in timer_repo.due(s, clock.today())}
            assert not any(r["id"] in (fired, cancelled) for r in timer_repo.open_for_case(s, case_id))
    assert after == before
    assert before[fired]["fired_at"] is not None and before[fired]["cancelled_at"] is None
    assert before[cancelled]["cancelled_at"] is not None and before[cancelled]["fired_at"] is None


# --- 3. A guideline's last valid day ------------------------------------------------------------

LAST = date(2023, 12, 31)  # KUNGALV.valid_until


def test_kungalv_last_day_is_in_force_and_the_next_is_not() -> None:
    assert KUNGALV.valid_until == LAST
    on_last = ready(KUNGALV, decided=LAST)
    assert sign_reasons(on_last, dataclasses.replace(SIGNATORY, today=LAST)) == []
    next_day = LAST + timedelta(days=1)
    unmet = GUARDS["guideline_in_force"](on_last, dataclasses.replace(SIGNATORY, today=next_day))
    assert [u.code for u in unmet] == ["guideline_expired"]
    decided_late = ready(KUNGALV, decided=next_day)
    unmet = GUARDS["guideline_in_force"](decided_late, dataclasses.replace(SIGNATORY, today=next_day))
    assert [u.code for u in unmet] == ["guideline_expired", "guideline_expired"]
    assert KUNGALV.in_force(LAST) and not KUNGALV.in_force(next_day)


DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("today", "in_force", "available"),
    [(LAST - DAY, [], []), (LAST, [], []), (LAST + DAY, ["guideline_expired"], ["no_guideline_in_force"])],
)
def test_the_guards_on_the_day_before_the_last_day_and_after(
    today: date, in_force: list[str], available: list[str]
) -> None:
    """``valid_until`` is the last day the guideline is in force (inclusive), for every guard that reads it."""
    ctx = dataclasses.replace(SIGNATORY, today=today)
    facts = ready(KUNGALV, decided=min(today, LAST))
    assert [u.code for u in GUARDS["guideline_in_force"](facts, ctx)] == in_force
    assert [u.code for u in GUARDS["guideline_available"](facts, ctx)] == available
    assert sign_reasons(facts, ctx) == in_force
    assert KUNGALV.in_force(today) is (today <= LAST)
    if available:  # the refusal names the guideline that ran out and its last day
        assert "KS2019/2069 (Kungälv) gällde till och med 2023-12-31" in GUARDS["guideline_available"](facts, ctx)[0].sv


def test_the_first_day_is_in_force_and_the_day_before_is_not() -> None:
    first = KUNGALV.valid_from
    assert KUNGALV.in_force(first) and not KUNGALV.in_force(first - DAY)
    early = dataclasses.replace(SIGNATORY, today=first - DAY)
    facts = ready(KUNGALV, decided=first - DAY)
    assert [u.code for u in GUARDS["guideline_in_force"](facts, early)] == ["guideline_not_yet_in_force"] * 2
    assert [u.code for u in GUARDS["guideline_available"](facts, early)] == ["no_guideline_in_force"]
    on_first = dataclasses.replace(SIGNATORY, today=first)
    assert GUARDS["guideline_in_force"](ready(KUNGALV, decided=first), on_first) == []


def _kungalv_alerts(iop: Iop) -> list[tuple[str, str | None]]:
    """Kungälv's expiry alerts (its own yearly follow-up, alerted too, is tests/test_guideline_review.py's)."""
    return sorted(
        (a["kind"], a["case_ref"])
        for a in iop.alerts()
        if a["guideline_ref"] == "KS2019/2069" and a["kind"] != "guideline_review_due"
    )


def _expiry_items(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in report["items"] if i["outcome"] != "review_due"]


def test_the_expiry_sweep_flags_the_day_after_the_last_day(db_url: str, settings: Settings) -> None:
    """The guideline sweep, with the clock on the day before, the last day and the day after."""
    from tests.helpers import add_orgs, to_assessment

    clock = FakeClock(datetime(2023, 12, 1, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        ref = to_assessment(iop, municipality="Kungälv")
        clock.set_date(LAST - DAY)
        assert _expiry_items(iop.sweep_guidelines()) == [
            {"guideline_ref": "KS2019/2069", "due_on": "2023-12-31", "outcome": "warned"}
        ]
        assert _kungalv_alerts(iop) == [("guideline_expiring", None)]
        clock.set_date(LAST)
        report = iop.sweep_guidelines()
        assert (report["due"], report["alerts"]) == (0, 0)  # in force all day: nothing to flag yet
        expiries = [r["due_on"] for r in iop.upcoming(LAST + DAY) if r["kind"] == "guideline_expired"]
        assert expiries == ["2024-01-01"]  # planned for the day after
        clock.set_date(LAST + DAY)
        report = iop.sweep_guidelines()
        assert (report["alerts"], report["items"][0]["outcome"]) == (2, "expired")
        assert _kungalv_alerts(iop) == [
            ("case_guideline_expired", ref),
            ("guideline_expired", None),
            ("guideline_expiring", None),
        ]
        assert iop.sweep_guidelines()["alerts"] == 0
        with iop.app.db.read() as s:
            flagged = s.execute(
                sa.text("SELECT expired_flagged_on FROM guidelines WHERE expired_flagged_on IS NOT NULL")
            )
            assert [str(r[0]) for r in flagged] == ["2024-01-01"]


def _signable(tmp_path: Path, settings: Settings, name: str) -> tuple[str, FakeClock]:
    from tests.helpers import add_orgs, prepare_signing, to_assessment

    clock = FakeClock(datetime(2023, 12, 1, 9, tzinfo=STOCKHOLM))
    url = f"sqlite:///{tmp_path / name}"
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        ref = to_assessment(iop, municipality="Kungälv")
        prepare_signing(iop, ref, start="2024-02-01", end="2026-01-31")
    return url, clock


@pytest.mark.parametrize(("day", "refused"), [(LAST - DAY, False), (LAST, False), (LAST + DAY, True)])
def test_signing_through_the_service_on_and_after_the_last_day(
    tmp_path: Path, settings: Settings, day: date, refused: bool
) -> None:
    url, _ = _signable(tmp_path, settings, "k.db")
    clock = FakeClock(datetime(day.year, day.month, day.day, 9, tzinfo=STOCKHOLM))
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as iop:
        ref = iop.cases()[0]["ref"]
        if refused:
            with pytest.raises(TransitionNotAllowed) as caught:
                iop.fire(ref, "sign", actor="eva")
            assert [r.code for r in caught.value.reasons] == ["guideline_expired"]
        else:
            iop.fire(ref, "sign", actor="eva")
            assert iop.case(ref)["state"] == "signed"


# --- 4. Gaps the mutation run found (docs/mutation.md) ------------------------------------------

WALK = [(None, "initiative"), ("initiative", "dialogue"), ("dialogue", "assessment"), ("assessment", "signed")]


def chain(ref: str = "IOP-2026-0001", first_seq: int = 1) -> list[LogRecord]:
    """A well-formed chain of four sealed records, as verify reads them."""
    out: list[LogRecord] = []
    for i, (src, dst) in enumerate(WALK):
        rec = dataclasses.replace(
            RECORD,
            case_ref=ref,
            case_seq=i + 1,
            seq=first_seq + i,
            from_state=src,
            to_state=dst,
            prev_hash=out[-1].hash if out else GENESIS,
            trigger=f"t{i}",
        )
        out.append(seal(rec))
    return out


def problems(records: list[LogRecord], state: str = "signed") -> list[tuple[Any, ...]]:
    report = verify_chains(records, {records[0].case_ref: state})
    return [(p["case_seq"], p["field"]) for p in report.problems]


def test_a_well_formed_chain_verifies() -> None:
    assert problems(chain()) == []


def test_a_rewritten_record_with_a_fresh_hash_is_caught_by_the_next_link() -> None:
    """The attacker edits record 2 and seals it again: its own hash is right, record 3's link is not."""
    records = chain()
    records[1] = seal(dataclasses.replace(records[1], reason="förfalskad"))
    assert problems(records) == [(3, "prev_hash")]


def test_a_record_that_does_not_start_where_the_last_ended_is_caught() -> None:
    """Every hash and link is right, but record 3 claims to leave a state the case was not in."""
    records = chain()[:2]
    bad = seal(dataclasses.replace(chain()[2], from_state="initiative", prev_hash=records[1].hash))
    assert problems([*records, bad], state="assessment") == [(3, "from_state")]


def test_only_the_first_bad_record_of_a_case_is_named() -> None:
    """Two records edited in place: verify names the first (what ``audit verify`` documents), once."""
    records = chain()
    records[1] = dataclasses.replace(records[1], reason="förfalskad")
    records[2] = dataclasses.replace(records[2], reason="förfalskad")
    assert problems(records) == [(2, "hash")]


def test_two_records_of_a_case_with_one_seq_are_out_of_order() -> None:
    """``seq`` is outside the hash (a bundle's records can be renumbered): equal seqs are refused too."""
    records = chain()
    records[2] = dataclasses.replace(records[2], seq=records[1].seq)
    assert problems(records) == [(3, "seq")]


def test_due_timers_page_through_every_timer_once_in_order(db_url: str, settings: Settings) -> None:
    """``due`` pages by (due_on, id): with a page of one row each open timer still comes exactly once."""
    seed_due(db_url, settings, signed=3, idle=2)
    clock = FakeClock(datetime(2026, 3, 20, 9, tzinfo=STOCKHOLM))  # activations and idle alerts are due
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop, iop.app.db.read() as s:
        whole = [(r["due_on"], r["id"]) for r in timer_repo.due(s, clock.today())]
        paged = [(r["due_on"], r["id"]) for r in itertools.islice(timer_repo.due(s, clock.today(), batch=1), 20)]
    assert len(whole) >= 5 and whole == sorted(whole)
    assert paged == whole


def test_a_stored_state_other_than_the_last_record_is_named() -> None:
    assert problems(chain(), state="active") == [(4, "to_state")]


def checkpoint(heads: tuple[tuple[str, int, str], ...], max_seq: int, prev: str = GENESIS, seq: int = 1) -> Checkpoint:
    cp = Checkpoint(
        at="2026-01-12T08:00:00.000000Z",
        actor="revisor",
        cases=len(heads),
        records=max_seq,
        max_seq=max_seq,
        heads=heads,
        prev_digest=prev,
        seq=seq,
    )
    return dataclasses.replace(cp, digest=cp.compute_digest())


def ledger_problems(records: list[LogRecord], checkpoints: list[Checkpoint]) -> list[tuple[Any, ...]]:
    states = {r.case_ref: r.to_state for r in records}
    report = verify_chains(records, states, checkpoints)
    return [(p.get("checkpoint"), p.get("case_ref"), p.get("case_seq"), p["field"]) for p in report.problems]


def test_a_checkpoint_that_does_not_link_to_the_one_before_is_named() -> None:
    """Each checkpoint's own digest is right, but the second skips the first (one deleted between)."""
    records = chain()
    first = checkpoint((("IOP-2026-0001", 2, records[1].hash),), 2)
    second = checkpoint((("IOP-2026-0001", 4, records[3].hash),), 4, prev=GENESIS, seq=2)
    assert ledger_problems(records, [first, second]) == [(2, None, None, "prev_digest")]
    linked = checkpoint((("IOP-2026-0001", 4, records[3].hash),), 4, prev=first.digest, seq=2)
    assert ledger_problems(records, [first, linked]) == []


def test_a_later_checkpoint_with_the_same_length_and_another_head_is_named() -> None:
    """A head rewritten between two checkpoints: same case_seq, another hash."""
    records = chain()
    first = checkpoint((("IOP-2026-0001", 4, records[3].hash),), 4)
    second = checkpoint((("IOP-2026-0001", 4, "f" * 64),), 4, prev=first.digest, seq=2)
    found = ledger_problems(records, [first, second])
    assert (2, "IOP-2026-0001", 4, "heads") in found


def test_a_record_with_the_checkpoints_max_seq_not_in_it_was_slipped_in() -> None:
    """The checkpoint covered seqs up to 4; case B's record has seq 4 but is in no head: behind its back."""
    a = chain()[:3]  # seqs 1..3
    b = chain("IOP-2026-0002", first_seq=4)[:1]  # seq 4
    cp = checkpoint((("IOP-2026-0001", 3, a[2].hash),), 4)
    assert ledger_problems([*a, *b], [cp]) == [(1, "IOP-2026-0002", 1, "seq")]
    cp_before = checkpoint((("IOP-2026-0001", 3, a[2].hash),), 3)
    assert ledger_problems([*a, *b], [cp_before]) == []  # seq 4 came after the checkpoint: fine


def test_masking_a_protected_record() -> None:
    """Protected keys with a value and every secret are masked, in the reason alone too; empty ones are not."""
    record = RECORD.as_dict()
    plain = {**record, "data": {"address": "", "contact_name": None, "note": "inget"}, "reason": "Ny"}
    assert mask_record(plain, ["Anna Skydd"]) is plain  # nothing to mask: the record as it was, no masked flag
    in_reason = {**record, "reason": "Ring Anna Skydd"}
    masked = mask_record(in_reason, ["Anna Skydd"])
    assert (masked["reason"], masked["data"], masked["masked"]) == ("Ring (skyddad)", record["data"], True)
    assert mask_value("Anna Skydd", ["", "Skydd"]) == ("Anna (skyddad)", True)  # an empty secret masks nothing


def test_an_export_line_is_a_known_answer() -> None:
    """The audit stream's line for a record (what the sink writes and ``audit export`` regenerates)."""
    line = jsonl_line({**RECORD.as_dict(), "hash": RECORD_HASH, "seq": 1})
    assert line == (
        '{"actor": "anna", "at": "2026-01-12T08:00:00+00:00", "auth": {"issuer": null, "method": "local", '
        '"subject": "anna", "token_id": null}, "case_ref": "IOP-2026-0001", "case_seq": 1, "data": {"a": 1, '
        '"b": "å"}, "event": "transition", "format": 2, "from_state": null, "guideline_ref": null, "hash": "'
        + RECORD_HASH
        + '", "os_user": "anna", "prev_hash": "'
        + GENESIS
        + '", "reason": "Ny", "roles": ["officer", "registrar"], "seq": 1, "source": "cli", '
        '"to_state": "initiative", "trigger": "open", "workflow_version": "vvvvvvvv"}'
    )


def test_case_numbers_start_at_one_each_year(db_url: str, settings: Settings) -> None:
    """The register number (IOP-YYYY-NNNN): 1, 2, … within a year; a new year starts again at 1."""
    clock = FakeClock(datetime(2026, 1, 12, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        with iop.app.db.write() as s:
            numbers = [case_repo.next_case_number(s, year) for year in (2026, 2026, 2027, 2026, 2027)]
    assert numbers == [1, 2, 1, 3, 2]


def test_the_agreements_last_day_is_still_running() -> None:
    facts = ready(KUNGALV)  # agreement 2020-04-01 .. 2022-03-31
    on_last = dataclasses.replace(SIGNATORY, today=date(2022, 3, 31))
    assert GUARDS["agreement_running"](facts, on_last) == []
    after = dataclasses.replace(SIGNATORY, today=date(2022, 4, 1))
    assert [u.code for u in GUARDS["agreement_running"](facts, after)] == ["agreement_over"]


def test_a_zero_contribution_and_a_blank_challenge_do_not_count() -> None:
    facts = ready(KUNGALV)
    city, org = facts.agreements[0].contributions
    zero = dataclasses.replace(facts.agreements[0], contributions=(dataclasses.replace(city, amount=Decimal(0)), org))
    unmet = GUARDS["both_contribute"](dataclasses.replace(facts, agreements=(zero,)), SIGNATORY)
    assert [u.code for u in unmet] == ["no_contribution_municipality"]
    blank = dataclasses.replace(facts.meetings[0], joint_challenge=" \n ")
    unmet = GUARDS["dialogue_recorded"](dataclasses.replace(facts, meetings=(blank,)), SIGNATORY)
    assert [u.code for u in unmet] == ["dialogue_missing"]


def test_a_timer_due_on_the_last_day_asked_for_is_upcoming(db_url: str, settings: Settings) -> None:
    seed_due(db_url, settings)  # one signed case: activation due 2026-02-01
    clock = FakeClock(datetime(2026, 1, 13, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop, iop.app.db.read() as s:
        assert [t["due_on"] for t in timer_repo.upcoming(s, date(2026, 1, 31))] == []
        assert [t["due_on"] for t in timer_repo.upcoming(s, date(2026, 2, 1))] == [date(2026, 2, 1)]


def test_a_first_sweep_on_the_last_day_warns_and_does_not_flag(db_url: str, settings: Settings) -> None:
    """The scheduler was down until the last day: it warns the owner; the expiry waits for the day after."""
    from tests.helpers import add_orgs, to_assessment

    clock = FakeClock(datetime(2023, 12, 1, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        to_assessment(iop, municipality="Kungälv")
        clock.set_date(LAST)
        assert _expiry_items(iop.sweep_guidelines()) == [
            {"guideline_ref": "KS2019/2069", "due_on": "2023-12-31", "outcome": "warned"}
        ]
        assert _kungalv_alerts(iop) == [("guideline_expiring", None)]
