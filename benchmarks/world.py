"""The data the transition and sweep benchmarks work on, made through the real API.

Cases are made the way the tests make them (``tests/helpers.py``): the three test organisations,
then each case's life as people and the scheduler live it, one command at a time, on a
FakeClock. :data:`LIFE` is that life as steps, each one or more commands: opening, the dialogue
and its meeting, the assessment with every fact signing needs (criteria, legal check, agreement,
both contributions, the decision), ``sign``, ``activate``, the yearly review and its record, the
next period's facts, ``renew``. The audit stream is on, written to a file beside the database as
the CLI and the daemon write it (the daemon writes it to stderr as well).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from iop_workflow import Iop
    from iop_workflow.settings import Settings

# iop_workflow is imported inside the functions: the sweep's raw child process must not carry it.

STOCKHOLM = ZoneInfo("Europe/Stockholm")
START = datetime(2026, 1, 12, 9, tzinfo=STOCKHOLM)  # every case of LIFE lives on this day (tests' clock)
ACTORS = {
    "anna": {"registrar", "officer"},
    "eva": {"signatory"},
    "lars": {"legal"},
    "kim": {"coordinator"},
    "system": {"system"},
}  # (tests/conftest.py's logins, each exactly its roles)


def settings() -> Settings:
    from iop_workflow.settings import Settings

    return replace(Settings(), actors={name: frozenset(roles) for name, roles in ACTORS.items()})


def audit_file(db: Path) -> Path:
    """Where the audit stream of the database ``db`` goes: beside it, as the CLI puts it."""
    return db.with_suffix(".audit.jsonl")


def connect(db: Path, at: datetime, *, to_stderr: bool = False) -> Iop:
    """The product on ``db`` as the CLI (or, ``to_stderr``, the daemon) opens it, on a FakeClock at ``at``."""
    from iop_workflow import FakeClock, Iop

    return Iop.connect(
        f"sqlite:///{db}", clock=FakeClock(at), settings=settings(), audit_log=audit_file(db), audit_to_stderr=to_stderr
    )


def base(db: Path) -> None:
    """A fresh database: the schema, the shipped guidelines, the three test organisations."""
    from tests.helpers import add_orgs

    iop = connect(db, START)
    try:
        iop.init()
        add_orgs(iop)
    finally:
        iop.close()


# A step of a case's life: one or more commands on case refs[-1] (opening appends the new ref).
Step = Callable[["Iop", list[str]], object]


def _open(iop: Iop, refs: list[str]) -> object:
    from tests.helpers import open_case

    refs.append(open_case(iop))
    return refs[-1]


def _facts(first_day: date, days: int) -> Step:
    def record(iop: Iop, refs: list[str]) -> None:
        from tests.helpers import prepare_signing

        prepare_signing(iop, refs[-1], start=first_day.isoformat(), end=(first_day + timedelta(days=days)).isoformat())

    return record


def _fire(trigger: str, actor: str) -> Step:
    return lambda iop, refs: iop.fire(refs[-1], trigger, actor=actor)


DAY = START.date()
LIFE: tuple[tuple[str, Step], ...] = (
    ("open_case", _open),
    ("fire start_dialogue", _fire("start_dialogue", "anna")),
    (
        "record_meeting",
        lambda iop, refs: iop.record_meeting(refs[-1], actor="anna", held_on=DAY, joint_challenge="Skydd och stöd"),
    ),
    ("fire submit_for_assessment", _fire("submit_for_assessment", "anna")),
    ("signing facts (criteria, legal check, agreement, 2 contributions, decision)", _facts(DAY, 729)),
    ("fire sign", _fire("sign", "eva")),
    ("fire activate", _fire("activate", "system")),
    ("fire start_review", _fire("start_review", "kim")),
    (
        "record_review",
        lambda iop, refs: iop.record_review(
            refs[-1], actor="kim", held_on=DAY, report_received=True, summary="Ett bra år"
        ),
    ),
    ("next period's facts", _facts(DAY + timedelta(days=730), 729)),
    ("fire renew", _fire("renew", "eva")),
)
