"""Four eyes: whoever assessed a period may not sign or renew it; refusals through the API and the CLI.

Both back-ends; a refusal lists every reason (the role rule too when it applies), exits 3
and leaves every table as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from iop_workflow import FakeClock, Iop, TransitionNotAllowed
from tests.cli_helpers import Backend, Cli, today
from tests.helpers import add_orgs, prepare_signing, to_assessment
from tests.roles_world import START, at_nine, dump, role_settings

FOUR_EYES = role_settings(sigrid=frozenset({"officer", "signatory"}))  # may both assess and sign


@pytest.fixture
def fresh(db_url: str, tmp_path: Path) -> Iterator[tuple[Iop, FakeClock]]:
    clock = FakeClock(at_nine(START))
    with Iop.connect(db_url, clock=clock, settings=FOUR_EYES, audit_log=tmp_path / "audit.jsonl") as iop:
        iop.init()
        iop.bootstrap()  # the settings make adam admin, so init bootstrapped nobody
        add_orgs(iop)
        yield iop, clock


def refusal(iop: Iop, ref: str, trigger: str, actor: str) -> TransitionNotAllowed:
    """Fire and expect a refusal that changes nothing; return it."""
    before = dump(iop)
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.fire(ref, trigger, actor=actor)
    assert refused.value.exit_status == 3
    assert dump(iop) == before
    return refused.value


def test_four_eyes_the_assessor_of_a_period_may_not_sign_or_renew_it(fresh: tuple[Iop, FakeClock]) -> None:
    iop, clock = fresh
    first, second = ready_to_sign_on(iop, START), ready_to_sign_on(iop, START)
    for ref in (first, second):  # sigrid re-assesses one criterion of period 1 in both cases
        iop.assess(ref, "not_a_company", "met", note="Kontrollerat i registret", actor="sigrid")
    error = refusal(iop, first, "sign", "sigrid")
    assert [r.code for r in error.reasons] == ["four_eyes"]
    assert "sigrid har bedömt kriterierna för avtalsperiod 1" in error.message("sv")
    assert "(four eyes)" in error.message("en")
    # Every reason at once: anna assessed and is no signatory either.
    assert [r.code for r in refusal(iop, first, "sign", "anna").reasons] == ["role_not_allowed", "four_eyes"]
    for ref in (first, second):
        assert iop.fire(ref, "sign", actor="eva")["to_state"] == "signed"
        clock.set_date(date(2026, 2, 2))
        iop.fire(ref, "activate", actor="system")
        iop.fire(ref, "start_review", actor="kim")
        iop.record_review(ref, actor="kim", held_on=clock.today(), report_received=True)
        prepare_signing(iop, ref, start="2028-02-01", end="2030-01-31")  # anna assesses period 2
    # The rule is per period: sigrid assessed period 1 only, so she may renew into period 2 ...
    renewed = iop.fire(first, "renew", actor="sigrid")
    assert (renewed["to_state"], renewed["actor"]) == ("renewed", "sigrid")
    # ... but not once she has assessed period 2 as well.
    iop.assess(second, "not_a_company", "met", note="Kontrollerat igen", actor="sigrid")
    error = refusal(iop, second, "renew", "sigrid")
    assert [r.code for r in error.reasons] == ["four_eyes"] and "period 2" in error.message("en")
    assert iop.fire(second, "renew", actor="eva")["to_state"] == "renewed"


def ready_to_sign_on(iop: Iop, day: date) -> str:
    ref = to_assessment(iop)
    prepare_signing(iop, ref)  # agreement 2026-02-01 .. 2028-01-31
    assert iop.case(ref)["state"] == "assessment" and iop.app.clock.today() == day
    return ref


CLI_ROLES = """\
[roles.actors]
"eva.lind" = ["signatory"]
sigrid = ["officer", "signatory"]
kim = ["coordinator"]
system = ["system"]
"""


def test_refusals_from_the_command_line_exit_3_and_write_nothing(backend: Backend, tmp_path: Path) -> None:
    """The role rule and four eyes through a real ``iop`` process: exit 3, every reason, no change."""
    with Iop.connect(backend.url, clock=FakeClock(at_nine(today())), settings=FOUR_EYES, audit_log=False) as iop:
        iop.init()
        iop.bootstrap()  # the settings make adam admin, so init bootstrapped nobody
        add_orgs(iop)
        ref = to_assessment(iop)
        prepare_signing(iop, ref, start=str(today() + timedelta(days=30)), end=str(today() + timedelta(days=759)))
        iop.assess(ref, "not_a_company", "met", note="Kontrollerat", actor="sigrid")
        iop.grant("eva.lind", "signatory")  # roles are grants in the database, not the CLI's settings
        iop.grant("kim", "coordinator")
        before = dump(iop)
    cli = Cli(tmp_path, backend.url)
    cli.config.write_text(CLI_ROLES, encoding="utf-8")

    role = cli("--json", "--actor", "kim", "case", "fire", ref, "sign")
    assert role.status == 3 and "Traceback" not in role.text
    error = role.json()["error"]
    assert (error["code"], [r["code"] for r in error["details"]["reasons"]]) == (
        "transition_not_allowed",
        ["role_not_allowed"],
    )
    assert (
        "kim (behörigheter: IOP-samordnare) får inte utföra «Underteckna avtal»; det kräver behörigheten "
        "Behörig undertecknare (firmatecknare) (`iop role grant kim signatory`)"
    ) in error["message"]

    eyes = cli("--lang", "en", "--actor", "sigrid", "case", "fire", ref, "sign")
    assert eyes.status == 3 and eyes.out == "" and "Traceback" not in eyes.err
    assert "sigrid assessed the criteria for period 1 and so may not also sign or renew (four eyes)" in eyes.err

    both = cli("--json", "--actor", "anna", "case", "fire", ref, "sign")
    assert both.status == 3
    assert [r["code"] for r in both.json()["error"]["details"]["reasons"]] == ["role_not_allowed", "four_eyes"]
    with Iop.connect(backend.url, settings=FOUR_EYES, audit_log=False) as iop:
        assert dump(iop) == before
    signed = cli.ok("--json", "--actor", "eva.lind", "case", "fire", ref, "sign").json()
    assert (signed["record"]["to_state"], signed["record"]["actor"]) == ("signed", "eva.lind")
