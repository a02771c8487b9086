"""Protected organisations: masked in every export and register; auditors (and the case's own officers,
for their cases) may see more, and it is logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.audit.export import csv_line, jsonl_line
from iop_workflow.errors import AccessDenied
from iop_workflow.report.render import register_csv, register_markdown
from tests.helpers import ORG, SHELTER, add_orgs, prepare_signing, to_assessment

SECRETS = ("Hemlig adress 1", "Anna Skydd", "skydd@example.org", "070-1234567")


def shelter_partnership(iop: Iop) -> str:
    """The protected shelter (secret contact data, some of it typed into the log too), signed."""
    add_orgs(iop)
    with iop.app.db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE organisations SET contact_name = :n, contact_email = :e, contact_phone = :p "
                "WHERE org_number = :o"
            ),
            {"n": SECRETS[1], "e": SECRETS[2], "p": SECRETS[3], "o": ORG},
        )
    ref = to_assessment(iop)
    iop.fire(
        ref,
        "return_to_dialogue",
        actor="anna",
        reason=f"Ring {SECRETS[1]} på {SECRETS[3]}",
        data={"address": SECRETS[0], "note": f"mejl {SECRETS[2]}"},
    )
    iop.fire(ref, "submit_for_assessment", actor="anna")
    prepare_signing(iop, ref)
    iop.fire(ref, "sign", actor="eva")
    other = to_assessment(iop, "Jönköping", SHELTER)
    prepare_signing(iop, other)
    iop.fire(other, "sign", actor="eva")
    return ref


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_nothing_protected_leaks_from_exports_or_the_register(iop: Iop) -> None:
    ref = shelter_partnership(iop)
    records = list(iop.export())
    assert not leaks("".join(jsonl_line(r) + csv_line(r) for r in records))
    masked = [r for r in records if r.get("masked")]
    assert [r["trigger"] for r in masked] == ["return_to_dialogue"] and masked[0]["case_ref"] == ref
    rows = iop.register()
    assert len(rows) == 2
    text = json.dumps(rows, ensure_ascii=False) + register_csv(rows) + register_markdown(rows, "sv")
    assert not leaks(text)
    shelter = next(r for r in rows if r["ref"] == ref)
    assert (shelter["organisation"], shelter["address"], shelter["contact_email"]) == (
        "Kvinnojouren i Stenungsund",
        "(skyddad)",
        "(skyddad)",
    )
    assert (shelter["committee"], shelter["start_on"], shelter["end_on"]) == (
        "Socialnämnden",
        "2026-02-01",
        "2028-01-31",
    )
    assert iop.access_events() == []


def test_an_auditor_may_include_protected_data_and_it_is_logged(iop: Iop, tmp_path: Path) -> None:
    shelter_partnership(iop)
    records = list(iop.export(include_protected=True, actor="revisor"))
    assert set(leaks("".join(jsonl_line(r) for r in records))) == {SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3]}
    assert not any(r.get("masked") for r in records)
    rows = iop.register(include_protected=True, actor="revisor")
    assert set(leaks(json.dumps(rows, ensure_ascii=False))) == set(SECRETS)
    events = iop.access_events()
    assert [(e["actor"], e["action"], e["include_protected"], e["roles"]) for e in events] == [
        ("revisor", "audit export", True, ["auditor"]),
        ("revisor", "report register", True, ["auditor"]),
    ]
    iop.app.sink.close()
    logged = [json.loads(line) for line in (tmp_path / "audit.events.jsonl").read_text().splitlines()]
    assert [(e["event"], e["action"]) for e in logged if e["event"] == "access"] == [
        ("access", "audit export"),
        ("access", "report register"),
    ]


def test_the_case_officer_may_include_their_case_protected_data_and_it_is_logged(iop: Iop) -> None:
    """anna opened the shelter's case (need to know, issue #16 item 6); olle, another officer, has none."""
    ref = shelter_partnership(iop)
    iop.grant("olle", "officer", municipality="Stenungsund")
    assert leaks("".join(jsonl_line(r) for r in iop.export(include_protected=True, actor="olle"))) == []
    assert leaks(json.dumps(iop.register(include_protected=True, actor="olle"), ensure_ascii=False)) == []
    assert iop.access_events() == []
    records = list(iop.export(include_protected=True, actor="anna"))
    assert set(leaks("".join(jsonl_line(r) for r in records))) == set(SECRETS)
    rows = iop.register(include_protected=True, actor="anna")
    assert set(leaks(json.dumps(rows, ensure_ascii=False))) == set(SECRETS)
    assert [(e["actor"], e["action"], e["scope"]["cases"], e["scope"]["basis"]) for e in iop.access_events()] == [
        ("anna", "audit export", [ref], "case_officer"),
        ("anna", "report register", [ref], "case_officer"),
    ]


@pytest.mark.parametrize("who", ["eva", "kim"])
def test_others_are_refused_and_nothing_is_written(iop: Iop, who: str) -> None:
    shelter_partnership(iop)
    before = len(list(iop.export()))
    with pytest.raises(AccessDenied) as refused:
        iop.export(include_protected=True, actor=who)
    assert refused.value.exit_status == 3
    assert "auditor" in refused.value.message("en") and who in refused.value.message("sv")
    with pytest.raises(AccessDenied):
        iop.register(include_protected=True, actor=who)
    assert iop.access_events() == [] and len(list(iop.export())) == before


def test_access_events_are_append_only(iop: Iop) -> None:
    shelter_partnership(iop)
    iop.register(include_protected=True, actor="revisor")
    for sql in ("UPDATE access_events SET actor = 'x'", "DELETE FROM access_events"):
        with pytest.raises(sa.exc.DBAPIError), iop.app.db.engine.begin() as conn:
            conn.execute(sa.text(sql))
