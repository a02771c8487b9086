"""Bad input: the right message and exit status, no traceback, and an unchanged database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli_helpers import Cli, copy_sqlite, sqlite_dump, to_assessment, today

REF = f"IOP-{today().year}-0001"  # the case the template database holds, in assessment


@dataclass(frozen=True)
class Bad:
    args: list[str]
    status: int
    message: str
    files: dict[str, bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    stream: str = "err"


NOT_UTF8_GUIDELINE = b'[guideline]\nref = "G\xe5"\n'  # latin-1 "å"
CASES = {
    "unknown-case": Bad(["case", "show", "IOP-2099-0001"], 4, "Ärendet IOP-2099-0001 finns inte."),
    "unknown-case-en": Bad(
        ["--lang", "en", "case", "fire", "IOP-2099-0001", "sign"], 4, "No case IOP-2099-0001 exists."
    ),
    "unknown-trigger": Bad(
        ["case", "fire", REF, "fly"], 2, "Felaktig användning: unknown trigger 'fly' (known: activate, continue,"
    ),
    "bad-org-number": Bad(
        ["org", "add", "--name", "Föreningen X", "--org-number", "802479-1323", "--legal-form", "annan"],
        6,
        "Ogiltigt värde för organisationsnummer ('802479-1323'): inget giltigt organisationsnummer",
    ),
    "bad-org-number-en": Bad(
        [
            "--lang",
            "en",
            "case",
            "open",
            "--org",
            "12345",
            "--municipality",
            "Kungälv",
            "--title",
            "T",
            "--challenge",
            "C",
        ],
        6,
        "Invalid value for org_number ('12345'): not a valid Swedish organisation number",
    ),
    "end-before-start": Bad(
        ["--actor", "anna", "case", "record", REF, "agreement", "--start-on", "2027-01-01", "--end-on", "2026-12-31"],
        6,
        "Ogiltigt värde för slutdatum ('2026-12-31'): slutdatum 2026-12-31 ligger inte efter startdatum 2027-01-01",
    ),
    "unknown-criterion": Bad(
        ["--actor", "anna", "case", "assess", REF, "no_such_criterion", "met", "--note", "x"],
        4,
        "Kriteriet no_such_criterion (Stenungsund-IOP: not_a_company, initiated_by_org,",
    ),
    "impossible-date": Bad(
        ["--actor", "anna", "case", "record", REF, "meeting", "--held-on", "2026-02-30", "--joint-challenge", "x"],
        6,
        "Ogiltigt värde för mötesdatum ('2026-02-30'): är inget giltigt datum (ÅÅÅÅ-MM-DD)",
    ),
    "impossible-date-en": Bad(
        [
            "--lang",
            "en",
            "--actor",
            "anna",
            "case",
            "record",
            REF,
            "decision",
            "--body",
            "SN",
            "--decided-on",
            "2026-02-30",
            "--minutes-ref",
            "§ 1",
        ],
        6,
        "Invalid value for decided_on ('2026-02-30'): is not a valid date (YYYY-MM-DD)",
    ),
    "missing-guideline-file": Bad(
        ["guideline", "load", "{tmp}/saknas.toml"],
        6,
        "{tmp}/saknas.toml: (file): cannot read: No such file or directory",
    ),
    "directory-as-guideline": Bad(
        ["guideline", "load", "{tmp}"],
        6,
        "Ogiltigt värde för FILE ('{tmp}'): är en katalog, ingen vanlig fil; den läses inte",
    ),
    "guideline-not-utf8": Bad(
        ["guideline", "load", "{tmp}/latin1.toml"],
        6,
        "{tmp}/latin1.toml: (encoding): not UTF-8 (byte 20: 0xe5)",
        files={"latin1.toml": NOT_UTF8_GUIDELINE},
    ),
    "jsonl-not-utf8": Bad(
        ["case", "fire", "--from-file", "{tmp}/batch.jsonl"],
        6,
        "{tmp}/batch.jsonl: (encoding): not UTF-8 (byte 8: 0xe5)",
        files={"batch.jsonl": b'{"ref":"\xe5"}\n'},
    ),
    "jsonl-malformed": Bad(
        ["case", "fire", "--from-file", "{tmp}/batch.jsonl"],
        6,
        "{tmp}/batch.jsonl: line 2: not valid JSON: Expecting value",
        files={"batch.jsonl": f'{{"ref": "{REF}", "trigger": "decline", "reason": "x"}}\n{{"ref": \n'.encode()},
    ),
    "jsonl-wrong-type": Bad(
        ["--json", "case", "fire", "--from-file", "{tmp}/batch.jsonl"],
        6,
        '"message": "{tmp}/batch.jsonl: line 1.if_version: wrong type: \'3\'"',
        files={"batch.jsonl": json.dumps({"ref": REF, "trigger": "sign", "if_version": "3"}).encode()},
        stream="out",
    ),
    "jsonl-version-zero": Bad(
        ["--json", "case", "fire", "--from-file", "{tmp}/batch.jsonl"],
        6,
        '"field": "expected_version"',
        files={"batch.jsonl": json.dumps({"ref": REF, "trigger": "decline", "reason": "x", "if_version": 0}).encode()},
        stream="out",
    ),
    "config-wrong-type": Bad(
        ["case", "show", REF],
        6,
        "{tmp}/bad.toml: lead_times.idle_days: must be a whole number, not 'sixty'",
        files={"bad.toml": b'[lead_times]\nidle_days = "sixty"\n'},
        env={"IOP_CONFIG": "{tmp}/bad.toml"},
    ),
    "env-wrong-type": Bad(
        ["--json", "case", "list"],
        6,
        '"message": "environment: IOP_LEAD_TIMES_IDLE_DAYS: must be a whole number, not \'many\'"',
        env={"IOP_LEAD_TIMES_IDLE_DAYS": "many"},
        stream="out",
    ),
    "unknown-state-filter": Bad(
        ["case", "list", "--state", "limbo"],
        6,
        "Ogiltigt värde för status ('limbo'): välj en av: Initiativ (`initiative`), Dialog (`dialogue`),",
    ),
    "data-not-key-value": Bad(
        ["case", "fire", REF, "return_to_dialogue", "--data", "novalue"],
        2,
        "Invalid value for '--data': 'novalue' is not KEY=VALUE",
    ),
    "unknown-legal-form": Bad(
        ["org", "add", "--name", "X", "--org-number", "802014-5671", "--legal-form", "bolag"],
        2,
        "Invalid value for '--legal-form': 'bolag' is not one of",
    ),
    "review-needs-report-answer": Bad(
        ["case", "record", REF, "review", "--held-on", "2026-01-01"],
        2,
        "say --report-received or --no-report (there is no default)",
    ),
    "reason-required": Bad(
        ["--actor", "anna", "case", "fire", REF, "decline"], 6, "«Avsluta utan avtal» kräver en motivering (`--reason`)"
    ),
    "demo-into-used-db": Bad(
        ["--lang", "en", "demo", "--db", "sqlite:///{tmp}/iop.db"],
        6,
        "the database already holds 1 case(s) and 1 organisation(s)",
        env={"IOP_DATABASE_URL": "sqlite:///{tmp}/work.db"},
    ),
    "demo-into-working-db": Bad(
        ["demo", "--db", "sqlite:///{tmp}/iop.db"],
        6,
        "det är den konfigurerade arbetsdatabasen; demon skriver aldrig i den",
    ),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with one organisation and one case in assessment (built once)."""
    where = tmp_path_factory.mktemp("template")
    path = where / "iop.db"
    ref = to_assessment(Cli(where, f"sqlite:///{path}"))
    assert ref == REF
    return path


