"""The typed Python API (issue #14 item 6), used the way README.md and docs/api.md show it.

mypy strict checks this module (pyproject's ``[tool.mypy] files``): every ``assert_type`` below is a
static claim about what a key of a returned value is, so a return type that loses its TypedDict
(or a key typed wrongly) fails ``mypy``. At run time, ``shape`` compares each returned value with its
TypedDict, recursively: exactly the documented keys, each value of its declared kind. The rest are
the bad-argument refusals: ``UsageError`` (exit 2) or ``InvalidInput`` (exit 6), never ``TypeError``,
nothing written.
"""

from __future__ import annotations

import inspect
import types
import typing
from datetime import date
from pathlib import Path
from typing import Any, assert_type, is_typeddict

import pytest

import iop_workflow as shapes  # the typed shapes, exported beside Iop
from iop_workflow import Case, CaseRow, FakeClock, Iop, Option, Record
from iop_workflow.domain.guards import EVALUATED_CRITERIA
from iop_workflow.errors import EXIT_INVALID, EXIT_USAGE, InvalidInput, IopError, UsageError
from iop_workflow.settings import Settings
from iop_workflow.types import GuidelineRef

ORG = "802479-1322"


def shape(value: object, expected: object, where: str = "value") -> None:
    """``value`` has exactly the shape ``expected`` (a TypedDict, a list of one, a union, a plain type) declares."""
    origin = typing.get_origin(expected)
    if expected is Any or expected is object:
        return
    if origin in (typing.Union, types.UnionType):
        _one_of(value, typing.get_args(expected), where)
    elif origin in (list, dict):
        assert isinstance(value, origin), f"{where}: {value!r} is not a {origin.__name__}"
        item = typing.get_args(expected)[-1]
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, each in items:
            shape(each, item, f"{where}[{key!r}]")
    elif is_typeddict(expected):
        _typeddict(value, expected, where)
    elif expected is type(None):
        assert value is None, f"{where}: {value!r} is not None"
    else:
        assert isinstance(expected, type), f"{where}: cannot check {expected!r}"
        assert isinstance(value, expected), f"{where}: {value!r} is not a {expected.__name__}"
        assert expected is bool or not isinstance(value, bool), f"{where}: {value!r} is a bool"


def _one_of(value: object, options: tuple[object, ...], where: str) -> None:
    problems = []
    for option in options:
        try:
            shape(value, option, where)
        except AssertionError as exc:
            problems.append(str(exc))
        else:
            return
    raise AssertionError(f"{where}: {problems}")


def _typeddict(value: object, expected: Any, where: str) -> None:
    assert isinstance(value, dict), f"{where}: {value!r} is not an object"
    hints = typing.get_type_hints(expected)
    keys, required = set(hints), set(expected.__required_keys__)
    assert set(value) <= keys, f"{where}: keys not in {expected.__name__}: {sorted(set(value) - keys)}"
    assert required <= set(value), f"{where}: {expected.__name__} keys missing: {sorted(required - set(value))}"
    for key, each in value.items():
        shape(each, hints[key], f"{where}.{key}")


def _case_at_assessment(iop: Iop) -> str:
    iop.add_organisation(
        name="Kvinnojouren i Stenungsund", org_number=ORG, legal_form="ideell_forening", protected=True
    )
    ref = iop.open_case(
        org_number=ORG,
        municipality="Stenungsund",
        title="Skyddat boende",
        challenge="Våldsutsatta kvinnor behöver skydd och stöd",
        actor="anna",
    )
    iop.fire(ref, "start_dialogue", actor="anna")
    iop.record_meeting(ref, actor="anna", held_on=iop.app.clock.today(), joint_challenge="Skydd och stöd")
    iop.fire(ref, "submit_for_assessment", actor="anna")
    return ref


