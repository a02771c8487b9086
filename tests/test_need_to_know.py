"""Need to know (issue #16, item 6): a protected organisation's contact data for the case's own officers.

The officer who opened the case, and officers assigned with ``case assign`` (a logged record in
the case's chain), see it in ``case show`` and ``org show``; auditors too. Every unmasked read
is an access event; a masked read writes nothing. Both back-ends (the ``iop`` fixture).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.errors import AccessDenied, InvalidInput, NotFound, TransitionNotAllowed
from tests.helpers import ORG, SHELTER, open_case

CONTACT = {
    "contact_name": "Anna Skydd",
    "contact_email": "skydd@example.org",
    "contact_phone": "070-1234567",
    "address": "Hemlig adress 1",
}
MASKED = dict.fromkeys(CONTACT, "(skyddad)")


def shelter(iop: Iop) -> str:
    """The protected shelter with contact data, a case opened by anna (officer), and olle: another officer
    of Stenungsund; bo holds only registrar there, jonas is an officer in Jönköping."""
    iop.add_organisation(
        name="Kvinnojouren i Stenungsund", org_number=ORG, legal_form="ideell_forening", protected=True, **CONTACT
    )
    iop.add_organisation(
        name="Hela Människan Jönköping", org_number=SHELTER, legal_form="trossamfund", contact_name="Öppen Kontakt"
    )
    iop.grant("olle", "officer", municipality="Stenungsund")
    iop.grant("bo", "registrar", municipality="Stenungsund")
    iop.grant("jonas", "officer", municipality="Jönköping")
    return open_case(iop)


def contact_of(shown: dict[str, Any]) -> dict[str, Any]:
    return {k: shown["organisation"][k] for k in CONTACT}


def org_contact(iop: Iop, who: str) -> dict[str, Any]:
    found = iop.organisation(ORG, actor=who)
    return {k: found[k] for k in CONTACT}


def leaks(value: Any) -> list[str]:
    text = json.dumps(value, ensure_ascii=False)
    return [v for v in CONTACT.values() if v in text]


def events(iop: Iop) -> list[tuple[str, str, str | None]]:
    return [(e["actor"], e["action"], e["scope"].get("basis")) for e in iop.access_events()]


def snapshot(iop: Iop, ref: str) -> tuple[int, int, int]:
    with iop.app.db.engine.connect() as conn:
        logged = conn.execute(sa.text("SELECT count(*) FROM transition_log")).scalar_one()
        version = conn.execute(sa.text("SELECT version FROM cases WHERE ref = :r"), {"r": ref}).scalar_one()
        access = conn.execute(sa.text("SELECT count(*) FROM access_events")).scalar_one()
    return int(logged), int(version), int(access)


def test_the_officer_who_opened_the_case_sees_its_contact_data_and_the_read_is_logged(iop: Iop) -> None:
    ref = shelter(iop)
    shown = iop.show_case(ref, actor="anna")
    assert contact_of(shown) == CONTACT
    assert events(iop) == [("anna", "case show", "case_officer")]
    event = iop.access_events()[0]
    assert event["scope"] == {"case": ref, "basis": "case_officer", "org_number": ORG}
    assert event["include_protected"] is True and event["roles"] == ["officer", "registrar"]


def test_another_officer_of_the_municipality_sees_it_masked_and_nothing_is_written(iop: Iop) -> None:
    ref = shelter(iop)
    before = snapshot(iop, ref)
    shown = iop.show_case(ref, actor="olle")
    assert contact_of(shown) == MASKED and leaks(shown) == []
    assert snapshot(iop, ref) == before and iop.access_events() == []
    assert contact_of(iop.case(ref)) == MASKED  # the API's own view (no identity): masked, unlogged
    assert iop.access_events() == []


def test_an_assigned_officer_sees_it_until_unassigned(iop: Iop) -> None:
    ref = shelter(iop)
    done = iop.assign(ref, "olle", actor="anna")
    assert (done["changed"], done["assigned"], done["assigned_officers"]) == (True, True, ["olle"])
    shown = iop.show_case(ref, actor="olle")
    assert contact_of(shown) == CONTACT and shown["assigned_officers"] == ["olle"]
    assert events(iop) == [("olle", "case show", "assigned_officer")]
    assert iop.assign(ref, "olle", actor="anna")["changed"] is False  # already assigned: nothing written
    removed = iop.assign(ref, "olle", remove=True, actor="anna")
    assert (removed["changed"], removed["assigned"], removed["assigned_officers"]) == (True, False, [])
    assert contact_of(iop.show_case(ref, actor="olle")) == MASKED
    assert len(iop.access_events()) == 1
    logged = [r for r in iop.history(ref) if r["trigger"] == "record:assignment"]
    assert [(r["actor"], r["data"]["assignment"]) for r in logged] == [
        ("anna", {"login": "olle", "removed": False}),
        ("anna", {"login": "olle", "removed": True}),
    ]
    assert all(r["from_state"] == r["to_state"] == "initiative" for r in logged)


def test_a_coordinator_may_assign_and_others_are_refused_writing_nothing(iop: Iop) -> None:
    ref = shelter(iop)
    iop.grant("kim", "coordinator", municipality="Stenungsund")
    assert iop.assign(ref, "olle", actor="kim")["changed"] is True
    before = snapshot(iop, ref)
    for who in ("olle", "eva", "bo"):  # an assigned officer may not pass the case on; nor other roles
        with pytest.raises(TransitionNotAllowed) as refused:
            iop.assign(ref, "anna", actor=who)
        assert refused.value.exit_status == 3
        assert [r.code for r in refused.value.reasons] == ["role_not_allowed"]
        assert "coordinator" in refused.value.message("en") and who in refused.value.message("sv")
    assert snapshot(iop, ref) == before


@pytest.mark.parametrize("login", ["eva", "bo", "jonas", "nobody"])
def test_an_assignee_without_the_officer_role_there_is_refused(iop: Iop, login: str) -> None:
    ref = shelter(iop)
    before = snapshot(iop, ref)
    with pytest.raises(InvalidInput) as refused:
        iop.assign(ref, login, actor="anna")
    assert refused.value.exit_status == 6 and refused.value.field == "login"
    assert "officer" in refused.value.message("en") and "Stenungsund" in refused.value.message("sv")
    assert snapshot(iop, ref) == before


def test_removing_an_assignment_that_does_not_exist_is_not_found(iop: Iop) -> None:
    ref = shelter(iop)
    before = snapshot(iop, ref)
    with pytest.raises(NotFound) as missing:
        iop.assign(ref, "olle", remove=True, actor="anna")
    assert missing.value.exit_status == 4 and snapshot(iop, ref) == before


def test_an_ended_case_gives_no_need_to_know_and_takes_no_assignment(iop: Iop) -> None:
    ref = shelter(iop)
    iop.assign(ref, "olle", actor="anna")
    iop.fire(ref, "withdraw", actor="anna", reason="Organisationen drog tillbaka initiativet")
    assert contact_of(iop.show_case(ref, actor="anna")) == MASKED
    assert contact_of(iop.show_case(ref, actor="olle")) == MASKED
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.assign(ref, "olle", remove=True, actor="anna")
    assert [r.code for r in refused.value.reasons] == ["case_closed"]
    assert iop.access_events() == []


def test_an_auditor_sees_it_and_the_read_is_logged(iop: Iop) -> None:
    ref = shelter(iop)
    assert contact_of(iop.show_case(ref, actor="revisor")) == CONTACT
    assert events(iop) == [("revisor", "case show", "auditor")]


def test_an_organisation_not_protected_is_shown_and_nothing_is_logged(iop: Iop) -> None:
    shelter(iop)
    ref = open_case(iop, "Jönköping", SHELTER)
    assert iop.show_case(ref, actor="jonas")["organisation"]["contact_name"] == "Öppen Kontakt"
    assert iop.organisation(SHELTER, actor="olle")["contact_name"] == "Öppen Kontakt"
    assert iop.access_events() == []


def test_org_show_for_an_officer_of_an_open_case_of_the_organisation(iop: Iop) -> None:
    ref = shelter(iop)
    assert org_contact(iop, "olle") == MASKED
    assert iop.access_events() == []
    assert org_contact(iop, "anna") == CONTACT
    assert iop.access_events()[-1]["scope"] == {"org_number": ORG, "basis": "case_officer", "cases": [ref]}
    iop.assign(ref, "olle", actor="anna")
    assert org_contact(iop, "olle") == CONTACT
    assert events(iop) == [("anna", "org show", "case_officer"), ("olle", "org show", "assigned_officer")]
    listed = next(o for o in iop.organisations() if o["org_number"] == ORG)
    assert {k: listed[k] for k in CONTACT} == MASKED  # the list stays masked


def test_export_include_protected_shows_an_officer_the_cases_they_run(iop: Iop) -> None:
    ref = shelter(iop)
    iop.grant("kim", "coordinator", municipality="Stenungsund")
    other = open_case(iop)  # a second case of the same organisation, olle assigned to it for a while
    iop.assign(other, "olle", actor="kim")
    iop.fire(ref, "start_dialogue", actor="anna", data={"note": f"ring {CONTACT['contact_phone']}"})
    iop.fire(other, "start_dialogue", actor="anna", data={"note": f"ring {CONTACT['contact_phone']}"})
    iop.assign(other, "olle", remove=True, actor="kim")
    records = list(iop.export(include_protected=True, actor="olle"))  # olle: an officer with no case now
    assert leaks(records) == [] and iop.access_events() == []
    mine = list(iop.export(include_protected=True, actor="anna"))
    dialogue = {r["case_ref"]: r for r in mine if r["trigger"] == "start_dialogue"}
    assert CONTACT["contact_phone"] in dialogue[ref]["data"]["note"]
    assert CONTACT["contact_phone"] in dialogue[other]["data"]["note"]  # anna opened both
    assert events(iop) == [("anna", "audit export", "case_officer")]
    assert iop.access_events()[0]["scope"]["cases"] == sorted([ref, other])
    with pytest.raises(AccessDenied) as refused:
        iop.export(include_protected=True, actor="kim")
    assert refused.value.exit_status == 3 and len(iop.access_events()) == 1


def test_audit_verify_passes_with_assignments_and_access_events(iop: Iop) -> None:
    ref = shelter(iop)
    iop.assign(ref, "olle", actor="anna")
    iop.show_case(ref, actor="olle")
    iop.organisation(ORG, actor="anna")
    iop.assign(ref, "olle", remove=True, actor="anna")
    iop.checkpoint()
    report = iop.verify()
    assert report.ok, report.problems
    assert not [w for w in report.as_dict().get("warnings", []) if w.get("case_ref") == ref]
    assert len(iop.access_events()) == 2


def test_audit_verify_names_an_assignment_by_a_role_that_may_not_assign(iop: Iop) -> None:
    """The rule check of ``audit verify`` knows the assignment's rule (a coordinator or an officer)."""
    from iop_workflow.audit.chain import record_from_row
    from iop_workflow.service.legality import Watcher

    ref = shelter(iop)
    iop.assign(ref, "olle", actor="anna")
    with iop.app.db.read() as s:
        row = s.execute(sa.text("SELECT * FROM transition_log WHERE trigger = 'record:assignment'")).mappings().one()
        rec = record_from_row(row)
        watcher = Watcher(s)
        assert watcher.check(rec) is None
        broken = watcher.check(dataclasses.replace(rec, roles=("signatory",)))
        assert broken == "roles signatory may not record a assignment (it needs one of: coordinator, officer)"
        closed = watcher.check(dataclasses.replace(rec, from_state="ended", to_state="ended"))
        assert closed == "a assignment cannot be recorded in state ended"


