"""Dates are bounded at input; date arithmetic never raises (issue #13, item 9).

Every date a person, a batch line, a guideline file or an HTTP body gives must lie in
1900-01-01 .. 2200-12-31 (else exit 6 / 422 naming the bounds). Deadlines computed from
dates at the edge, and from rows written before the bound, never raise in a sweep.

The generated runs take ``IOP_FUZZ_EXAMPLES`` examples per surface (the full run:
``IOP_FUZZ_EXAMPLES=1000 python -m pytest tests/test_dates_bounded.py``); CI runs 300.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from iop_workflow import FakeClock, Iop
from iop_workflow.domain import calendar, timers
from iop_workflow.domain.calendar import EARLIEST, LATEST
from iop_workflow.domain.facts import CaseFacts
from iop_workflow.errors import DefinitionError, InvalidInput
from iop_workflow.resources import config_dir
from iop_workflow.service import validate
from iop_workflow.settings import Settings
from tests import fuzz_strategies as bad
from tests.fuzz_commands import TEMPLATES, VALID, fill_template
from tests.fuzz_support import Target, build_template, fuzz_settings, target
from tests.helpers import add_orgs, prepare_signing, to_assessment

BOUNDS = ("1900-01-01", "2200-12-31")


def _in_range(text: str, *, clicked: bool = False) -> bool | None:
    """True/False for a date inside/outside the range, None for text that is no date (as the input
    reads it: ``date.fromisoformat``, or click's ``strptime`` with ``%Y-%m-%d``, which takes ``2026-1-1``)."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date() if clicked else date.fromisoformat(text.strip())
    except ValueError:
        return None
    return EARLIEST <= day <= LATEST


def any_date_text() -> st.SearchStrategy[str]:
    """Dates of years 1..9999 (edges weighted), and malformed text."""
    edges = st.sampled_from(
        [
            "1899-12-31",
            "1900-01-01",
            "2200-12-31",
            "2201-01-01",
            "0001-01-01",
            "9999-12-31",
            "1000-06-15",
            "2100-02-28",
            "2199-12-31",
        ]
    )
    days = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
    return st.one_of(edges, days, days, bad.bad_date(), st.text(max_size=12))


# -- the one gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1900-01-01", "2026-06-15", "2200-12-31", " 2200-12-31 "])
def test_the_gate_accepts_the_range(text: str) -> None:
    assert EARLIEST <= validate.day("held_on", text) <= LATEST


@pytest.mark.parametrize("value", ["1899-12-31", "2201-01-01", "0001-01-01", "9999-12-31", date(1, 1, 1), date.max])
def test_the_gate_refuses_outside_naming_the_bounds(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate.day("held_on", value)
    assert all(b in caught.value.message("en") for b in BOUNDS), caught.value.message("en")
    assert all(b in caught.value.message("sv") for b in BOUNDS)
    assert caught.value.exit_status == 6


# -- arithmetic never raises ------------------------------------------------------------------------


def test_calendar_arithmetic_clamps_at_the_ends_of_the_calendar() -> None:
    assert calendar.shift(date.max, 1) == date.max and calendar.shift(date.min, -1) == date.min
    assert calendar.add_months(date(9999, 12, 31), 12) == date.max
    assert calendar.add_months(date(1, 1, 31), -1) == date.min
    assert calendar.next_working_day(date.max) == date.max
    assert calendar.months_between(date(9999, 1, 1), date.max) == 12


def test_holidays_cover_the_whole_input_range() -> None:
    """The library stops at 2100 by default: Christmas 2150 (Thursday to Saturday) would have been working days."""
    for year in (1900, 2150, 2200, 2201):
        assert not any(calendar.is_working_day(date(year, 12, day)) for day in (24, 25, 26)), year
    assert calendar.is_working_day(date(2150, 12, 23))
    assert calendar.next_working_day(date(2201, 1, 1)) == date(2201, 1, 2)  # New Year's Day, a Thursday


def _facts(start: date, end: date, entered: date) -> CaseFacts:
    agreement = SimpleNamespace(start_on=start, end_on=end, notice_months=3)
    stub = SimpleNamespace(
        agreement=lambda: agreement,
        guideline=None,
        review_started_on=None,
        review_rounds_in_period=0,
        state_entered_on=entered,
        notice_given_on=None,
        notice_ends_on=None,
    )
    return cast(CaseFacts, stub)


@pytest.mark.parametrize("end", [LATEST, date(9999, 12, 31)])
def test_every_anchor_is_computed_at_the_edge_without_raising(end: date) -> None:
    """A row written before the bound (end 9999-12-31) plans a clamped deadline, never an OverflowError."""
    facts = _facts(date(2026, 2, 1), end, end)
    lead = timers.LeadTimes(idle_days=36_500, review_grace_days=36_500)
    for name, anchor in timers.ANCHORS.items():
        due = anchor(facts, lead)
        assert due is None or isinstance(due, date), name
    assert timers.agreement_expiry(facts, lead) == (date(2201, 1, 1) if end == LATEST else date.max)


def test_a_timer_planned_from_a_2200_12_31_end_date_fires_without_raising(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    prepare_signing(iop, ref, start="2026-02-01", end=LATEST.isoformat())
    iop.fire(ref, "sign", actor="eva")
    clock.set_date(date(2026, 2, 2))
    assert iop.tick()["fired"] == 1  # activate
    due = {t["kind"]: t["due_on"] for t in iop.case(ref)["timers"]}
    assert due["agreement_end"] == "2201-01-01"  # the day after the last (expiry is not moved to a working day)
    assert due["renewal_review"] == "2200-07-02"  # end - 3 months notice - 90 days, a working day
    for day in (date(2200, 12, 31), date(2201, 1, 2), date(2201, 3, 1)):
        clock.set_date(day)
        report = iop.tick()
        assert report["failed"] == 0, report


def _guideline_file(tmp: Path, **dates: str) -> Path:
    text = (config_dir() / "guidelines" / "stenungsund.toml").read_text(encoding="utf-8")
    for key, value in dates.items():
        head, _, rest = text.partition("\nowner =")
        text = f"{head}\n{key} = {value}\nowner ={rest}"
        if f"[guideline.provenance.{key}]" not in text:
            text += f'\n[guideline.provenance.{key}]\nsource = "test"\nverified = false\n'
    path = tmp / "stenungsund.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_guideline_valid_until_2200_12_31_is_swept_without_raising(
    iop: Iop, clock: FakeClock, tmp_path: Path
) -> None:
    loaded = iop.load_guideline_file(_guideline_file(tmp_path, valid_until="2200-12-31"), actor="kim")
    assert loaded == {"Stenungsund-IOP": "updated"}
    for day in (date(2200, 7, 1), date(2200, 12, 31), date(2201, 1, 1)):
        clock.set_date(day)
        assert iop.sweep_guidelines()["failed"] == 0
    assert {a["kind"] for a in iop.alerts() if a["guideline_ref"] == "Stenungsund-IOP"} == {
        "guideline_expiring",
        "guideline_expired",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("valid_until", "2201-01-01"),
        ("decided_on", "1899-12-31"),
        ("valid_from", "0001-01-01"),
        ("valid_until", "9999-12-31"),
    ],
)
def test_a_guideline_date_outside_the_range_is_refused_naming_file_and_key(
    iop: Iop, tmp_path: Path, key: str, value: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        iop.load_guideline_file(_guideline_file(tmp_path, **{key: value}), actor="kim")
    assert caught.value.key == f"guideline.{key}" and "1900-01-01 to 2200-12-31" in caught.value.problem
    assert caught.value.exit_status == 6


# -- the CLI: every date input, generated -----------------------------------------------------------

# (template, the slot holding the date, whether click parses it: malformed text is then a usage error, 2)
SURFACES: dict[str, tuple[str, str, bool]] = {
    "meeting --held-on": (TEMPLATES["record meeting"], "day", False),
    "agreement --start-on": (TEMPLATES["record agreement"], "start", False),
    "agreement --end-on": (TEMPLATES["record agreement"], "end", False),
    "decision --decided-on": (TEMPLATES["record decision"], "day", False),
    "correct --value held_on": (TEMPLATES["case correct"], "value", False),
    "audit export --since": ("audit export --since {day}", "day", False),
    "audit verify --authenticated-since": ("audit verify --authenticated-since {day}", "day", False),
    "scheduler plan --until": ("scheduler plan --until {day}", "day", True),
    "scheduler tick --at": ("scheduler tick --dry-run --at {day}", "day", True),
}


# An empty --since is no lower bound (the option's documented default), not a date.
EMPTY_IS_NO_BOUND = frozenset({"audit export --since"})


@pytest.fixture(scope="module")
def dates_target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    template = build_template(tmp_path_factory.mktemp("dates-template"))
    return target(template, tmp_path_factory.mktemp("dates"))


def check_cli(fuzz: Target, surface: str, text: str, as_json: bool) -> None:
    words, slot, clicked = SURFACES[surface]
    args = list(fill_template(tuple(words.split()), {**VALID, slot: text}))
    result = fuzz.cli(*(["--json"] if as_json else []), "--lang", "en", *args)
    fuzz.guard.unchanged()  # restores the copy for the next example
    log = fuzz.error_log
    if log.exists():
        logged = log.read_text(encoding="utf-8")
        log.unlink()
        raise AssertionError(f"an internal error for {surface}={text!r}:\n{logged[-2000:]}")
    assert result.status != 1 and "Traceback" not in result.text, (surface, text, result.text)
    verdict = _in_range(text, clicked=clicked) if bad.is_text(text) else None
    if text == "" and surface in EMPTY_IS_NO_BOUND:
        verdict = True
    said = result.text
    if verdict is False:
        assert result.status == 6, (surface, text, result.text)
        assert all(b in said for b in BOUNDS), said
    elif verdict is None:
        assert result.status in ({2, 6} if clicked or text.startswith("-") else {6}), (surface, text, said)
    else:
        assert result.status in {0, 2, 3, 4, 5, 6}, (surface, text, said)
        assert "1900-01-01 to 2200-12-31" not in said, said


@pytest.mark.parametrize("surface", sorted(SURFACES))
@pytest.mark.parametrize("text", ["1899-12-31", "2201-01-01", "0001-01-01", "9999-12-31", "2026-02-30"])
def test_each_cli_date_input_refuses_out_of_range_and_malformed(dates_target: Target, surface: str, text: str) -> None:
    check_cli(dates_target, surface, text, as_json=False)


@pytest.mark.slow
@fuzz_settings(ci_default=300)
@given(surface=st.sampled_from(sorted(SURFACES)), text=any_date_text(), as_json=st.booleans())
def test_generated_dates_at_the_cli_are_exit_6_or_accepted_never_a_bug(
    dates_target: Target, surface: str, text: str, as_json: bool
) -> None:
    check_cli(dates_target, surface, text, as_json)


# -- the HTTP API: every date field, generated ------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    tmp = tmp_path_factory.mktemp("dates-api")
    settings = Settings(actors={"anna": frozenset({"registrar", "officer"})})
    with Iop.connect(f"sqlite:///{tmp / 'iop.db'}", settings=settings, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        ref = to_assessment(iop)
        token = iop.create_token(name="dates", roles=["registrar", "officer", "admin"])["token"]
        from iop_workflow.server.app import create_app

        with TestClient(create_app(iop), headers={"Authorization": f"Bearer {token}", "If-Match": "*"}) as client:
            yield client, ref


def _api_call(client: TestClient, ref: str, field: str, text: str) -> Any:
    if field == "held_on":
        return client.post(f"/v1/cases/{ref}/records/meeting", json={"held_on": text, "joint_challenge": "Läxor"})
    if field == "decided_on":
        return client.post(
            f"/v1/cases/{ref}/records/decision",
            json={"body": "Socialnämnden", "decided_on": text, "minutes_ref": "SN § 1"},
        )
    if field == "start_on":
        return client.post(
            f"/v1/cases/{ref}/records/agreement", json={"start_on": text, "end_on": "2030-12-31", "notice_months": 3}
        )
    return client.post("/v1/admin/tokens", json={"name": "t", "roles": ["officer"], "expires": text})


API_FIELDS = ("held_on", "decided_on", "start_on", "expires")


def check_api(client: TestClient, ref: str, field: str, text: str) -> None:
    response = _api_call(client, ref, field, text)
    assert response.status_code < 500, (field, text, response.text)
    verdict = _in_range(text) if bad.is_text(text) else None
    if verdict is not True:
        assert response.status_code == 422, (field, text, response.text)
    if verdict is False and response.headers.get("content-type", "").startswith("application/problem+json"):
        body = response.json()
        detail = str(body.get("detail", "")) + str(body.get("errors", ""))
        assert body["status"] == 422 and (all(b in detail for b in BOUNDS) or "date" in detail.lower()), body


@pytest.mark.parametrize("field", API_FIELDS)
@pytest.mark.parametrize("text", ["1899-12-31", "2201-01-01", "0001-01-01", "9999-12-31", "2026-02-30"])
def test_each_api_date_field_refuses_out_of_range(api: tuple[TestClient, str], field: str, text: str) -> None:
    client, ref = api
    response = _api_call(client, ref, field, text)
    assert response.status_code == 422, response.text
    if text in ("1899-12-31", "2201-01-01"):  # parsed by pydantic, refused by the one gate
        assert all(b in response.json()["detail"] for b in BOUNDS), response.json()


@fuzz_settings(ci_default=300)
@given(field=st.sampled_from(API_FIELDS), text=any_date_text())
def test_generated_dates_at_the_api_are_422_or_accepted_never_a_5xx(
    api: tuple[TestClient, str], field: str, text: str
) -> None:
    client, ref = api
    with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate cannot travel in a JSON body at all
        check_api(client, ref, field, text)