def test_the_documented_walk_is_typed_and_every_value_has_its_documented_shape(iop: Iop) -> None:
    ref = _case_at_assessment(iop)
    assert_type(ref, str)

    case = iop.case(ref)
    assert_type(case, Case)
    assert_type(case["state"], str)
    assert_type(case["version"], int)
    assert_type(case["guideline"], GuidelineRef | None)
    assert case["state"] == "assessment"
    shape(case, Case)
    bound = case["guideline"]
    assert bound is not None
    guideline_ref = bound["ref"]

    if iop.guideline(guideline_ref).unverified():
        confirmed = iop.confirm_guideline(
            guideline_ref,
            actor="kim",
            decided_on="2019-05-20",
            decided_by="Kommunstyrelsen",
            minutes_ref="KS § 88/2019 (test)",
        )
        shape(confirmed, shapes.GuidelineConfirmed)
    for criterion in iop.guideline(guideline_ref).gating():
        if criterion.code not in EVALUATED_CRITERIA:  # the rules evaluate those from recorded facts
            shape(iop.assess(ref, criterion.code, "met", note="Bedömt i dialogen", actor="anna"), Record)
    legal = iop.record_legal_check(
        ref,
        actor="lars",
        competence=True,
        procurement_not_required=True,
        no_competition_distortion=True,
        state_aid_basis="non_economic",
        rationale="Icke-ekonomisk verksamhet av allmänt intresse",
    )
    agreement = iop.record_agreement(ref, actor="anna", start_on="2026-02-01", end_on=date(2028, 1, 31))
    assert_type(agreement, Record)
    assert_type(agreement["case_seq"], int)
    assert_type(agreement["data"], dict[str, Any])
    assert agreement["trigger"] == "record:agreement"
    assert agreement["data"]["agreement"]["start_on"] == "2026-02-01"
    money = iop.record_contribution(ref, actor="anna", party="municipality", kind="money", amount="340000", unit="SEK")
    iop.record_contribution(ref, actor="anna", party="organisation", kind="volunteer_hours", amount=2000, unit="h")
    bodies = iop.app.settings.bodies_of("Stenungsund")
    body = "Socialnämnden" if bodies is not None and "Socialnämnden" in bodies.bodies else "Kommunstyrelsen"
    decision = iop.record_decision(
        ref, actor="eva", body=body, decided_on=iop.app.clock.today(), minutes_ref="SN § 12/2026"
    )
    for logged in (legal, agreement, money, decision):
        shape(logged, Record)

    options = iop.options(ref, actor="eva", lang="en")
    assert_type(options, list[Option])
    assert_type(options[0]["allowed"], bool)
    shape(options, list[Option])
    sign = next(o for o in options if o["trigger"] == "sign")
    assert sign["allowed"], [r["message"] for r in sign["reasons"]]

    fired = iop.fire(ref, "sign", actor="eva", if_version=iop.case(ref)["version"])
    assert_type(fired, Record)
    assert_type(fired["to_state"], str)
    assert fired["to_state"] == "signed"
    shape(fired, Record)

    shown = iop.show_case(ref, actor="anna")
    shape(shown, Case)
    assert_type(shown["organisation"]["protected"], bool)
    assert shown["organisation"]["protected"] is True
    assert [f["kind"] for f in shown["facts"]].count("contribution") == 2

    history = iop.history(ref)
    assert_type(history, list[Record])
    shape(history, list[Record])
    assert history[-1]["hash"] == fired["hash"]

    rows = iop.cases(state="signed")
    assert_type(rows, list[CaseRow])
    shape(rows, list[CaseRow])
    assert [r["ref"] for r in rows] == [ref]


def test_the_other_reads_and_writes_have_their_documented_shapes(iop: Iop, clock: FakeClock) -> None:
    """Every further method returning a documented JSON value, compared with its TypedDict."""
    ref = _case_at_assessment(iop)
    shape(iop.organisations(), list[shapes.Organisation])
    shape(iop.organisation(ORG, actor="anna"), shapes.Organisation)
    shape(iop.record_registration(ORG, registered_on="2024-01-01"), shapes.Organisation)
    shape(iop.guideline_dicts(), list[shapes.GuidelineRow])
    shape(iop.guideline_dicts(criteria=True), list[shapes.GuidelineRow])
    shape(iop.grant("bo", "officer"), shapes.GrantChange)
    shape(iop.revoke("bo", "officer"), shapes.GrantChange)
    shape(iop.grants(), list[shapes.Grant])
    shape(iop.bootstrap(), shapes.Bootstrap)
    token = iop.create_token(name="diarium", roles=["officer"], expires="2027-01-01")
    shape(token, shapes.TokenCreated)
    shape(iop.tokens(), list[shapes.Token])
    shape(iop.revoke_token(token["id"]), shapes.TokenRevoked)
    shape(iop.assign(ref, "anna", actor="anna"), shapes.Assignment)
    clock.set_date(date(2027, 6, 1))
    shape(iop.tick(), shapes.Tick)
    shape(iop.sweep_timers(), shapes.Sweep)
    shape(iop.sweep_guidelines(), shapes.Sweep)
    shape(iop.upcoming(date(2029, 1, 1)), list[shapes.Deadline])
    alerts = iop.alerts(include_acknowledged=True)
    shape(alerts, list[shapes.Alert])
    assert alerts, "the idle case and the guidelines raise alerts by mid-2027"
    shape(iop.acknowledge_alert(alerts[0]["id"], actor="kim"), shapes.Alert)
    shape(iop.register(), list[shapes.RegisterRow])
    report = iop.annual_report(year=2026)
    shape(report, shapes.AnnualReport)
    assert_type(report["year"], int)
    shape(iop.access_events(), list[shapes.AccessEvent])
    shape(iop.resync_stream(), shapes.Resync)


def test_init_and_backup_have_their_documented_shapes(tmp_path: Path, clock: FakeClock, settings: Settings) -> None:
    with Iop.connect(f"sqlite:///{tmp_path / 'fresh.db'}", clock=clock, settings=settings, audit_log=False) as iop:
        done = iop.init()
        shape(done, shapes.Init)
        assert_type(done["bootstrap"]["bootstrapped"], bool)
        shape(iop.backup(tmp_path / "copy.db"), shapes.Backup)
        shape(iop.restore(tmp_path / "copy.db", force=True), shapes.Backup)


