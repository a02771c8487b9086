"""Refusals that teach: options name each trigger's inputs, a missing input is named without a Python None."""

from __future__ import annotations

from datetime import timedelta

import pytest

from iop_workflow import FakeClock, Iop
from iop_workflow.errors import InvalidInput
from tests.helpers import add_orgs, open_case, to_signed


def test_options_name_each_triggers_inputs_and_their_allowed_values(iop: Iop, clock: FakeClock) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    inputs = {o["trigger"]: o["inputs"] for o in iop.options(ref, actor="anna")}
    assert inputs["start_dialogue"] == []
    assert inputs["withdraw"] == [{"name": "reason", "option": "--reason", "choices": []}]
    signed = to_signed(iop)
    clock.advance(timedelta(days=21))  # the agreement starts on 2026-02-01
    iop.fire(signed, "activate", actor="system")
    ends = {o["trigger"]: o["inputs"] for o in iop.options(signed, actor="anna")}
    assert ends["end"] == [
        {"name": "end_reason", "option": "--end-reason", "choices": ["completed", "not_renewed"]},
        {"name": "reason", "option": "--reason", "choices": []},
    ]


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_a_missing_input_is_named_with_its_option_and_never_as_none(iop: Iop, clock: FakeClock, lang: str) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    with pytest.raises(InvalidInput) as missing:
        iop.fire(ref, "withdraw", actor="anna")
    text = missing.value.message(lang)
    assert "--reason" in text and "None" not in text and "''" not in text
    assert text.startswith("Värde saknas för motivering" if lang == "sv" else "Missing reason")
    signed = to_signed(iop)
    clock.advance(timedelta(days=21))  # the agreement starts on 2026-02-01
    iop.fire(signed, "activate", actor="system")
    with pytest.raises(InvalidInput) as no_end:
        iop.fire(signed, "end", actor="anna", reason="Avtalet har löpt ut")
    text = no_end.value.message(lang)
    choices = (
        ("`--end-reason completed`", "`--end-reason not_renewed`") if lang == "sv" else ("completed, not_renewed",)
    )
    assert "--end-reason" in text and all(c in text for c in choices) and "None" not in text
