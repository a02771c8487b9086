"""CSV safe for spreadsheets (issue #13, item 8): OWASP's CSV injection payloads through every CSV the
product writes (the CLI and the service), read back with Python's csv module and with LibreOffice headless; no
formula evaluated."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from iop_workflow import Iop
from iop_workflow.audit.export import csv_header, csv_line
from iop_workflow.csvsafe import PLAIN_NUMBER, safe_cell, safe_row
from iop_workflow.csvsafe import csv_line as safe_line
from iop_workflow.report.render import REGISTER_COLUMNS, register_csv
from iop_workflow.server.app import create_app
from iop_workflow.settings import Settings
from tests.cli_helpers import IOP, Cli, prepare_signing, today

PAYLOADS = ('=HYPERLINK("http://evil.example","x")', "=1+2", "+1+2", "-1+2", "@SUM(1)", "\t=1", "\r=1")
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


# -- the one function ------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_dangerous_first_character_gets_a_quote(payload: str) -> None:
    assert safe_cell(payload) == "'" + payload


@pytest.mark.parametrize("first", DANGEROUS)
def test_each_dangerous_character_alone_and_leading(first: str) -> None:
    assert safe_cell(first) == "'" + first
    assert safe_cell(first + "text") == "'" + first + "text"


@pytest.mark.parametrize("number", ["0", "42", "340000", "340000.00", "-250000.00", "-1", "0.5"])
def test_a_plain_number_as_text_stays_a_number(number: str) -> None:
    assert safe_cell(number) == number


@pytest.mark.parametrize("value", [42, -250000, 0.5, -1.25, Decimal("-250000.00"), True])
def test_numbers_pass_untouched(value: object) -> None:
    assert safe_cell(value) == str(value)


@pytest.mark.parametrize("text", ["-1+2", "-A1", "-", "--1", "-1.", "-.5", "+46 70 123 45 67", "-1e5", "-١٢"])
def test_what_only_looks_like_a_number_is_text(text: str) -> None:
    assert safe_cell(text) == "'" + text


def test_empty_none_safe_text_and_the_escape_itself() -> None:
    assert safe_cell(None) == "" and safe_cell("") == ""
    assert safe_cell("Kvinnojouren i Stenungsund") == "Kvinnojouren i Stenungsund"
    assert safe_cell("802479-1322") == "802479-1322" and safe_cell("2026-01-31") == "2026-01-31"
    assert safe_cell(" =1+2") == " =1+2"  # only the first character counts (OWASP)
    # a cell that already begins with ' gets one more, so stripping one ' always gives the original back
    assert safe_cell("'=1+2") == "''=1+2" and safe_cell("'quoted'") == "''quoted'"
    assert safe_row(["=1", None, 3]) == ["'=1", "", "3"]


def test_the_writers_route_every_cell_through_it() -> None:
    row = dict.fromkeys((key for key, _, _ in REGISTER_COLUMNS), "=1+2") | {"ref": "-250000.00"}
    assert_safe({"register.csv": register_csv([row])})
    record = {"seq": 1, "case_ref": "@admin", "reason": "\r=1", "actor": "+1", "roles": [], "data": {}}
    text = csv_header() + csv_line(record)
    assert_safe({"audit.csv": text})
    assert ",'@admin," in text and ",'+1," in text and '"\'\r=1"' in text


@pytest.mark.parametrize("inside", ["\r", "\n", "\r\n"])
def test_a_line_break_inside_a_cell_is_quoted_and_starts_no_row(inside: str) -> None:
    line = safe_line([f"Anna{inside}=1+2", 7, "-250000.00"])
    assert line == f'"Anna{inside}=1+2",7,-250000.00\n'  # a bare CR would end the row before =1+2
    assert list(csv.reader(io.StringIO(line, newline=""))) == [[f"Anna{inside}=1+2", "7", "-250000.00"]]


def cells(text: str) -> Iterator[str]:
    for row in csv.reader(io.StringIO(text, newline="")):
        yield from row


def assert_safe(exports: dict[str, str]) -> None:
    for name, text in exports.items():
        bad = [c for c in cells(text) if c.startswith(DANGEROUS) and not PLAIN_NUMBER.fullmatch(c)]
        assert not bad, f"{name}: cells a spreadsheet would read as formulas: {bad}"


# -- end to end: the real `iop`, every CSV export ------------------------------------------------------
def luhn(nine: str) -> str:
    """An organisation number with a valid check digit (``NNNNNN-NNNN``)."""
    total = 0
    for i, ch in enumerate(nine):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return f"{nine[:6]}-{nine[6:]}{(10 - total % 10) % 10}"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The payloads stored as organisation names, contacts and addresses, case titles and challenges, a
    meeting's joint challenge and withdrawal reasons; then every CSV export, each a file (SQLite: the
    writers do not depend on the back-end)."""
    tmp = tmp_path_factory.mktemp("csv")
    cli = Cli(tmp, f"sqlite:///{tmp / 'iop.db'}")
    with cli.config.open("a", encoding="utf-8") as handle:
        handle.write('"revisor" = ["auditor"]\n')
    cli.ok("init")
    refs = []
    for i, payload in enumerate(PAYLOADS):
        number = luhn(f"80247{i}132")
        contact = f"Anna\r{PAYLOADS[1]}" if i == 0 else payload  # a CR inside: the register shows it
        cli.ok(
            "org",
            "add",
            "--name",
            payload,
            "--org-number",
            number,
            "--legal-form",
            "ideell_forening",
            "--contact-name",
            contact,
            "--address",
            payload,
        )
        refs.append(
            cli.ok(
                "--actor",
                "anna",
                "case",
                "open",
                "--org",
                number,
                "--municipality",
                "Stenungsund",
                "--title",
                payload,
                "--challenge",
                payload,
            ).out.strip()
        )
    signed, *others = refs
    cli.ok("--actor", "anna", "case", "fire", signed, "start_dialogue", "--reason", PAYLOADS[0])
    cli.ok(
        "--actor",
        "anna",
        "case",
        "record",
        signed,
        "meeting",
        "--held-on",
        str(today()),
        "--joint-challenge",
        PAYLOADS[0],
    )
    cli.ok("--actor", "anna", "case", "fire", signed, "submit_for_assessment", "--reason", f"Klar\r{PAYLOADS[1]}")
    prepare_signing(cli, signed, today().replace(day=1))
    cli.ok("--actor", "eva.lind", "case", "fire", signed, "sign")
    for ref, payload in zip(others, PAYLOADS[1:], strict=True):
        cli.ok("--actor", "anna", "case", "fire", ref, "withdraw", "--reason", payload)
    out = tmp / "exports"
    out.mkdir()
    files = {name: out / f"{name}.csv" for name in ("register", "annual", "annual_protected", "audit")}
    register = subprocess.run(
        [*IOP, "report", "register", "--format", "csv"], env=cli.env, capture_output=True, timeout=120, check=True
    )  # bytes: text mode would turn a CR into a line feed
    files["register"].write_bytes(register.stdout)
    cli.ok("report", "annual", "--year", str(today().year), "--format", "csv", "--output", str(files["annual"]))
    cli.ok(
        "--actor",
        "revisor",
        "report",
        "annual",
        "--year",
        str(today().year),
        "--format",
        "csv",
        "--include-protected",
        "--output",
        str(files["annual_protected"]),
    )
    cli.ok("--actor", "revisor", "audit", "export", "--format", "csv", "--output", str(files["audit"]))
    return files