# -- bad arguments: UsageError or InvalidInput, never TypeError, nothing written ----------------------


def _refused(iop: Iop, ref: str, call: typing.Callable[[], object], error: type[IopError]) -> IopError:
    before = len(iop.history(ref))
    with pytest.raises(error) as caught:
        call()
    assert len(iop.history(ref)) == before, "a refused call wrote nothing"
    for lang in ("sv", "en"):
        text = caught.value.message(lang)
        assert "None" not in text and "TypeError" not in text and "<class" not in text, text
    return caught.value


def test_an_unknown_keyword_is_a_usage_error_naming_the_nearest_known_one(iop: Iop) -> None:
    ref = _case_at_assessment(iop)
    bad: Any = iop  # the calls below are wrong on purpose: mypy would refuse them
    error = _refused(
        iop, ref, lambda: bad.record_agreement(ref, actor="anna", start="2026-02-01", end_on="2028-01-31"), UsageError
    )
    assert error.exit_status == EXIT_USAGE
    assert "`start`" in error.message("en") and "did you mean `start_on`" in error.message("en")
    assert "menade du `start_on`" in error.message("sv")
    error = _refused(
        iop,
        ref,
        lambda: bad.open_case(org="802479-1322", municipality="Stenungsund", title="T", challenge="C"),
        UsageError,
    )
    assert "did you mean `org_number`" in error.message("en")
    error = _refused(iop, ref, lambda: bad.fire(ref, "start_dialogue", expected_version=1), UsageError)
    assert "did you mean `if_version`" in error.message("en")


def test_a_missing_required_argument_is_a_usage_error_naming_it(iop: Iop) -> None:
    ref = _case_at_assessment(iop)
    bad: Any = iop
    error = _refused(iop, ref, lambda: bad.record_agreement(ref, actor="anna", start_on="2026-02-01"), UsageError)
    assert "`end_on`" in error.message("en") and "`end_on`" in error.message("sv")
    assert error.details() == {"problem": "Iop.record_agreement: missing the required argument `end_on`"}
    error = _refused(iop, ref, lambda: bad.fire(ref), UsageError)
    assert "`trigger`" in error.message("en")


def test_too_many_positional_arguments_or_one_given_twice_is_a_usage_error(iop: Iop) -> None:
    ref = _case_at_assessment(iop)
    bad: Any = iop
    error = _refused(iop, ref, lambda: bad.fire(ref, "return_to_dialogue", "anna"), UsageError)
    assert "(ref, trigger)" in error.message("en")
    error = _refused(iop, ref, lambda: bad.fire(ref, "return_to_dialogue", ref=ref), UsageError)
    assert "`ref`" in error.message("en")


def test_a_value_of_the_wrong_type_is_invalid_input_naming_the_argument_and_what_it_takes(iop: Iop) -> None:
    ref = _case_at_assessment(iop)
    bad: Any = iop
    error = _refused(
        iop,
        ref,
        lambda: bad.record_legal_check(
            ref,
            actor="lars",
            competence="no",
            procurement_not_required=True,
            no_competition_distortion=True,
            state_aid_basis="non_economic",
            rationale="R",
        ),
        InvalidInput,
    )
    assert error.exit_status == EXIT_INVALID
    assert error.details() == {"field": "competence", "value": "no"}
    assert "must be True or False, not text" in error.message("en")
    assert "måste vara True eller False, inte text" in error.message("sv")
    error = _refused(iop, ref, lambda: bad.record_meeting(ref, held_on=12, joint_challenge="J"), InvalidInput)
    assert "must be a date (YYYY-MM-DD) or text, not a whole number" in error.message("en")
    error = _refused(iop, ref, lambda: bad.cases(state=["active"]), InvalidInput)
    assert error.details()["field"] == "state"


def test_a_text_where_only_a_date_is_taken_is_parsed_or_refused_with_a_message(iop: Iop) -> None:
    ref = _case_at_assessment(iop)
    assert iop.upcoming("2027-06-01") == iop.upcoming(date(2027, 6, 1))  # type: ignore[arg-type]
    bad: Any = iop
    error = _refused(iop, ref, lambda: bad.upcoming("1 juni"), InvalidInput)
    assert "YYYY-MM-DD" in error.message("en") and "ÅÅÅÅ-MM-DD" in error.message("sv")
    assert error.details()["field"] == "until"


def test_the_gate_reads_each_method_s_own_signature() -> None:
    """Every public method keeps its signature for help() and IDEs, and no **fields hides a name."""
    for name, member in vars(Iop).items():
        func = member.__func__ if isinstance(member, classmethod) else member
        if name.startswith("_") or not inspect.isfunction(func):
            continue
        params = inspect.signature(func).parameters.values()
        assert all(p.kind is not p.VAR_KEYWORD for p in params), f"Iop.{name} takes **kwargs"
        assert hasattr(func, "__wrapped__"), f"Iop.{name} is not behind the argument gate"
