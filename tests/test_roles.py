"""Every trigger and every recorded fact against every role, and the protected reads.

One database per back-end is built once for the module (tests/roles_world.py; lazily,
so the order tests run in does not matter): for each trigger, a case in the trigger's
source state with every other rule met, one per role that may fire it and one that
every other role is refused on, so the role is the only reason for a refusal. The
expected matrix below is written out from DESIGN.md, not read from the definition; a
test checks the two agree.
A refusal lists the role rule with the actor and the roles that may, exits 3, and
leaves every table (and the audit stream) as it was; a refused read of protected data
leaves one ``access_denied`` event and nothing else, an allowed one one access event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from iop_workflow import Iop, TransitionNotAllowed, glossary
from iop_workflow.domain.values import GRANTABLE_ROLES
from iop_workflow.errors import AccessDenied
from iop_workflow.resources import shipped_definition
from tests.helpers import ORG
from tests.roles_world import ACTOR, BACKENDS, ON, ROLES, SECRET, World, Worlds, dump, files

# Who may fire what (DESIGN.md, "Roles"; states/partnership.toml), and where it leads. `admin`
# administers and fires no trigger, records no fact.
ALLOWED: dict[str, frozenset[str]] = {
    "open": frozenset({"registrar", "officer"}),
    "start_dialogue": frozenset({"officer"}),
    "submit_for_assessment": frozenset({"officer"}),
    "return_to_dialogue": frozenset({"officer", "legal", "signatory"}),
    "sign": frozenset({"signatory"}),
    "decline": frozenset({"officer", "signatory"}),
    "withdraw": frozenset({"officer", "registrar"}),
    "activate": frozenset({"officer", "system"}),
    "start_review": frozenset({"officer", "coordinator", "system"}),
    "continue": frozenset({"officer", "coordinator"}),
    "renew": frozenset({"signatory"}),
    "end": frozenset({"officer", "signatory"}),
    "terminate": frozenset({"signatory"}),
    "end_by_notice": frozenset({"system", "officer"}),
    "rescind": frozenset({"signatory"}),
    "expire": frozenset({"system", "officer"}),
}
DEST = {
    "open": "initiative",
    "start_dialogue": "dialogue",
    "submit_for_assessment": "assessment",
    "return_to_dialogue": "dialogue",
    "sign": "signed",
    "decline": "ended",
    "withdraw": "ended",
    "activate": "active",
    "start_review": "review",
    "continue": "active",
    "renew": "renewed",
    "end": "ended",
    "terminate": "active",
    "end_by_notice": "ended",
    "rescind": "ended",
    "expire": "ended",
}
RECORDS: dict[str, frozenset[str]] = {
    "meeting": frozenset({"officer", "coordinator"}),
    "assessment": frozenset({"officer", "legal", "coordinator"}),
    "legal-check": frozenset({"legal"}),
    "agreement": frozenset({"officer"}),
    "contribution": frozenset({"officer"}),
    "decision": frozenset({"signatory", "registrar", "officer"}),
    "review": frozenset({"officer", "coordinator"}),
}


def case_for(world: World, trigger: str, role: str) -> str:
    """The case of ``role`` if it may fire ``trigger``, else the one every refused role shares."""
    pool = world.cases[trigger]
    allowed = sorted(ALLOWED[trigger])
    return pool[allowed.index(role)] if role in allowed else pool[-1]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worlds]:
    with ExitStack() as stack:
        yield Worlds(tmp_path_factory.mktemp("roles"), stack, {t: len(r) + 1 for t, r in ALLOWED.items()})


def test_the_matrix_is_the_definitions() -> None:
    """The hand-written matrix and the shipped definition say the same (a change must be deliberate)."""
    definition = shipped_definition()
    assert {t.trigger: t.roles for t in definition.transitions} == ALLOWED
    # terminate (notice) keeps the case where it is: from active to active, from review to review.
    others = {t.trigger: t.dest for t in definition.transitions if t.trigger != "terminate"}
    assert others == {k: v for k, v in DEST.items() if k != "terminate"}
    assert all(t.sources == (t.dest,) for t in definition.transitions if t.trigger == "terminate")
    assert {kind: rule.roles for kind, rule in definition.records.items()} == RECORDS
    assert set(ROLES) == {r for roles in ALLOWED.values() for r in roles} | {"auditor", "admin"}


def fire(world: World, trigger: str, role: str) -> dict[str, Any]:
    actor = ACTOR[role]
    if trigger == "open":
        ref = world.iop.open_case(
            org_number=ORG,
            municipality="Stenungsund",
            title="Mötesplats",
            challenge="Ensamhet bland äldre",
            actor=actor,
        )
        return world.iop.history(ref)[-1]
    end_reason = "completed" if trigger == "end" else None
    return world.iop.fire(
        case_for(world, trigger, role), trigger, actor=actor, reason="Enligt beslut", end_reason=end_reason
    )


def assert_refused(reasons: tuple[Any, ...], actor: str, allowed: frozenset[str], what: str) -> None:
    """Exactly one reason, the role rule, naming who, with which role, and who may."""
    assert [r.code for r in reasons] == ["role_not_allowed"]
    en, sv = reasons[0].en, reasons[0].sv
    assert actor in en and what in en and all(r in en for r in allowed)
    # Swedish names the act by its label and each role that may with the command that grants it
    code = what.strip("'")  # a trigger is quoted in English ('activate'), a fact kind is not
    named = glossary.label("fact_kind" if code in glossary.entries()["fact_kind"] else "trigger", code, "sv")
    assert actor in sv and named in sv
    assert all(f"(`iop role grant {actor} {r}`)" in sv for r in allowed if r in GRANTABLE_ROLES)
    assert f"iop role grant {actor} system" not in sv  # the scheduler's role is no one's to grant


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", sorted(ALLOWED))
@pytest.mark.parametrize("kind", BACKENDS)
def test_every_trigger_against_every_role(worlds: Worlds, kind: str, trigger: str, role: str) -> None:
    world = worlds.get(kind)
    if role in ALLOWED[trigger]:
        record = fire(world, trigger, role)
        assert (record["trigger"], record["to_state"], record["actor"], record["roles"]) == (
            trigger,
            DEST[trigger],
            ACTOR[role],
            [role],
        )
        assert world.iop.case(record["case_ref"])["state"] == DEST[trigger]
        return
    before, streams = dump(world.iop), files(world.audit)
    with pytest.raises(TransitionNotAllowed) as refused:
        fire(world, trigger, role)
    assert refused.value.exit_status == 3 and refused.value.trigger == trigger
    assert_refused(refused.value.reasons, ACTOR[role], ALLOWED[trigger], f"'{trigger}'")
    assert f"roles: {role}" in refused.value.reasons[0].en
    assert dump(world.iop) == before
    assert files(world.audit) == streams


RECORD_CALLS: dict[str, Callable[[Iop, str, str], object]] = {
    "meeting": lambda iop, ref, who: iop.record_meeting(ref, actor=who, held_on=ON, joint_challenge="Ensamhet"),
    "assessment": lambda iop, ref, who: iop.assess(ref, "not_a_company", "met", note="Bedömt", actor=who),
    "legal-check": lambda iop, ref, who: iop.record_legal_check(
        ref,
        actor=who,
        competence=True,
        procurement_not_required=True,
        no_competition_distortion=True,
        state_aid_basis="non_economic",
        rationale="Icke-ekonomisk verksamhet",
    ),
    "agreement": lambda iop, ref, who: iop.record_agreement(
        ref, actor=who, start_on="2029-03-01", end_on="2031-02-28", notice_months=3
    ),
    "contribution": lambda iop, ref, who: iop.record_contribution(
        ref, actor=who, party="municipality", kind="money", amount="1000", unit="SEK"
    ),
    "decision": lambda iop, ref, who: iop.record_decision(
        ref, actor=who, body="Socialnämnden", decided_on=ON, minutes_ref="SN § 3/2027"
    ),
    "review": lambda iop, ref, who: iop.record_review(ref, actor=who, held_on=ON, report_received=True),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("record", sorted(RECORDS))
@pytest.mark.parametrize("kind", BACKENDS)
def test_every_recorded_fact_against_every_role(worlds: Worlds, kind: str, record: str, role: str) -> None:
    """A case in review takes every kind of fact: the role is the only thing that can refuse one."""
    world = worlds.get(kind)
    ref, call = world.assess_case if record == "assessment" else world.review_case, RECORD_CALLS[record]
    if role in RECORDS[record]:
        before = world.iop.case(ref)["version"]
        call(world.iop, ref, ACTOR[role])
        last = world.iop.history(ref)[-1]
        assert (last["trigger"], last["actor"], last["roles"], last["to_state"]) == (
            f"record:{record}",
            ACTOR[role],
            [role],
            "review",
        )
        assert world.iop.case(ref)["version"] == before + 1
        return
    before_rows, streams = dump(world.iop), files(world.audit)
    with pytest.raises(TransitionNotAllowed) as refused:
        call(world.iop, ref, ACTOR[role])
    assert refused.value.exit_status == 3
    assert_refused(refused.value.reasons, ACTOR[role], RECORDS[record], record)
    assert dump(world.iop) == before_rows
    assert files(world.audit) == streams


READS: dict[str, Callable[[Iop, str], object]] = {
    "audit export": lambda iop, who: list(iop.export(include_protected=True, actor=who)),
    "report register": lambda iop, who: iop.register(include_protected=True, actor=who),
}


def events(world: World) -> list[dict[str, Any]]:
    path = world.audit.with_name(world.audit.stem + ".events.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize("kind", BACKENDS)
def test_protected_reads_against_every_role(worlds: Worlds, kind: str, read: str, role: str) -> None:
    """An auditor reads protected data, and it is logged; an officer reads only their own cases' (none here:
    masked, nothing written); a refusal writes one event and nothing else."""
    world = worlds.get(kind)
    who = ACTOR[role]
    before, seen = dump(world.iop), len(events(world))
    if role == "auditor":
        assert SECRET in json.dumps(READS[read](world.iop, who), ensure_ascii=False, default=str)
        after = dump(world.iop)
        assert {t for t in before if before[t] != after[t]} == {"access_events"}
        assert len(after["access_events"]) == len(before["access_events"]) + 1
        assert world.iop.access_events()[-1]["actor"] == who and world.iop.access_events()[-1]["action"] == read
        new = events(world)[seen:]
        assert [(e["event"], e["actor"], e["action"]) for e in new] == [("access", who, read)]
        return
    if role == "officer":  # need to know: only the cases they opened or are assigned to, and each such read logged
        shown = json.dumps(READS[read](world.iop, who), ensure_ascii=False, default=str)
        after, new = dump(world.iop), events(world)[seen:]
        changed = {t for t in before if before[t] != after[t]}
        if changed:  # a protected organisation's case of their own was unmasked: logged as a case officer's read
            assert changed == {"access_events"}
            assert [(e["event"], e["actor"], e["action"]) for e in new] == [("access", who, read)]
            assert world.iop.access_events()[-1]["scope"]["basis"] == "case_officer"
        else:  # nothing of their own: everything masked, nothing written
            assert SECRET not in shown and new == []
        return
    with pytest.raises(AccessDenied) as refused:
        READS[read](world.iop, who)
    error = refused.value
    assert error.exit_status == 3 and error.needs == "auditor" and error.roles == (role,)
    assert who in error.message("sv") and role in error.message("en") and "auditor" in error.message("en")
    assert dump(world.iop) == before
    new = events(world)[seen:]
    assert [(e["event"], e["actor"], e["action"], e["roles"]) for e in new] == [("access_denied", who, read, [role])]