def read(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


@pytest.mark.slow
def test_every_csv_export_neutralises_the_payloads(exports: dict[str, Path]) -> None:
    texts = {name: read(path) for name, path in exports.items()}
    assert_safe(texts)
    hyperlink = "'" + PAYLOADS[0]
    for name, text in texts.items():
        found = set(cells(text))
        assert hyperlink in found, f"{name}: the payload never reached this export"
    register = list(cells(texts["register"]))  # organisation, activity and address of the signed case
    assert register.count(hyperlink) == 3 and f"Anna\r{PAYLOADS[1]}" in register
    for payload in PAYLOADS[1:5]:  # titles in the annual report; reasons in the log
        assert "'" + payload in set(cells(texts["annual"])), payload
        assert "'" + payload in set(cells(texts["audit"])), payload
    assert f"Klar\r{PAYLOADS[1]}" in set(cells(texts["audit"]))
    assert "'@admin" in set(cells(texts["audit"]))  # the administration chain's ref is text too
    assert ["contributions_agreed", "municipality", "money", "SEK", "340000.00"] in list(
        csv.reader(io.StringIO(texts["annual"], newline=""))
    )  # the agreed amount is still a number


# -- LibreOffice: what a spreadsheet makes of them -----------------------------------------------------
# Comma, double quote, UTF-8, from line 1, standard columns, default language, quoted fields not forced to
# text, special numbers detected, then (import) "evaluate formulas" ON: the neutralising must do the work.
CSV_IMPORT = "CSV:44,34,76,1,,0,false,true,false,false,false,-1,true"
NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
}
SOFFICE_TIMEOUT = 180


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("LibreOffice (soffice) is required in CI (.ci/run installs libreoffice-calc-nogui)")
        pytest.skip("LibreOffice (soffice) is not installed; apt-get install libreoffice-calc-nogui")
    return found


