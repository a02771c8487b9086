"""The installed ``iop`` end to end, in a real subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from iop_workflow.resources import shipped_guidelines
from tests.cli_helpers import FORBIDDEN_AT_START, Backend, Cli, prepare_signing, to_assessment, today

LOG_FIELDS = {"seq", "case_ref", "case_seq", "at", "actor", "os_user", "roles", "source", "trigger", "from_state"}
LOG_FIELDS |= {"to_state", "reason", "data", "guideline_ref", "workflow_version", "prev_hash", "hash", "auth", "format"}
CASE_KEYS = {"ref", "state", "state_label", "end_reason", "municipality", "title", "version", "organisation"}
CASE_KEYS |= {"guideline", "timers"}


@pytest.fixture
def cli(backend: Backend, tmp_path: Path) -> Cli:
    return Cli(tmp_path, backend.url)


def test_an_officer_takes_a_case_from_initiative_to_active(cli: Cli) -> None:
    init = cli.ok("--json", "init").json()
    assert sorted(init["guidelines"]) == ["Eksjö-IOP", "Jönköping-IOP", "KS2019/2069", "Marks-IOP", "Stenungsund-IOP"]
    assert set(init["guidelines"].values()) == {"added"}
    org = cli.sh_ok(
        "--json org add --name 'Kvinnojouren i Stenungsund' --org-number 8024791322 --legal-form ideell_forening "
        "--protected --address 'Hemlig adress 1'"
    ).json()
    assert (org["org_number"], org["protected"], org["address"]) == ("802479-1322", True, "(skyddad)")

    opened = cli.sh_ok(
        "--json --actor anna case open --org 802479-1322 --municipality Stenungsund --title 'Skyddat boende' "
        "--challenge 'Våldsutsatta kvinnor'"
    ).json()
    ref = opened["ref"]
    assert re.fullmatch(rf"IOP-{today().year}-0001", ref)
    assert set(opened) >= CASE_KEYS
    assert (opened["state"], opened["state_label"], opened["version"]) == ("initiative", "Initiativ", 1)
    assert opened["organisation"] == {  # a write's reply is no read: contact data masked (need-to-know.md)
        "name": "Kvinnojouren i Stenungsund",
        "org_number": "802479-1322",
        "protected": True,
        "contact_name": None,
        "contact_email": None,
        "contact_phone": None,
        "address": "(skyddad)",
    }
    assert opened["guideline"] is None
    assert [(t["kind"], t["action"]) for t in opened["timers"]] == [("idle", "alert:case_idle")]
    assert date.fromisoformat(opened["timers"][0]["due_on"]) == today() + timedelta(days=60)

    options = cli.ok("--json", "--actor", "anna", "case", "options", ref).json()
    assert [(o["trigger"], o["allowed"], o["reasons"]) for o in options] == [
        ("start_dialogue", True, []),
        ("decline", True, []),
        ("withdraw", True, []),
    ]
    fired = cli.ok("--json", "--actor", "anna", "case", "fire", ref, "start_dialogue").json()
    assert (fired["case"]["state"], fired["case"]["version"]) == ("dialogue", 2)
    assert (fired["record"]["from_state"], fired["record"]["to_state"]) == ("initiative", "dialogue")

    blocked = cli.ok("--json", "--actor", "anna", "case", "options", ref).json()
    submit = next(o for o in blocked if o["trigger"] == "submit_for_assessment")
    assert submit["allowed"] is False
    assert [r["code"] for r in submit["reasons"]] == ["dialogue_missing"]
    cli.sh_ok(f"--actor anna case record {ref} meeting --held-on {today()} --joint-challenge 'Skydd och stöd'")
    assessed = cli.ok("--json", "--actor", "anna", "case", "fire", ref, "submit_for_assessment").json()
    assert assessed["case"]["guideline"] == {"ref": "Stenungsund-IOP", "valid_until": None}

    prepare_signing(cli, ref, today())
    anna = cli.ok("--json", "--actor", "anna", "case", "options", ref).json()
    sign = next(o for o in anna if o["trigger"] == "sign")
    assert (sign["allowed"], [r["code"] for r in sign["reasons"]]) == (False, ["role_not_allowed", "four_eyes"])
    refused = cli("--actor", "anna", "case", "fire", ref, "sign")
    assert refused.status == 3
    assert refused.err.splitlines() == [
        f"{ref}: åtgärden «Underteckna avtal» är inte möjlig i status Bedömning:",
        "  - anna (behörigheter: handläggare, registrator) får inte utföra «Underteckna avtal»; det kräver behörigheten "
        "Behörig undertecknare (firmatecknare) (`iop role grant anna signatory`)",
        "  - anna har bedömt kriterierna för avtalsperiod 1 och får därför inte underteckna eller förnya avtalet "
        "(fyraögonprincipen)",
    ]
    eva = cli.ok("--json", "--actor", "eva.lind", "case", "options", ref).json()
    assert next(o for o in eva if o["trigger"] == "sign")["allowed"] is True
    signed = cli.ok("--json", "--actor", "eva.lind", "case", "fire", ref, "sign").json()
    assert signed["case"]["state"] == "signed"
    assert signed["record"]["data"]["decision"]["minutes_ref"] == "SN § 12/2026"
    assert [t["kind"] for t in signed["case"]["timers"]] == ["agreement_start"]
    cli.ok("--actor", "anna", "case", "fire", ref, "activate")

    shown = cli.ok("--json", "case", "show", ref).json()
    assert (shown["state"], shown["state_label"], shown["end_reason"]) == ("active", "Pågående", None)
    assert {t["kind"] for t in shown["timers"]} == {"review_reminder", "review_due", "renewal_review", "agreement_end"}
    ends = [t for t in shown["timers"] if t["kind"] == "agreement_end"]
    assert ends[0]["due_on"] == today().replace(year=today().year + 2).isoformat()
    assert ends[0]["action"] == "fire:expire"
    assert [o["trigger"] for o in shown["options"]] == [
        "start_review",
        "end",
        "terminate",
        "end_by_notice",
        "rescind",
        "expire",
    ]
    listed = cli.ok("--json", "case", "list", "--state", "active").json()
    assert [c["ref"] for c in listed] == [ref]

    history = cli.ok("--json", "case", "history", ref).json()
    transitions = [r["trigger"] for r in history if not r["trigger"].startswith("record:")]
    assert transitions == ["open", "start_dialogue", "submit_for_assessment", "sign", "activate"]
    assert all(set(r) == LOG_FIELDS for r in history)
    assert {r["source"] for r in history} == {"cli"}
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(history))
    assert history[-1]["actor"] == "anna" and history[-1]["os_user"] is not None
    verify = cli.ok("--json", "audit", "verify").json()
    # Besides the case: init's records, on the administration chain (grants, bootstrap) and one
    # chain per shipped guideline (its load as `system`).
    others = [json.loads(line) for line in cli.ok("audit", "export").out.splitlines()]
    others = [r for r in others if r["case_ref"] != ref]
    assert {r["case_ref"] for r in others} == {"@admin"} | {f"@guideline:{g.ref}" for g in shipped_guidelines()}
    stream = verify.pop("stream")  # the audit stream beside the database holds every record, once
    assert verify == {
        "ok": True,
        "cases": 1,
        "records": len(history) + len(others),
        "checkpoints": 0,
        "problems": [],
        "warnings": [],
        "last_checkpoint": None,
    }
    assert stream["in_sync"] and stream["lines"] == stream["records"] == verify["records"], stream

    human = cli.ok("case", "show", ref).out
    assert "Status: Pågående, sedan" in human and "[active]" not in human
    assert "Möjliga åtgärder:" in human
    assert "+ Påbörja uppföljning -> Uppföljning (`iop case fire REF start_review`): möjlig" in human


def test_every_exit_status_from_a_real_situation(cli: Cli, backend: Backend) -> None:
    ref = to_assessment(cli)  # exit 0 all the way
    usage = cli("--json", "case", "fire")
    assert usage.status == 2
    assert usage.json()["error"]["code"] == "usage_error"
    assert usage.json()["error"]["message"] == "give REF and TRIGGER, or --from-file FILE"

    refused = cli("--json", "--actor", "anna", "case", "fire", ref, "activate")
    assert refused.status == 3
    error = refused.json()["error"]
    assert (error["code"], error["details"]["state"]) == ("transition_not_allowed", "assessment")
    assert [r["code"] for r in error["details"]["reasons"]] == ["wrong_state"]

    missing = cli("case", "show", "IOP-2099-0001")
    assert (missing.status, missing.err.strip()) == (4, "Ärendet IOP-2099-0001 finns inte.")

    version = cli.ok("--json", "case", "show", ref).json()["version"]
    stale = cli.sh(
        f"--json --actor anna case fire {ref} return_to_dialogue --reason 'Mer dialog' --if-version {version - 1}"
    )
    assert stale.status == 5
    assert stale.json()["error"]["details"] == {
        "case_ref": ref,
        "expected_version": version - 1,
        "found_version": version,
    }
    assert cli.ok("--json", "case", "show", ref).json()["state"] == "assessment"

    bad = cli("org", "add", "--name", "X", "--org-number", "802479-1323", "--legal-form", "annan")
    assert bad.status == 6
    assert "inget giltigt organisationsnummer" in bad.err

    cli.ok("audit", "verify")
    if backend.path is not None:
        backend.execute(
            "DROP TRIGGER transition_log_no_update",
            f"UPDATE transition_log SET reason = 'förfalskad' WHERE case_ref = '{ref}' AND case_seq = 2",
        )
    else:
        backend.execute(
            "DROP TRIGGER transition_log_no_change ON transition_log",
            f"UPDATE transition_log SET reason = 'förfalskad' WHERE case_ref = '{ref}' AND case_seq = 2",
        )
    broken = cli("--json", "audit", "verify")
    assert broken.status == 7
    report = broken.json()
    assert (report["ok"], report["cases"]) == (False, 1)
    chain = [(p["case_ref"], p["case_seq"], p["field"]) for p in report["problems"] if p["field"] != "schema"]
    assert chain == [(ref, 2, "hash")]
    assert {p["problem"] for p in report["problems"] if p["field"] == "schema"} == {"schema_object_missing"}
    human = cli("--lang", "en", "audit", "verify")
    assert human.status == 7
    assert "The audit log is NOT intact: 2 problem(s)" in human.out  # the record, and the guard dropped to change it
    assert f"{ref} #2 [hash]: content does not match its hash" in human.out


def test_fire_from_file_reports_each_line_and_the_most_important_failure(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    cli.ok("org", "add", "--name", "Hela Människan", "--org-number", "802014-5671", "--legal-form", "ideell_forening")
    ref = cli.sh_ok(
        "case open --org 802014-5671 --municipality Jönköping --title Mötesplats --challenge Ensamhet"
    ).out.strip()
    batch = tmp_path / "batch.jsonl"
    lines = [
        {"ref": ref, "trigger": "start_dialogue", "actor": "anna", "data": {"diarienr": "SN 2026/1"}},
        {"ref": ref, "trigger": "submit_for_assessment"},
        {"ref": ref, "trigger": "withdraw", "reason": "Ändrade planer", "if_version": 1},
    ]
    batch.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    result = cli("--json", "case", "fire", "--from-file", str(batch))
    assert result.status == 5  # a conflict outranks a refusal
    report = result.json()
    assert (report["done"], report["failed"]) == (1, 2)
    assert [r["status"] for r in report["results"]] == ["done", "refused", "conflict"]
    assert report["results"][0]["state"] == "dialogue"
    codes = [r["code"] for r in report["results"][1]["error"]["details"]["reasons"]]
    assert codes == ["dialogue_missing"]
    history = cli.ok("--json", "case", "history", ref).json()
    assert [r["trigger"] for r in history] == ["open", "start_dialogue"]
    assert history[1]["actor"] == "anna" and history[1]["data"]["diarienr"] == "SN 2026/1"
    assert [t["kind"] for t in history[1]["data"]["timers"]] == ["idle"]  # the plan it made, beside the caller's data

    refused_only = tmp_path / "refused.jsonl"
    refused_only.write_text(json.dumps({"ref": ref, "trigger": "sign"}) + "\n", encoding="utf-8")
    human = cli("--lang", "en", "case", "fire", "--from-file", str(refused_only))
    assert human.status == 3
    assert f"line 1: {ref} sign: refused: {ref}: 'sign' is not allowed in state 'dialogue'" in human.out
    assert "0 done, 1 failed." in human.out


def test_language_from_option_and_environment(cli: Cli) -> None:
    cli.ok("init")
    english = cli("case", "show", "IOP-2099-0001", env={"IOP_LANG": "en"})
    assert (english.status, english.err.strip()) == (4, "No case IOP-2099-0001 exists.")
    swedish = cli("--lang", "sv", "case", "show", "IOP-2099-0001", env={"IOP_LANG": "en"})
    assert swedish.err.strip() == "Ärendet IOP-2099-0001 finns inte."
    trailing = cli("case", "show", "IOP-2099-0001", "--lang", "en", "--json")
    assert trailing.json()["error"] == {
        "code": "not_found",
        "message": "No case IOP-2099-0001 exists.",
        "details": {"kind": "case", "key": "IOP-2099-0001"},
    }


def test_demo_on_an_empty_database_named_by_db(backend: Backend, tmp_path: Path) -> None:
    cli = Cli(tmp_path, None)
    result = cli("--json", "--db", backend.url, "demo")
    assert result.status == 0, result.text
    demo = result.json()
    states = {c["organisation"]["org_number"]: (c["state"], c["end_reason"]) for c in demo["cases"]}
    assert states == {
        "802500-1119": ("assessment", None),
        "802014-5671": ("active", None),
        "802479-1322": ("active", None),
        "252002-3348": ("ended", "terminated"),  # notice given after its first review: ended by the timer
        "802010-0908": ("ended", "withdrawn"),
    }
    assert demo["audit"]["ok"] is True and demo["audit"]["cases"] == 5
    refusals = [s for s in demo["steps"] if s["outcome"] == "refused"]
    assert [(s["action"], s["date"]) for s in refusals] == [("open", "2024-01-15"), ("sign", "2026-01-19")]
    assert [r["code"] for r in refusals[1]["reasons"]] == [
        "guideline_unverified",
        "guideline_expired",
        "guideline_expired",
    ]
    assert ("renew", "eva.lind") in {(s["action"], s["actor"]) for s in demo["steps"]}
    assert {("terminate", "eva.lind"), ("end_by_notice", "system")} <= {
        (s["action"], s["actor"]) for s in demo["steps"]
    }
    again = cli("--db", backend.url, "demo")
    assert again.status == 6
    assert "databasen innehåller redan 5 ärenden och 6 organisationer" in again.err


@pytest.mark.slow
def test_demo_default_database_is_its_own_and_recreated(tmp_path: Path) -> None:
    working = tmp_path / "work.db"
    cli = Cli(tmp_path, f"sqlite:///{working}")
    first = cli.ok("demo")
    demo_db = cli.data_dir / "demo.db"
    assert f"Demodatabas: sqlite:///{demo_db}" in first.out
    assert "Vinst & Co AB (556036-0793) är aktiebolag" in first.out
    assert "Riktlinjen KS2019/2069 (Kungälv) gällde till och med 2023-12-31; idag är det 2026-01-19" in first.out
    assert "IOP-2024-0001  Förnya avtalet för en ny period: Uppföljning -> Förnyat (eva.lind)" in first.out
    assert "Insats: part: kommunen; insatstyp: ekonomiska medel; omfattning: 470 000,00 kr (anna.berg)" in first.out
    assert "audit verify: granskningsloggen är intakt: 5 ärenden" in first.out
    assert not working.exists()
    second = cli.ok("--lang", "en", "demo")
    assert "audit verify: the audit log is intact: 5 cases" in second.out
    refused = cli("--db", f"sqlite:///{working}", "demo")
    assert refused.status == 6
    assert "det är den konfigurerade arbetsdatabasen" in refused.err
    assert not working.exists()


def test_workflow_commands_need_no_database(tmp_path: Path) -> None:
    cli = Cli(tmp_path, None)
    mermaid = cli.ok("workflow", "diagram").out
    assert mermaid.splitlines()[:4] == ["---", "Idéburet offentligt partnerskap", "---", "stateDiagram-v2"]
    for line in (
        'state "Bedömning" as assessment',
        "assessment --> signed: Underteckna avtal",
        "[*] --> initiative: Registrera initiativ",
        "ended --> [*]",
    ):
        assert f"  {line}" in mermaid.splitlines()
    english = cli.ok("--lang", "en", "workflow", "diagram").out
    assert "  review --> renewed: Renew for a new period" in english.splitlines()
    dot = cli.ok("workflow", "diagram", "--format", "dot").out
    assert dot.startswith('digraph "partnership" {')
    assert '  "assessment" -> "signed" [label="Underteckna avtal"];' in dot.splitlines()
    assert '  "ended" [label="Avslutat", peripheries=2];' in dot.splitlines()
    show = cli.ok("--json", "workflow", "show").json()
    states = ["initiative", "dialogue", "assessment", "signed", "active", "review", "renewed", "ended"]
    assert [s["value"] for s in show["states"]] == states
    assert len(show["transitions"]) == 17
    check = cli.ok("--json", "workflow", "check").json()
    assert (check["ok"], check["cases_checked"], len(check["guidelines"])) == (True, None, 5)


def test_workflow_check_names_cases_outside_the_definition(cli: Cli, backend: Backend) -> None:
    ref = to_assessment(cli)
    assert cli.ok("--json", "workflow", "check").json()["cases_checked"] == 1
    backend.execute(f"UPDATE cases SET state = 'limbo' WHERE ref = '{ref}'")
    result = cli("--json", "workflow", "check")
    assert result.status == 6
    assert result.json()["problems"] == [
        {"where": ref, "code": "unknown_state", "message": "läget 'limbo' finns inte i arbetsflödet"}
    ]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--help"], {}),
        (["workflow", "diagram"], {}),
        (["case", "fire", "--help"], {}),
        ([], {"_IOP_COMPLETE": "bash_source"}),
        ([], {"_IOP_COMPLETE": "bash_complete", "COMP_WORDS": "iop case f", "COMP_CWORD": "2"}),
    ],
    ids=["help", "diagram", "subcommand-help", "completion-script", "completion"],
)
def test_start_up_does_not_import_the_database_layers(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    done, imported = Cli(tmp_path, None).imports(*args, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(m for m in imported if m.split(".")[0] in FORBIDDEN_AT_START) == []
    assert "click" in imported  # the probe sees imports at all
    if env.get("_IOP_COMPLETE") == "bash_source":
        assert "_iop_completion()" in done.stdout
    if env.get("_IOP_COMPLETE") == "bash_complete":
        assert "plain,fire" in done.stdout.splitlines()


def test_a_database_command_does_import_them(tmp_path: Path) -> None:
    """The control for the test above: the same probe sees sqlalchemy when it is loaded."""
    done, imported = Cli(tmp_path, f"sqlite:///{tmp_path / 'x.db'}").imports("init")
    assert done.returncode == 0
    assert {"sqlalchemy", "sqlmodel", "alembic"} <= imported


def test_a_database_without_the_schema_says_to_run_init(cli: Cli) -> None:
    result = cli("case", "list")
    assert result.status == 8
    assert result.err.rstrip().endswith("Kör `iop init` för att skapa schemat.")
    assert "Traceback" not in result.text
    english = cli("--json", "--lang", "en", "case", "list").json()["error"]
    assert english["code"] == "database_unavailable"
    assert english["message"].endswith("Run `iop init` first.")
