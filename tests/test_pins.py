"""Pins: tests that fail when the thing they guard is broken (docs/testing.md)."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iop_workflow import ConcurrentUpdate, FakeClock, Iop
from iop_workflow.audit.chain import GENESIS, LogRecord, canonical_json
from iop_workflow.audit.checkpoint import Checkpoint
from iop_workflow.domain.guards import GUARDS
from iop_workflow.errors import TransitionNotAllowed
from iop_workflow.settings import Settings
from iop_workflow.store import cases as case_repo
from iop_workflow.store import timers as timer_repo
from tests.conftest import STOCKHOLM
from tests.helpers import seed_due
from tests.test_guards import KUNGALV, SIGNATORY, ready, sign_reasons

# --- 1. Known-answer hashes -------------------------------------------------------------------

RECORD = LogRecord(
    case_ref="IOP-2026-0001", case_seq=1, at="2026-01-12T08:00:00+00:00", actor="anna", os_user="anna",
    roles=("officer", "registrar"), source="cli", trigger="open", from_state=None, to_state="initiative",
    reason="Ny", data={"b": "å", "a": 1}, guideline_ref=None, workflow_version="vvvvvvvv", prev_hash=GENESIS,
    auth={"method": "local", "issuer": None, "subject": "anna", "token_id": None}, format=2,
)  # fmt: skip
RECORD_BYTES = (
    '{"actor":"anna","at":"2026-01-12T08:00:00+00:00","auth":{"issuer":null,"method":"local","subject":"anna",'
    '"token_id":null},"case_ref":"IOP-2026-0001","case_seq":1,"data":{"a":1,"b":"å"},"format":2,'
    '"from_state":null,"guideline_ref":null,"os_user":"anna","prev_hash":"' + "0" * 64 + '","reason":"Ny",'
    '"roles":["officer","registrar"],"source":"cli","to_state":"initiative","trigger":"open",'
    '"workflow_version":"vvvvvvvv"}'
).encode()
RECORD_HASH = "f284f2a4e31aaa6171917894daaaa6ccf752075eda52750e405b6223ef77e3c0"
CHECKPOINT = Checkpoint(
    at="2026-01-12T08:00:00+00:00", actor="revisor", cases=1, records=1, max_seq=1,
    heads=(("IOP-2026-0001", 1, RECORD_HASH),),
)  # fmt: skip
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

        def step(barrier: threading.Barrier) -> int:
            with db.read() as s:
                row = case_repo.case_row(s, refs[0])
            barrier.wait()  # both have read the same version before either writes
            with db.write() as s:
                return case_repo.update_case(s, row, {"title": f"by {threading.get_ident()}"})

        outcomes = race(2, step)
        with db.read() as s:
            final = case_repo.case_row(s, refs[0])
    wins = [o for o in outcomes if isinstance(o, int)]
    assert len(wins) == 1, outcomes
    assert sum(isinstance(o, ConcurrentUpdate) for o in outcomes) == 1, outcomes
    assert final["version"] == wins[0]


def test_open_timer_is_marked_once(db_url: str, settings: Settings) -> None:
    """Two sweepers saw the same open timer; exactly one may mark it fired."""
    seed_due(db_url, settings)
    clock = FakeClock(datetime(2026, 3, 1, 9, tzinfo=STOCKHOLM))
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        db = iop.app.db
        with db.read() as s:
            timer_id = int(next(timer_repo.due(s, clock.today()))["id"])

        def step(barrier: threading.Barrier) -> bool:
            with db.read() as s:
                assert any(r["id"] == timer_id for r in timer_repo.due(s, clock.today()))
            barrier.wait()
            with db.write() as s:
                return timer_repo.mark(s, timer_id, clock.now(), outcome="fire:test")

        outcomes = race(2, step)
    assert sorted(outcomes) == [False, True], outcomes


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


@pytest.mark.parametrize(("day", "refused"), [(LAST, False), (LAST + timedelta(days=1), True)])
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