@pytest.fixture(scope="module")
def calc_present() -> str:
    """soffice's path; asked before the exports are built, so a machine without it skips at once."""
    return soffice()


def calc_cells(csv_files: list[Path], tmp: Path) -> dict[str, list[tuple[str | None, str | None, str]]]:
    """Open each CSV in LibreOffice Calc (headless, a profile of its own) and save it as flat ODS; per file,
    every non-empty cell as (formula, value type, shown text)."""
    out = tmp / "calc"
    done = subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation={(tmp / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            f"--infilter={CSV_IMPORT}",
            "--convert-to",
            "fods",
            "--outdir",
            str(out),
            *map(str, csv_files),
        ],
        env={**os.environ, "HOME": str(tmp)},
        capture_output=True,
        text=True,
        timeout=SOFFICE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = {}
    for path in csv_files:
        fods = out / f"{path.stem}.fods"
        assert fods.is_file(), f"soffice wrote no {fods.name}\n{done.stdout}{done.stderr}"
        found[path.name] = [
            (
                cell.get(f"{{{NS['table']}}}formula"),
                cell.get(f"{{{NS['office']}}}value-type"),
                "\n".join(shown(p) for p in cell.iterfind("text:p", NS)),
            )
            for cell in ET.parse(fods).iterfind(".//table:table-cell", NS)
            if cell.get(f"{{{NS['office']}}}value-type") is not None
        ]
    return found


def shown(paragraph: ET.Element) -> str:
    """A text:p as text: a text:tab is a tab, text:s one or more spaces, text:line-break a line feed."""
    special = {f"{{{NS['text']}}}tab": "\t", f"{{{NS['text']}}}line-break": "\n"}
    out = [paragraph.text or ""]
    for child in paragraph:
        if child.tag == f"{{{NS['text']}}}s":
            out.append(" " * int(child.get(f"{{{NS['text']}}}c", "1")))
        else:
            out.append(special.get(child.tag, "".join(child.itertext())))
        out.append(child.tail or "")
    return "".join(out)


@pytest.mark.slow
def test_libreoffice_evaluates_no_formula(calc_present: str, exports: dict[str, Path], tmp_path: Path) -> None:
    every_payload = tmp_path / "every_payload.csv"  # the tab and CR payloads, which the CLI trims at input
    every_payload.write_text(
        register_csv(
            [dict.fromkeys((k for k, _, _ in REGISTER_COLUMNS), p) for p in PAYLOADS] + [{"title": "-250000.00"}]
        ),
        encoding="utf-8",
        newline="",
    )
    control = tmp_path / "control.csv"  # the same payloads unprotected: proves Calc would evaluate them
    with control.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([[p] for p in ("=1+2", PAYLOADS[0])])
    calc = calc_cells([*exports.values(), every_payload, control], tmp_path)

    assert [(f, t) for f, _, t in calc.pop("control.csv")] == [
        ("of:=1+2", "3"),
        ('of:=HYPERLINK("http://evil.example";"x")', "x"),
    ]
    sources = {path.name: read(path) for path in [*exports.values(), every_payload]}
    for name, seen in calc.items():
        formulas = [(f, t) for f, _, t in seen if f is not None]
        assert not formulas, f"{name}: Calc evaluated {formulas}"
        shown = {t for _, kind, t in seen if kind == "string"}
        quoted = {c.replace("\r\n", "\n").replace("\r", "\n") for c in cells(sources[name]) if c.startswith("'")}
        assert quoted and quoted <= shown, f"{name}: {quoted - shown} not shown as the text written"
        assert "3" not in shown and "x" not in shown
    assert ("float", "-250000") in {(k, t) for _, k, t in calc["every_payload.csv"]}  # a number stays a number


@pytest.mark.slow
def test_the_service_writes_the_same_safe_csv(exports: dict[str, Path]) -> None:
    url = f"sqlite:///{exports['audit'].parent.parent / 'iop.db'}"
    with Iop.connect(url, settings=Settings(), audit_log=False) as iop:
        token = iop.create_token(name="csv-auditor", roles=["auditor", "officer"])["token"]
        with TestClient(create_app(iop)) as client:
            got = {}
            for name, path, query in (
                ("register", "/v1/reports/register", {}),
                ("annual", "/v1/reports/annual", {"year": today().year}),
                ("audit", "/v1/audit/export", {}),
            ):
                response = client.get(
                    path, params={**query, "format": "csv"}, headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 200, response.text
                got[name] = response.content.decode("utf-8")
    assert_safe(got)
    assert got["register"] == read(exports["register"]) and got["annual"] == read(exports["annual"])
    assert "'" + PAYLOADS[0] in set(cells(got["audit"])) and f"Klar\r{PAYLOADS[1]}" in set(cells(got["audit"]))