def test_over_http_two_tokens_see_what_their_need_to_know_allows(iop: Iop) -> None:
    """Token a opens the case (its officer), token b is another officer; the identity is the credential's."""
    from fastapi.testclient import TestClient

    from iop_workflow.server.app import create_app

    shelter(iop)
    tokens = {
        who: iop.create_token(name=who, roles=["officer"], municipalities=["Stenungsund"])["token"]
        for who in ("a", "b")
    }
    tokens["signatory"] = iop.create_token(name="s", roles=["signatory"], municipalities=["Stenungsund"])["token"]

    def auth(who: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}", **more}

    with TestClient(create_app(iop)) as client:
        opened = client.post(
            "/v1/cases",
            headers=auth("a"),
            json={"org_number": ORG, "municipality": "Stenungsund", "title": "Skyddat boende", "challenge": "Skydd"},
        )
        assert opened.status_code == 201, opened.text
        ref = opened.json()["ref"]
        assert contact_of(opened.json()) == MASKED and iop.access_events() == []  # a write's reply shows none

        def show(who: str) -> dict[str, Any]:
            response = client.get(f"/v1/cases/{ref}", headers=auth(who))
            assert response.status_code == 200, response.text
            return dict(response.json())

        assert contact_of(show("a")) == CONTACT
        assert events(iop) == [("token:a", "case show", "case_officer")]
        assert contact_of(show("b")) == MASKED and len(iop.access_events()) == 1
        version = show("b")["version"]

        def assign(who: str, body: dict[str, Any]) -> Any:
            return client.post(
                f"/v1/cases/{ref}/assignments", json=body, headers=auth(who, **{"If-Match": f'"{version}"'})
            )

        refused = assign("b", {"login": "token:b"})  # b may not assign itself
        assert refused.status_code == 409 and refused.json()["code"] == "transition_not_allowed"
        invalid = assign("a", {"login": "token:s"})  # a signatory's token is no officer
        assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_input"
        done = assign("a", {"login": "token:b"})
        assert done.status_code == 200, done.text
        assert done.json()["assigned_officers"] == ["token:b"]
        shown = show("b")
        assert contact_of(shown) == CONTACT and shown["assigned_officers"] == ["token:b"]
        assert events(iop)[-1] == ("token:b", "case show", "assigned_officer")
        version = shown["version"]
        assert assign("a", {"login": "token:b", "remove": True}).status_code == 200
        assert contact_of(show("b")) == MASKED
        organisation = client.get(f"/v1/organisations/{ORG}", headers=auth("a")).json()
        assert {k: organisation[k] for k in CONTACT} == CONTACT
        assert events(iop)[-1] == ("token:a", "org show", "case_officer")
        assert len(iop.access_events()) == 3
    assert iop.verify().ok
