"""A database with a case ready for every trigger, for the role matrix (tests/test_roles.py).

Cases are built through the API on a FakeClock: the expiring ones in 2026, every other
on the matrix's day ``ON``, each in its trigger's source state with every rule but the
role met. ``counts`` says how many cases each trigger gets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from iop_workflow import FakeClock, Iop
from iop_workflow.settings import Settings
from tests.conftest import STOCKHOLM
from tests.helpers import add_orgs, open_case, prepare_signing, to_assessment
from tests.pg import fresh_schema, require_postgres, schema_url

ROLES = ("registrar", "officer", "legal", "signatory", "coordinator", "auditor", "admin", "system")
ACTOR = {
    "registrar": "rut",
    "officer": "olle",
    "legal": "lars",
    "signatory": "eva",
    "coordinator": "kim",
    "auditor": "revisor",
    "admin": "adam",
    "system": "system",
}
START = date(2026, 1, 12)
ON = date(2027, 3, 1)  # the matrix's day: the expiring cases' agreements ended on 2027-01-31
SECRET = "Hemlig adress 1"  # the protected organisation's address (tests/helpers.py)
# The PostgreSQL half is slow, as everywhere (tests/conftest.py): the fast loop runs the SQLite half.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow])]


def role_settings(**extra: frozenset[str]) -> Settings:
    """One single-role actor per role (anna, not listed, gets the default roles registrar and officer)."""
    # Listed one by one (not as default roles, which become grants to every login): each actor holds
    # exactly its one role.
    return dataclasses.replace(
        Settings(),
        actors={"anna": frozenset({"registrar", "officer"}), **{ACTOR[r]: frozenset({r}) for r in ROLES}, **extra},
    )


def at_nine(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=STOCKHOLM)


def dump(iop: Iop) -> dict[str, list[str]]:
    """Every row of every table, as text, in a stable order."""
    with iop.app.db.engine.connect() as conn:
        names = sorted(sa.inspect(conn).get_table_names())
        return {
            name: sorted(repr(tuple(row)) for row in conn.execute(sa.text(f"SELECT * FROM {name}"))) for name in names
        }


def files(path: Path) -> dict[str, str]:
    """The audit stream and the events file beside it (empty when not written yet)."""
    return {
        p.name: p.read_text(encoding="utf-8") if p.exists() else ""
        for p in (path, path.with_name(path.stem + ".events.jsonl"))
    }


def signed_case(iop: Iop, start: date, end: date) -> str:
    ref = to_assessment(iop)
    prepare_signing(iop, ref, start=start.isoformat(), end=end.isoformat())
    iop.fire(ref, "sign", actor="eva")
    return ref


def active_case(iop: Iop) -> str:
    ref = signed_case(iop, ON, ON + timedelta(days=729))
    iop.fire(ref, "activate", actor="system")
    return ref


def reviewed_case(iop: Iop) -> str:
    ref = active_case(iop)
    iop.fire(ref, "start_review", actor="kim")
    iop.record_review(ref, actor="kim", held_on=ON, report_received=True, summary="Ett bra år")
    return ref


def renewable_case(iop: Iop) -> str:
    ref = reviewed_case(iop)
    prepare_signing(iop, ref, start=(ON + timedelta(days=730)).isoformat(), end=(ON + timedelta(days=1459)).isoformat())
    return ref


def dialogue_case(iop: Iop) -> str:
    ref = open_case(iop)
    iop.fire(ref, "start_dialogue", actor="anna")
    iop.record_meeting(ref, actor="anna", held_on=ON, joint_challenge="Skydd och stöd")
    return ref


def assessment_case(iop: Iop) -> str:
    return to_assessment(iop)


def ready_to_sign(iop: Iop) -> str:
    ref = to_assessment(iop)
    prepare_signing(iop, ref, start=(ON + timedelta(days=31)).isoformat(), end=(ON + timedelta(days=760)).isoformat())
    return ref


def decided_to_end(make: Callable[[Iop], str]) -> Callable[[Iop], str]:
    """A case made by ``make`` with a recorded decision to end its agreement (end early, rescind)."""

    def build(iop: Iop) -> str:
        ref = make(iop)
        iop.record_decision(
            ref, actor="eva", body="Socialnämnden", decided_on=ON, minutes_ref="SN § 9/2027", subject="ending"
        )
        return ref

    return build


# How to build, on ON, a case the trigger may fire on (expire's and end_by_notice's are built
# before, see build()).
BUILD: dict[str, Callable[[Iop], str]] = {
    "start_dialogue": open_case,
    "submit_for_assessment": dialogue_case,
    "return_to_dialogue": assessment_case,
    "sign": ready_to_sign,
    "decline": open_case,
    "withdraw": open_case,
    "activate": lambda iop: signed_case(iop, ON, ON + timedelta(days=729)),
    "start_review": active_case,
    "continue": reviewed_case,
    "renew": renewable_case,
    "end": decided_to_end(active_case),
    "terminate": active_case,
    "rescind": decided_to_end(lambda iop: signed_case(iop, ON + timedelta(days=31), ON + timedelta(days=760))),
}


@dataclass
class World:
    iop: Iop
    audit: Path
    cases: dict[str, list[str]] = field(default_factory=dict)
    review_case: str = ""  # a case in review: it takes every kind of recorded fact
    # Another: it takes the assessments, so whoever assesses never records the legal check of the
    # same case (four eyes) and the role stays the only reason for a refusal.
    assess_case: str = ""


def build(iop: Iop, clock: FakeClock, counts: Mapping[str, int]) -> dict[str, list[str]]:
    add_orgs(iop)
    # A secret typed into the log: only an auditor's export shows it (the register shows the address).
    iop.fire(open_case(iop), "decline", actor="anna", reason=f"Besök på {SECRET}")
    cases: dict[str, list[str]] = {"open": []}
    # Signed in January 2026 for one year, active since February.
    cases["expire"] = [signed_case(iop, date(2026, 2, 1), date(2027, 1, 31)) for _ in range(counts["expire"])]
    # Signed for two years, active since February 2026, given notice in August: ended by 2026-11-03.
    notice = [signed_case(iop, date(2026, 2, 1), date(2028, 1, 31)) for _ in range(counts["end_by_notice"])]
    cases["end_by_notice"] = notice
    clock.set_date(date(2026, 2, 1))
    for ref in cases["expire"] + notice:
        iop.fire(ref, "activate", actor="system")
    clock.set_date(date(2026, 8, 3))
    for ref in notice:
        iop.fire(ref, "terminate", actor="eva", reason="Föreningen upphör med verksamheten")
    clock.set_date(ON)
    for trigger, make in BUILD.items():
        cases[trigger] = [make(iop) for _ in range(counts[trigger])]
    return cases


class Worlds:
    """One built database per back-end, made the first time a test asks for it."""

    def __init__(self, tmp: Path, stack: ExitStack, counts: Mapping[str, int]) -> None:
        self.tmp = tmp
        self.stack = stack
        self.counts = counts
        self.built: dict[str, World] = {}

    def get(self, kind: str) -> World:
        if kind not in self.built:
            if kind == "sqlite":
                url = f"sqlite:///{self.tmp / 'roles.db'}"
            else:
                require_postgres()
                schema = self.stack.enter_context(fresh_schema())
                url = schema_url(schema)
            clock = FakeClock(at_nine(START))
            audit = self.tmp / f"{kind}.audit.jsonl"
            iop = self.stack.enter_context(Iop.connect(url, clock=clock, settings=role_settings(), audit_log=audit))
            iop.init()
            iop.bootstrap()  # the settings made adam admin, so init bootstrapped nobody: the OS login acts as each
            world = World(iop=iop, audit=audit, cases=build(iop, clock, self.counts))
            world.review_case = reviewed_case(iop)
            world.assess_case = reviewed_case(iop)
            self.built[kind] = world
        return self.built[kind]
