"""The audit, correction and register commands end to end: a real `iop` subprocess on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from iop_workflow.audit.export import record_schema
from tests.cli_helpers import Backend, Cli, prepare_signing, sqlite_dump, to_assessment, today


@pytest.fixture
def cli(backend: Backend, tmp_path: Path) -> Cli:
    runner = Cli(tmp_path, backend.url)
    with runner.config.open("a", encoding="utf-8") as handle:
        handle.write('"revisor" = ["auditor"]\n')
    return runner


def signed(cli: Cli) -> str:
    ref = to_assessment(cli)
    prepare_signing(cli, ref, today().replace(day=1))
    cli.sh_ok(f"--actor eva.lind case fire {ref} sign")
    return ref


def test_checkpoint_verify_digest_and_export(cli: Cli, backend: Backend, tmp_path: Path) -> None:
    ref = signed(cli)
    made = cli.ok("audit", "checkpoint").out.splitlines()
    digest = made[-1]
    assert len(digest) == 64 and made[0].startswith("Kontrollpunkt 1: 1 ärenden")
    ok = cli.ok("--json", "audit", "verify", "--digest", digest).json()
    assert (ok["ok"], ok["checkpoints"], ok["digest"]["checkpoint"]) == (True, 1, 1)
    assert "Kontrollsumman stämmer med kontrollpunkt 1." in cli.ok("audit", "verify", "--digest", digest).out
    assert cli.ok("audit", "verify", "--case", ref).out.startswith("Granskningsloggen är intakt: 1 ärenden")
    lines = cli.ok("audit", "export").out.splitlines()
    validator = jsonschema.Draft202012Validator(record_schema())
    for line in lines:
        validator.validate(json.loads(line))
    assert len(lines) == ok["records"]
    csv = cli.ok("audit", "export", "--format", "csv", "--case", ref).out.splitlines()
    case_lines = [line for line in lines if json.loads(line)["case_ref"] == ref]
    assert len(csv) == len(case_lines) + 1 and csv[0].startswith("seq,case_ref,")
    out = tmp_path / "export.jsonl"
    written = cli.ok("--json", "audit", "export", "--output", str(out), "--since", str(today())).json()
    assert written == {"output": str(out), "format": "jsonl", "records": len(lines)}
    assert out.read_text(encoding="utf-8").splitlines() == lines
    assert not list(tmp_path.glob("*.partial"))


def test_bad_inputs_exit_with_their_status_and_change_nothing(cli: Cli, backend: Backend) -> None:
    ref = signed(cli)
    decision = next(r for r in cli.ok("--json", "case", "history", ref).json() if r["trigger"] == "record:decision")
    before = sqlite_dump(backend.path) if backend.path else None
    cases = [
        (["audit", "verify", "--digest", "zz"], 6, "digest"),
        (["audit", "verify", "--digest", "ab" * 32], 7, "is not the digest of any of the 0 checkpoints"),
        (["audit", "verify", "--case", "IOP-2099-0001"], 4, "IOP-2099-0001"),
        (["audit", "export", "--since", "2026-02-30"], 6, "since"),
        (["audit", "export", "--format", "xml"], 2, "xml"),
        (["audit", "export", "--case", "IOP-2099-0001"], 4, "IOP-2099-0001"),
        # --include-protected by anna (the case's own officer) is a need-to-know read now (tests/test_need_to_know.py,
        # tests/test_cli_need_to_know.py); other roles' refusal: tests/test_roles.py.
        (["audit", "export", "--output", "/nonexistent/dir/x.jsonl"], 6, "output"),
        (
            [
                "case",
                "correct",
                ref,
                "decision",
                str(decision["case_seq"]),
                "--field",
                "colour",
                "--value",
                "x",
                "--reason",
                "r",
            ],
            6,
            "colour",
        ),
        (["case", "correct", ref, "decision", "999", "--field", "body", "--value", "x", "--reason", "r"], 6, "#999"),
        (["case", "correct", ref, "decision", "abc", "--field", "body", "--value", "x", "--reason", "r"], 2, "abc"),
        (["case", "correct", ref, "invoice", "1", "--field", "body", "--value", "x", "--reason", "r"], 2, "invoice"),
        (
            ["case", "correct", ref, "decision", str(decision["case_seq"]), "--field", "body", "--value", "x"],
            2,
            "--reason",
        ),
    ]
    for n, (args, status, text) in enumerate(cases):
        as_json = n % 2 == 1  # every other one with --json: the error object (or verify's report) on stdout
        result = cli("--json", "--actor", "anna", *args) if as_json else cli("--actor", "anna", *args)
        assert result.status == status, (args, result.text)
        assert text in result.text and "Traceback" not in result.text, (args, result.text)
        if as_json:
            body = result.json()
            assert ("error" in body) if status != 7 else (body["ok"] is False), (args, body)
    if before is not None:
        assert sqlite_dump(backend.path) == before  # type: ignore[arg-type]


def test_correct_register_and_protected_access(cli: Cli, backend: Backend) -> None:
    ref = signed(cli)
    decision = next(r for r in cli.ok("--json", "case", "history", ref).json() if r["trigger"] == "record:decision")
    fixed = cli.sh_ok(
        f"--actor anna case correct {ref} decision {decision['case_seq']} --field body "
        "--value Kommunstyrelsen --reason 'Beslutet togs av KS'"
    ).out
    assert "rättad: Socialnämnden -> Kommunstyrelsen" in fixed
    shown = cli.ok("case", "show", ref).out
    assert "beslutsorgan: Kommunstyrelsen" in shown and "beslutsorgan: rättad Socialnämnden -> Kommunstyrelsen" in shown
    history = cli.ok("--json", "case", "history", ref).json()
    assert [r["trigger"] for r in history[-2:]] == ["sign", "record:correction"]
    register = cli.ok("report", "register").out
    assert "Kommunstyrelsen" in register and "Hemlig adress 1" not in register and "(skyddad)" in register
    rows = cli.ok("report", "register", "--format", "json").json()
    assert rows[0]["committee"] == "Kommunstyrelsen" and rows[0]["address"] == "(skyddad)"
    assert cli.ok("report", "register", "--format", "csv").out.startswith(
        "municipality,municipality_code,organisation,"
    )
    full = cli.ok("--actor", "revisor", "report", "register", "--include-protected", "--format", "json").json()
    assert full[0]["address"] == "Hemlig adress 1"
    cli.ok("--actor", "revisor", "audit", "export", "--include-protected")
    if backend.path is not None:
        import sqlite3

        with sqlite3.connect(backend.path) as conn:
            logged = conn.execute("SELECT actor, action, include_protected FROM access_events ORDER BY id").fetchall()
        assert logged == [("revisor", "report register", 1), ("revisor", "audit export", 1)]
    assert cli.ok("audit", "verify").out.startswith("Granskningsloggen är intakt")


def test_a_tampered_log_exits_7_with_a_human_message(cli: Cli, backend: Backend) -> None:
    ref = signed(cli)
    cli.ok("audit", "checkpoint")
    drop = (
        "DROP TRIGGER transition_log_no_delete"
        if backend.path
        else "DROP TRIGGER transition_log_no_change ON transition_log"
    )
    backend.execute(drop, f"DELETE FROM transition_log WHERE case_ref = '{ref}' AND case_seq = 2")
    broken = cli("--lang", "en", "audit", "verify")
    assert broken.status == 7 and "Traceback" not in broken.text
    assert "The audit log is NOT intact: 2 problem(s)" in broken.out  # the chain, and the guard dropped
    assert f"{ref} #3 [case_seq]: expected case_seq 2" in broken.out
    assert "schema object trigger transition_log_no_" in broken.out and "schema_object_missing" in broken.out
    refused = cli("--json", "audit", "checkpoint")
    assert refused.status == 7 and refused.json()["error"]["code"] == "integrity_failure"
