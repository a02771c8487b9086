"""Retractions: a recorded fact withdrawn by a logged record, its row kept (SQLite and PostgreSQL).

Every rule, report and view reads the facts without the retracted ones; ``audit verify``
holds each retraction row to its record.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from iop_workflow import FakeClock, Iop
from iop_workflow.errors import InvalidInput, TransitionNotAllowed
from iop_workflow.server.app import create_app
from iop_workflow.store.cases import case_row
from iop_workflow.store.facts import build_facts
from iop_workflow.store.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.cli_helpers import Backend, Cli, today
from tests.cli_helpers import prepare_signing as prepare_signing_cli
from tests.cli_helpers import to_assessment as to_assessment_cli
from tests.helpers import add_orgs, prepare_signing, to_assessment, to_signed
from tests.server_helpers import problem
from tests.tamper import attacker
from tests.test_migrations import _step

TABLES = ("transition_log", "retractions", "corrections", "contributions", "timers", "cases")


def entries(iop: Iop, ref: str, trigger: str) -> list[int]:
    return [int(r["case_seq"]) for r in iop.history(ref) if r["trigger"] == trigger]


def snapshot(iop: Iop) -> dict[str, list[Any]]:
    with iop.app.db.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1")).all() for t in TABLES}


def municipal_money(report: dict[str, Any]) -> dict[str, str]:
    (money,) = [
        c for c in report["contributions"] if (c["party"], c["kind"], c["unit"]) == ("municipality", "money", "SEK")
    ]
    return {"agreed": money["agreed"], "running": money["running"]}


def signed_with_a_duplicate(iop: Iop) -> tuple[str, int]:
    """A case signed with three municipal money contributions, the second a duplicate of the first."""
    add_orgs(iop)
    ref = to_assessment(iop)
    prepare_signing(iop, ref)  # records 340,000 SEK; corrected below to the first of the three
    first = entries(iop, ref, "record:contribution")[0]
    iop.correct(ref, "contribution", first, field="amount", value="250000.25", reason="Rätt belopp", actor="anna")
    for amount in ("250000.25", "250000"):
        iop.record_contribution(ref, actor="anna", party="municipality", kind="money", amount=amount, unit="SEK")
    iop.fire(ref, "sign", actor="eva")
    duplicate = entries(iop, ref, "record:contribution")[2]
    return ref, duplicate


def test_a_retracted_duplicate_contribution_no_longer_counts_in_the_reports(iop: Iop, clock: FakeClock) -> None:
    ref, duplicate = signed_with_a_duplicate(iop)
    assert municipal_money(iop.annual_report(year=2026))["agreed"] == "750000.50"
    assert iop.register()[0]["municipal_money_sek"] == "750000.50"

    clock.set_date(date(2026, 1, 20))
    logged = iop.retract(ref, "contribution", duplicate, reason="Samma insats registrerad två gånger", actor="anna")

    assert (logged["trigger"], logged["from_state"], logged["to_state"]) == ("record:retraction", "signed", "signed")
    assert logged["reason"] == "Samma insats registrerad två gånger"
    original = next(r for r in iop.history(ref) if r["case_seq"] == duplicate)
    assert logged["data"]["retraction"] == {
        "kind": "contribution",
        "entry": duplicate,
        "entry_hash": original["hash"],
        "fact_id": 3,
    }
    assert municipal_money(iop.annual_report(year=2026))["agreed"] == "500000.25"
    assert iop.register()[0]["municipal_money_sek"] == "500000.25"
    with iop.app.db.read() as s:  # the rules see two municipal amounts, not three
        facts = build_facts(
            s, case_row(s, ref), iop.app.guidelines, preparing=iop.app.definition.states_in("preparing")
        )
        money = [c.amount for c in facts.agreements[0].contributions if c.kind == "money"]
    assert [str(m) for m in money] == ["250000.25", "250000.00"]
    with iop.app.db.engine.connect() as conn:  # the row stays
        assert conn.execute(sa.text("SELECT count(*) FROM contributions")).scalar_one() == 4
    shown = {f["entry"]: f for f in iop.case(ref)["facts"]}
    assert shown[duplicate]["retracted"] == {
        "entry": logged["case_seq"],
        "by": "anna",
        "reason": "Samma insats registrerad två gånger",
    }
    assert [shown[e]["retracted"] is None for e in entries(iop, ref, "record:contribution")] == [
        True,
        True,
        False,
        True,
    ]
    assert logged["case_seq"] not in shown  # the retraction is a record, not a fact
    assert iop.verify().ok


def test_a_retracted_legal_check_makes_the_signing_guard_refuse_again(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    prepare_signing(iop, ref)
    sign = next(o for o in iop.options(ref, actor="eva") if o["trigger"] == "sign")
    assert sign["allowed"], sign
    (check,) = entries(iop, ref, "record:legal-check")
    iop.retract(ref, "legal-check", check, reason="Bedömningen gällde ett annat ärende", actor="lars")
    sign = next(o for o in iop.options(ref, actor="eva") if o["trigger"] == "sign")
    assert not sign["allowed"] and [r["code"] for r in sign["reasons"]] == ["legal_check_missing"]
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.fire(ref, "sign", actor="eva")
    assert [r.code for r in refused.value.reasons] == ["legal_check_missing"]
    # A new legal check lets the case be signed.
    iop.record_legal_check(
        ref,
        actor="lars",
        competence=True,
        procurement_not_required=True,
        no_competition_distortion=True,
        state_aid_basis="non_economic",
        rationale="Icke-ekonomisk verksamhet av allmänt intresse",
    )
    assert iop.fire(ref, "sign", actor="eva")["to_state"] == "signed"
    assert iop.verify().ok


def test_retracting_what_a_signing_rested_on_is_a_record_and_rewrites_no_history(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    before = iop.history(ref)
    (check,) = entries(iop, ref, "record:legal-check")
    iop.retract(ref, "legal-check", check, reason="Fel ärende", actor="lars")
    after = iop.history(ref)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    assert iop.case(ref)["state"] == "signed"
    assert iop.verify().ok


def test_retracting_the_later_agreement_puts_the_earlier_back_in_force_and_moves_the_deadline(
    iop: Iop, clock: FakeClock
) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    prepare_signing(iop, ref)  # agreement 2026-02-01 .. 2028-01-31
    iop.record_agreement(ref, actor="anna", start_on="2026-03-02", end_on="2028-03-01", notice_months=3)
    iop.fire(ref, "sign", actor="eva")
    first, second = entries(iop, ref, "record:agreement")
    assert {t["kind"]: t["due_on"] for t in iop.case(ref)["timers"]} == {"agreement_start": "2026-03-02"}
    shown = {f["entry"]: f for f in iop.case(ref)["facts"]}
    assert (shown[first]["status"], shown[first]["superseded_by"]) == ("superseded", second)
    assert (shown[second]["status"], shown[second]["superseded_by"]) == ("in_force", None)
    assert "status" not in shown[entries(iop, ref, "record:decision")[0]]

    logged = iop.retract(ref, "agreement", second, reason="Utkastet registrerades av misstag", actor="anna")

    assert logged["data"]["timers"] == [{"kind": "agreement_start", "due_on": "2026-02-01", "action": "fire:activate"}]
    assert {t["kind"]: t["due_on"] for t in iop.case(ref)["timers"]} == {"agreement_start": "2026-02-01"}
    with iop.app.db.engine.connect() as conn:
        moved = conn.execute(sa.text("SELECT due_on FROM timers WHERE outcome = 'moved by a retraction'")).all()
    assert [str(d) for (d,) in moved] == ["2026-03-02"]
    shown = {f["entry"]: f for f in iop.case(ref)["facts"]}
    assert (shown[first]["status"], shown[second]["status"]) == ("in_force", "retracted")
    assert iop.register()[0]["start_on"] == "2026-02-01"
    assert iop.verify().ok
    clock.set_date(date(2026, 2, 2))
    assert iop.sweep_timers()["fired"] == 1 and iop.case(ref)["state"] == "active"
    assert iop.verify().ok


def test_retracting_the_only_agreement_cancels_its_deadline(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_signed(iop)
    (agreement,) = entries(iop, ref, "record:agreement")
    logged = iop.retract(ref, "agreement", agreement, reason="Avtalet undertecknades aldrig", actor="anna")
    assert logged["data"]["timers"] == [] and iop.case(ref)["timers"] == []
    assert iop.verify().ok


@pytest.mark.parametrize(
    ("kind", "which", "reason", "refusal"),
    [
        ("contribution", "retracted", "Igen", ("entry", "redan återtagen")),
        ("contribution", "unknown", "Fel", ("entry", "har ingen post #999")),
        ("decision", "contribution", "Fel", ("entry", "är record:contribution, inte record:decision")),
        ("contribution", "duplicate", None, ("reason", "får inte vara tomt")),
        ("contribution", "duplicate", "  ", ("reason", "får inte vara tomt")),
        ("colour", "duplicate", "Fel", ("kind", "välj en av")),
    ],
    ids=["already-retracted", "unknown-entry", "other-kind", "no-reason", "blank-reason", "unknown-kind"],
)
def test_bad_retractions_are_refused_and_write_nothing(
    iop: Iop, kind: str, which: str, reason: str | None, refusal: tuple[str, str]
) -> None:
    field, says = refusal
    ref, duplicate = signed_with_a_duplicate(iop)
    iop.retract(ref, "contribution", entries(iop, ref, "record:contribution")[0], reason="Fel", actor="anna")
    entry = {
        "retracted": entries(iop, ref, "record:contribution")[0],
        "unknown": 999,
        "duplicate": duplicate,
        "contribution": duplicate,
    }[which]
    before = snapshot(iop)
    with pytest.raises(InvalidInput) as refused:
        iop.retract(ref, kind, entry, reason=reason, actor="anna")
    assert refused.value.field == field and says in refused.value.message("sv")
    assert refused.value.exit_status == 6
    assert snapshot(iop) == before


def test_a_retracted_fact_cannot_be_corrected_and_the_role_rules_are_a_corrections(iop: Iop) -> None:
    ref, duplicate = signed_with_a_duplicate(iop)
    before = snapshot(iop)
    with pytest.raises(TransitionNotAllowed) as refused:
        iop.retract(ref, "contribution", duplicate, reason="Fel", actor="eva")  # a signatory records no contribution
    assert [r.code for r in refused.value.reasons] == ["role_not_allowed"]
    assert "får inte återta insats" in refused.value.message("sv")
    assert snapshot(iop) == before
    iop.retract(ref, "contribution", duplicate, reason="Dubbel", actor="anna")
    before = snapshot(iop)
    with pytest.raises(InvalidInput, match="already retracted"):
        iop.correct(ref, "contribution", duplicate, field="amount", value="1", reason="x", actor="anna")
    assert snapshot(iop) == before


def test_retractions_are_append_only(iop: Iop) -> None:
    ref, duplicate = signed_with_a_duplicate(iop)
    iop.retract(ref, "contribution", duplicate, reason="Dubbel", actor="anna")
    for sql in ("UPDATE retractions SET reason = 'x'", "DELETE FROM retractions"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), iop.app.db.engine.begin() as conn:
            conn.execute(sa.text(sql))


def _fact_problems(iop: Iop) -> list[tuple[str, str, str]]:
    report = iop.verify()
    assert not report.ok
    return [(p.get("table", ""), p["problem"], p.get("detail", "")) for p in report.problems]


@pytest.mark.parametrize(
    ("edit", "problem", "names"),
    [
        ("UPDATE retractions SET reason = 'Något annat'", "fact_differs_from_log", "reason"),
        ("UPDATE retractions SET fact_id = fact_id - 1", "fact_differs_from_log", "fact_id"),
        ("UPDATE retractions SET retracted_by = 'eva'", "fact_differs_from_log", "retracted_by"),
        ("DELETE FROM retractions", "record_without_fact", "record:retraction"),
    ],
    ids=["reason", "other-fact", "who", "deleted"],
)
def test_a_retraction_changed_behind_the_logs_back_is_named(iop: Iop, edit: str, problem: str, names: str) -> None:
    ref, duplicate = signed_with_a_duplicate(iop)
    iop.retract(ref, "contribution", duplicate, reason="Dubbel", actor="anna")
    assert iop.verify().ok
    with attacker(iop) as conn:  # retractions are append-only too: the attacker drops that guard as well
        guard = "retractions_no_update" if conn.dialect.name == "sqlite" else "retractions_no_change ON retractions"
        conn.exec_driver_sql(f"DROP TRIGGER {guard}")
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER retractions_no_delete")
        conn.execute(sa.text(edit))
    found = [p for p in _fact_problems(iop) if p[0] == "retractions"]
    assert [(t, p) for t, p, _d in found] == [("retractions", problem)]
    assert names in found[0][2]


def test_a_retraction_row_added_without_its_record_is_named(iop: Iop) -> None:
    ref, duplicate = signed_with_a_duplicate(iop)
    assert iop.verify().ok
    with iop.app.db.engine.begin() as conn:  # inserting needs no guard dropped: the table only refuses changes
        conn.execute(
            sa.text(
                "INSERT INTO retractions (case_id, case_ref, fact_kind, fact_id, retracts_case_seq, reason, log_seq,"
                " retracted_by, retracted_at) SELECT id, ref, 'contribution', 1, :entry, 'Smygande', 999999, 'anna',"
                " updated_at FROM cases WHERE ref = :ref"
            ),
            {"entry": duplicate, "ref": ref},
        )
    assert municipal_money(iop.annual_report(year=2026))["agreed"] == "500000.25"  # the forged row takes effect...
    assert ("retractions", "fact_without_record") in {(t, p) for t, p, _d in _fact_problems(iop)}  # ...and is named


def test_0009_adds_the_table_to_a_database_with_data_and_everything_still_verifies(iop: Iop) -> None:
    ref, duplicate = signed_with_a_duplicate(iop)
    _step(iop, "0006", down=True)
    with iop.app.db.engine.connect() as conn:
        assert "retractions" not in sa.inspect(conn).get_table_names()
        log = conn.execute(sa.text("SELECT seq, hash FROM transition_log ORDER BY seq")).all()
    upgrade(iop.app.db)
    assert current_revision(iop.app.db) == head_revision()
    with iop.app.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT seq, hash FROM transition_log ORDER BY seq")).all() == log
        command.check(alembic_config(conn))  # the models and the migrated schema agree
    iop.init()  # records the guideline rows 0011's downgrade unlinked (docs/guidelines.md)
    assert iop.verify().ok  # existing cases, corrections and logs verify, the new guards are the listed ones
    iop.retract(ref, "contribution", duplicate, reason="Dubbel", actor="anna")
    assert iop.verify().ok
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), iop.app.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM retractions"))


def test_the_cli_retracts_refuses_shows_and_verifies(backend: Backend, tmp_path: Path) -> None:
    """The real `iop` in a subprocess: a duplicate contribution retracted, every refusal exit 6 (or 2 for a
    misuse of the options) with nothing written, case show and the register without it, verify holding it."""
    cli = Cli(tmp_path, backend.url)
    ref = to_assessment_cli(cli)
    prepare_signing_cli(cli, ref, today())
    money = "--party municipality --kind money --amount 340000 --unit SEK"
    cli.sh_ok(f"--actor anna case record {ref} contribution {money}")
    cli.sh_ok(f"--actor eva.lind case fire {ref} sign")
    history = cli.ok("--json", "case", "history", ref).json()
    duplicate = [r["case_seq"] for r in history if r["trigger"] == "record:contribution"][-1]
    agreement = next(r["case_seq"] for r in history if r["trigger"] == "record:agreement")
    assert cli.ok("--json", "report", "register", "--format", "json").json()[0]["municipal_money_sek"] == "680000.00"

    done = cli.sh_ok(
        f"--actor anna case correct {ref} contribution {duplicate} --retract --reason 'Registrerad två gånger'"
    )
    assert done.out.strip() == (
        f"{ref}: post #{duplicate} (insats) återtagen (loggpost {duplicate + 2}); den räknas inte längre."
    )
    assert cli.ok("--json", "report", "register", "--format", "json").json()[0]["municipal_money_sek"] == "340000.00"

    def unchanged(args: str, status: int, says: str) -> None:
        before = cli.ok("--json", "case", "history", ref).out
        refused = cli.sh(args)
        assert refused.status == status, refused.text
        assert says in refused.err and "Traceback" not in refused.text
        assert cli.ok("--json", "case", "history", ref).out == before

    retract = f"--actor anna case correct {ref} contribution"
    unchanged(f"{retract} {duplicate} --retract --reason Igen", 6, "redan återtagen")
    unchanged(f"{retract} 999 --retract --reason Fel", 6, "har ingen post #999")
    unchanged(f"{retract} {duplicate - 1} --retract", 6, "Värde saknas för motivering")
    unchanged(f"{retract} {duplicate - 1} --retract --field amount --reason Fel", 2, "takes no --field")
    unchanged(f"{retract} {duplicate - 1} --field amount --value 1", 2, "--reason")
    as_json = cli.sh(f"--json {retract} {duplicate} --retract --reason Igen")
    assert as_json.status == 6 and as_json.json()["error"]["code"] == "invalid_input"

    shown = cli.ok("case", "show", ref).out
    assert f"återtagen i #{duplicate + 2} (anna): Registrerad två gånger" in shown
    assert "[gäller]" in shown and "retracted" not in shown and "in_force" not in shown
    shown_en = cli.ok("--lang", "en", "case", "show", ref).out
    assert f"retracted in #{duplicate + 2} (anna)" in shown_en and "[in force]" in shown_en
    facts = {f["entry"]: f for f in cli.ok("--json", "case", "show", ref).json()["facts"]}
    assert facts[duplicate]["retracted"]["entry"] == duplicate + 2
    assert (facts[agreement]["status"], facts[agreement]["superseded_by"]) == ("in_force", None)

    cli.ok("audit", "verify")
    guard = "retractions_no_update" if backend.path is not None else "retractions_no_change ON retractions"
    backend.execute(f"DROP TRIGGER {guard}", "UPDATE retractions SET reason = 'Något annat'")
    found = cli("--json", "audit", "verify")
    assert found.status == 7, found.text
    (problem,) = [p for p in found.json()["problems"] if p["field"] == "fact"]  # beside the dropped guard
    assert (problem["table"], problem["problem"]) == ("retractions", "fact_differs_from_log")
    assert "reason" in problem["detail"]


ROLES = ("registrar", "officer", "legal", "signatory", "coordinator", "auditor", "admin")


def test_over_http_the_roles_of_a_correction_may_retract_and_refusals_write_nothing(iop: Iop) -> None:
    """POST /v1/cases/{ref}/retractions: every role against a contribution (the roles that may record one may
    retract it, others 409), a second retraction and a missing reason 422, no If-Match 428; nothing written."""
    add_orgs(iop)
    ref = to_assessment(iop)
    prepare_signing(iop, ref)
    for amount in ("1", "2", "3"):
        iop.record_contribution(ref, actor="anna", party="municipality", kind="money", amount=amount, unit="SEK")
    spare = entries(iop, ref, "record:contribution")[-3:]
    tokens = {
        role: iop.create_token(name=f"t-{role}", roles=[role], municipalities=["Stenungsund"])["token"]
        for role in ROLES
    }
    allowed = sorted(iop.app.definition.records["contribution"].roles)
    assert len(allowed) <= len(spare)

    with TestClient(create_app(iop)) as client:

        def post(role: str, body: dict[str, Any], *, if_match: bool = True) -> Any:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            if if_match:
                headers["If-Match"] = f'"{iop.case(ref)["version"]}"'
            return client.post(f"/v1/cases/{ref}/retractions", json=body, headers=headers)

        def refused(role: str, body: dict[str, Any], status: int, code: str, *, if_match: bool = True) -> None:
            before = snapshot(iop)
            problem(post(role, body, if_match=if_match), status, code)
            assert snapshot(iop) == before

        for role in ROLES:
            if role in allowed:
                body = {"kind": "contribution", "entry": spare[allowed.index(role)], "reason": f"Dubbel ({role})"}
                done = post(role, body)
                assert done.status_code == 200, done.text
                assert (done.json()["trigger"], done.json()["roles"]) == ("record:retraction", [role])
            else:
                body = {"kind": "contribution", "entry": spare[-1], "reason": "Fel"}
                refused(role, body, 409, "transition_not_allowed")
        again = {"kind": "contribution", "entry": spare[0], "reason": "Igen"}
        refused(allowed[0], again, 422, "invalid_input")
        refused(
            allowed[0],
            {"kind": "contribution", "entry": entries(iop, ref, "record:contribution")[0]},
            422,
            "invalid_input",
        )
        refused(
            allowed[0],
            {**again, "entry": entries(iop, ref, "record:contribution")[0]},
            428,
            "if_match_required",
            if_match=False,
        )
        shown = client.get(f"/v1/cases/{ref}", headers={"Authorization": f"Bearer {tokens['auditor']}"}).json()
    retracted = {f["entry"] for f in shown["facts"] if f["retracted"]}
    assert retracted == set(spare[: len(allowed)])
    assert iop.verify().ok