@pytest.mark.slow
@pytest.mark.parametrize("bad", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_with_its_message_and_changes_nothing(bad: Bad, template: Path, tmp_path: Path) -> None:
    db = tmp_path / "iop.db"
    copy_sqlite(template, db)
    cli = Cli(tmp_path, f"sqlite:///{db}")
    for name, content in bad.files.items():
        (tmp_path / name).write_bytes(content)

    def fill(text: str) -> str:
        return text.replace("{tmp}", str(tmp_path))

    before = sqlite_dump(db)
    result = cli(*map(fill, bad.args), env={k: fill(v) for k, v in bad.env.items()})
    assert result.status == bad.status, result.text
    assert fill(bad.message) in (result.err if bad.stream == "err" else result.out)
    assert "Traceback" not in result.text
    assert sqlite_dump(db) == before
    if bad.stream == "out":
        assert result.err == ""


def test_json_errors_have_the_documented_shape(template: Path, tmp_path: Path) -> None:
    db = tmp_path / "iop.db"
    copy_sqlite(template, db)
    cli = Cli(tmp_path, f"sqlite:///{db}")
    result = cli(
        "--json",
        "--actor",
        "anna",
        "case",
        "record",
        REF,
        "agreement",
        "--start-on",
        "2027-01-01",
        "--end-on",
        "2026-12-31",
    )
    assert result.status == 6
    assert result.err == ""
    assert result.json() == {
        "error": {
            "code": "invalid_input",
            "message": "Ogiltigt värde för slutdatum ('2026-12-31'): slutdatum 2026-12-31 ligger inte "
            "efter startdatum 2027-01-01",
            "details": {"field": "end_on", "value": "2026-12-31"},
        }
    }
    usage = cli("--json", "case", "show")
    assert usage.status == 2
    assert usage.json()["error"]["message"] == "Missing argument 'REF'."


def test_an_unexpected_exception_is_a_logged_bug_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from iop_workflow.api import Iop
    from iop_workflow.cli.main import run

    def boom(self: Iop, **_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("IOP_DATABASE_URL", f"sqlite:///{tmp_path / 'iop.db'}")
    monkeypatch.delenv("IOP_LANG", raising=False)
    monkeypatch.delenv("IOP_CONFIG", raising=False)
    assert run(["init"]) == 0  # the list is scoped by the reader's grants: they are read first
    capsys.readouterr()
    monkeypatch.setattr(Iop, "case_page", boom)  # the table's page
    monkeypatch.setattr(Iop, "iter_cases", boom)  # --json's stream
    log = tmp_path / "data" / "iop-workflow" / "cli-errors.log"

    assert run(["case", "list"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        "Internt fel (en bugg, inte ditt fel): RuntimeError: boom. Detaljerna finns i loggen: " + str(log)
    )
    assert "Traceback" in log.read_text(encoding="utf-8")
    assert "RuntimeError: boom" in log.read_text(encoding="utf-8")

    assert run(["--json", "--lang", "en", "case", "list"]) == 1
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert (error["code"], error["details"]["log"]) == ("internal_error", str(log))
    assert error["message"].startswith("Internal error (a bug, not your fault): RuntimeError: boom.")
    assert "Traceback" not in out + err
