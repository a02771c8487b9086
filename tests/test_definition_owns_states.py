"""The definition owns its states (issue #15, item 3): which states are partnerships, running,
preparing, under review or open for an agreement decision is declared in ``[groups]`` of
``states/partnership.toml``. Renaming a state in a copy of the definition needs no change in code."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from iop_workflow import FakeClock, Iop
from iop_workflow.errors import DefinitionError
from iop_workflow.resources import load_definition, states_dir
from iop_workflow.settings import Settings
from tests.helpers import SHELTER, add_orgs, prepare_signing, to_assessment

RENAMED = "uppfoljning"


def renamed_copy(tmp_path: Path, old: str = "review", new: str = RENAMED) -> Path:
    """The shipped definition with the state ``old`` renamed ``new`` everywhere it names the state
    (its table and every list or dest naming it), and nowhere else (the record kind and the
    group called ``review``, triggers and anchors keep their names)."""
    text = (states_dir() / "partnership.toml").read_text(encoding="utf-8")
    text = re.sub(rf"^(\[{{1,2}})states\.{old}([.\]])", rf"\1states.{new}\2", text, flags=re.MULTILINE)
    text = text.replace(f'"{old}"', f'"{new}"')
    path = tmp_path / "partnership.toml"
    path.write_text(text, encoding="utf-8")
    return path


def municipal_money(report: dict[str, Any]) -> dict[str, str]:
    (money,) = [c for c in report["contributions"] if (c["party"], c["kind"]) == ("municipality", "money")]
    return {"agreed": money["agreed"], "running": money["running"]}


def test_the_shipped_definition_names_its_groups() -> None:
    d = load_definition()
    assert d.states_in("partnership") == ("signed", "active", "review", "renewed")
    assert d.states_in("preparing") == ("initiative", "dialogue", "assessment")
    assert d.states_in("running") == ("active", "review")
    assert d.states_in("review") == ("review",)
    assert d.states_in("agreement_decision") == ("assessment", "review")
    with pytest.raises(KeyError):
        d.states_in("lively")


def test_a_renamed_state_runs_the_whole_life_cycle_without_a_code_change(
    db_url: str, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    path = renamed_copy(tmp_path)
    d = load_definition(path)
    assert "review" not in d.states and RENAMED in d.states
    assert d.states_in("partnership") == ("signed", "active", RENAMED, "renewed")
    assert d.version != load_definition().version
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False, definition=d) as iop:
        iop.init()
        add_orgs(iop)
        ref = to_assessment(iop, org=SHELTER)
        prepare_signing(iop, ref, start="2026-02-01", end="2028-01-31")
        iop.fire(ref, "sign", actor="eva")
        assert [r["ref"] for r in iop.register()] == [ref]  # signed: a partnership
        clock.set_date(date(2026, 2, 1))
        assert iop.tick()["failed"] == 0
        assert iop.case(ref)["state"] == "active"
        clock.set_date(date(2026, 3, 2))
        iop.fire(ref, "start_review", actor="kim")
        assert iop.case(ref)["state"] == RENAMED
        # In the renamed review state: still a partnership in the register, with its money.
        [row] = iop.register()
        assert (row["ref"], row["state"], row["municipal_money_sek"]) == (ref, "Uppföljning", "340000.00")
        # Facts recorded in it prepare the next period (it is not a preparing state) ...
        iop.record_agreement(ref, actor="anna", start_on="2028-02-01", end_on="2030-01-31", notice_months=3)
        agreements = [f["values"] for f in iop.case(ref)["facts"] if f["kind"] == "agreement"]
        assert [a["period"] for a in agreements] == [1, 2]
        # ... a review is recorded there, and a decision to end the agreement may be taken there.
        iop.record_review(ref, actor="kim", held_on="2026-03-02", report_received=True)
        iop.record_decision(
            ref,
            actor="eva",
            body="Kommunstyrelsen",
            decided_on="2026-03-02",
            minutes_ref="KS § 3/2026",
            subject="ending",
        )
        report = iop.annual_report(year=2026, municipality="Stenungsund")
        end = report["at_year_end"]
        assert (end[RENAMED], end["active"]) == (1, 0) and "review" not in end
        assert report["events"] == {"opened": 1, "signed": 1, "activated": 1, "renewed": 0, "ended": 0}
        assert report["reviews"]["due"] == 1 and report["reviews"]["held"] == 1
        assert municipal_money(report) == {"agreed": "340000.00", "running": "340000.00"}
        iop.fire(ref, "continue", actor="kim")
        assert iop.case(ref)["state"] == "active"
        verified = iop.verify()  # every record legal under the renamed definition it names
        assert (verified.problems, verified.warnings) == ([], [])


def test_a_group_naming_an_unknown_state_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "partnership.toml"
    text = (states_dir() / "partnership.toml").read_text(encoding="utf-8")
    path.write_text(text.replace('running = ["active", "review"]', 'running = ["active", "reviewing"]'), "utf-8")
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    assert (raised.value.file, raised.value.key) == (str(path), "groups.running[1]")
    assert "reviewing" in str(raised.value)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('preparing = ["initiative", "dialogue", "assessment"]\n', "", "groups.preparing"),
        ('review = ["review"]', 'review = ["ended"]', "groups.review[0]"),
        ('review = ["review"]', "review = []", "groups.review"),
        ('review = ["review"]', 'review = ["review"]\nlively = ["active"]', "groups.lively"),
    ],
)
def test_the_loader_checks_every_group(tmp_path: Path, old: str, new: str, key: str) -> None:
    path = tmp_path / "partnership.toml"
    text = (states_dir() / "partnership.toml").read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    assert (raised.value.file, raised.value.key) == (str(path), key)


def test_a_definition_without_groups_is_refused_by_the_loader(tmp_path: Path) -> None:
    text = (states_dir() / "partnership.toml").read_text(encoding="utf-8")
    start, stop = text.index("[groups]"), text.index("# ----", text.index("[groups]"))
    path = tmp_path / "partnership.toml"
    path.write_text(text[:start] + text[stop:], "utf-8")
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    assert (raised.value.key, "partnership" in str(raised.value)) == ("groups", True)
