"""The workflow definition loader: the shipped file, and malformed files naming file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iop_workflow.domain.definition_parse import parse_definition
from iop_workflow.domain.guards import GUARDS
from iop_workflow.domain.machine import Engine
from iop_workflow.domain.timers import ANCHORS
from iop_workflow.errors import DefinitionError
from iop_workflow.resources import load_definition, shipped_definition, states_dir

SHIPPED = (states_dir() / "partnership.toml").read_text(encoding="utf-8")
CONTRACT_TRIGGERS = {
    "open",
    "start_dialogue",
    "submit_for_assessment",
    "return_to_dialogue",
    "sign",
    "decline",
    "withdraw",
    "activate",
    "start_review",
    "continue",
    "renew",
    "end",
    "terminate",
    "expire",
    "end_by_notice",
    "rescind",
}


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_definition(text, file="bad.toml", guards=GUARDS, anchors=ANCHORS)


def test_shipped_definition_has_the_contract() -> None:
    d = shipped_definition()
    assert list(d.states) == ["initiative", "dialogue", "assessment", "signed", "active", "review", "renewed", "ended"]
    assert d.state("review").label_sv == "Uppföljning"
    assert d.state("ended").terminal and set(d.state("ended").end_reasons) == {
        "declined",
        "withdrawn",
        "completed",
        "not_renewed",
        "terminated",
        "rescinded",
        "expired",
    }
    assert d.triggers() == CONTRACT_TRIGGERS
    assert d.initial == "initiative"
    assert set(d.transition("withdraw", "signed").sources) == {"initiative", "dialogue", "assessment", "signed"}  # type: ignore[union-attr]
    assert re.fullmatch(r"[0-9a-f]{64}", d.version)


def test_version_ignores_comments_and_order_but_not_rules() -> None:
    base = parse(SHIPPED).version
    assert parse("# a comment\n" + SHIPPED).version == base
    changed = SHIPPED.replace('label_en = "Dialogue"', 'label_en = "Talks"')
    assert parse(changed).version != base


def test_one_shared_machine_leaks_no_models() -> None:
    engine = Engine(shipped_definition())
    for _ in range(50):
        assert engine.apply("initiative", "start_dialogue") == "dialogue"
    assert engine.model_count() == 0


# Each fault: (how to break the shipped file, the key the error must name, words of the problem)
FAULTS = [
    (
        lambda t: t.replace('"legal_check_recorded",', '"legal_chek",'),
        "transitions[4].guards[2]",
        "unknown guard 'legal_chek'",
    ),
    (lambda t: t.replace('dest = "signed"', 'dest = "sined"'), "transitions[4].dest", "unknown state 'sined'"),
    (
        lambda t: t.replace('source = ["active"]\ndest = "review"', 'source = ["activ"]\ndest = "review"'),
        "transitions[8].source[0]",
        "unknown state 'activ'",
    ),
    (
        lambda t: (
            t + '\n[[transitions]]\ntrigger = "reopen"\nsource = ["ended"]\ndest = "dialogue"\nroles = ["admin"]\n'
        ),
        "transitions[17].source[0]",
        "leaves the terminal state 'ended'",
    ),
    (
        lambda t: (
            t + '\n[[transitions]]\ntrigger = "sign"\nsource = ["assessment"]\ndest = "signed"\nroles = ["admin"]\n'
        ),
        "transitions[17]",
        "trigger 'sign' from 'assessment' is already defined",
    ),
    (
        lambda t: (
            t
            + '\n[states.archived]\nlabel_sv = "Arkiverad"\nlabel_en = "Archived"\nterminal = true\nend_reasons = ["expired"]\n'
        ),
        "states.archived",
        "unreachable",
    ),
    (
        lambda t: t.replace('action = "fire:activate"', 'action = "fire:renew"', 1),
        "states.signed.timers[0].action",
        "fires 'renew', which is not valid in state 'signed'",
    ),
    (
        lambda t: t.replace('anchor = "review_due"', 'anchor = "review_dew"'),
        "states.active.timers[1].anchor",
        "unknown anchor",
    ),
    (
        lambda t: t.replace(
            'roles = ["signatory"]\nlabel_sv = "Underteckna', 'roles = ["king"]\nlabel_sv = "Underteckna'
        ),
        "transitions[4].roles[0]",
        "unknown role 'king'",
    ),
    (
        lambda t: t.replace('label_en = "Initiative"', 'label_en = "Initiative"\ncolour = "red"'),
        "states.initiative.colour",
        "unknown key",
    ),
    (
        lambda t: t.replace('end_reason = "declined"', 'end_reason = "bored"'),
        "transitions[5].end_reason",
        "'bored' is not an end reason",
    ),
    (lambda t: t.replace("[workflow]", "[workflow", 1), "(syntax)", "not valid TOML"),
    (
        lambda t: t.replace('trigger = "open"', 'trigger = "create"'),
        "transitions[0].trigger",
        "the creation must be 'open'",
    ),
    (lambda t: t.replace('label_sv = "Dialog"\n', ""), "states.dialogue.label_sv", "missing"),
]


@pytest.mark.parametrize(("breaks", "key", "problem"), FAULTS)
def test_malformed_definition_names_file_and_key(breaks, key: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    broken = breaks(SHIPPED)
    assert broken != SHIPPED, "the fault was not applied"
    with pytest.raises(DefinitionError) as info:
        parse(broken)
    err = info.value
    assert err.file == "bad.toml"
    assert err.key == key
    assert problem in err.problem
    assert err.message("en").startswith(f"bad.toml: {key}: ")
    assert err.exit_status == 6


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(SHIPPED.encode("utf-8").replace("Bedömning".encode(), "Bedömning".encode("latin-1")))
    with pytest.raises(DefinitionError) as info:
        load_definition(bad)
    assert info.value.key == "(encoding)" and "not UTF-8" in info.value.problem
    with pytest.raises(DefinitionError) as info:
        load_definition(tmp_path / "missing.toml")
    assert info.value.key == "(file)" and "cannot read" in info.value.problem
