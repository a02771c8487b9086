"""Swedish output has no untranslated code (issue #16 item 8, issue #14 item 4).

The codes are built from the workflow definition (states, triggers, record kinds, groups) and the
glossary (every code it labels) plus the shipped guidelines' criteria. A code may appear in Swedish
output only as command syntax, in backticks (`iop role grant eva signatory`); quotations (« », ” ”)
are the organisation's or the guideline's own words. The real ``iop demo`` and a set of refusals,
bad inputs and views run with ``--lang sv`` in a subprocess, and every line is scanned.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iop_workflow import glossary
from iop_workflow.errors import DefinitionError
from iop_workflow.resources import shipped_definition, shipped_guidelines
from tests.cli_helpers import Backend, Cli, prepare_signing, to_assessment, today

# A code whose Swedish label holds it as a word is Swedish itself (the legal form "stiftelse", "annan" in
# "annan form", the field "status"): left out by rule below. "organisation" and "period" are Swedish too; "system"
# is also the scheduler's login, shown as the actor like any login.
NOT_CODES = frozenset({"system", "organisation", "period"})
_SPARED = re.compile(r"`[^`\n]*`|«[^»\n]*»|”[^”\n]*”|\S*/\S*")


def codes() -> frozenset[str]:
    d = shipped_definition()
    found = set(d.states) | {t.trigger for t in d.transitions} | set(d.groups)
    found |= set(d.records) | {f"record:{kind}" for kind in d.records}
    for table in glossary.entries().values():
        found |= {code for code, (sv, _) in table.items() if code not in sv.lower().split()}
    for g in shipped_guidelines():
        found |= {c.code for c in g.criteria}
    return frozenset(found - NOT_CODES)


def untranslated(text: str, known: frozenset[str] | None = None) -> list[str]:
    """Each ``code in: line`` where a code stands outside backticks and quotations."""
    known = codes() if known is None else known
    pattern = re.compile(
        r"(?<![\w:-])(" + "|".join(re.escape(c) for c in sorted(known, key=len, reverse=True)) + r")(?![\w-])"
    )
    out = []
    for line in text.splitlines():
        for found in pattern.findall(_SPARED.sub(" ", line)):
            out.append(f"{found} in: {line.strip()}")
    return out


def test_the_scan_finds_codes_outside_backticks_and_spares_command_syntax() -> None:
    """Lines the demo and a refusal printed before the glossary: each is caught."""
    assert untranslated("  IOP-2024-0003  Avslutad (terminated)  Stenungsund") == [
        "terminated in: IOP-2024-0003  Avslutad (terminated)  Stenungsund"
    ]
    assert untranslated("      - anna får inte utföra 'sign'; det kräver någon av: signatory  [role_not_allowed]") == [
        "sign in: - anna får inte utföra 'sign'; det kräver någon av: signatory  [role_not_allowed]",
        "signatory in: - anna får inte utföra 'sign'; det kräver någon av: signatory  [role_not_allowed]",
        "role_not_allowed in: - anna får inte utföra 'sign'; det kräver någon av: signatory  [role_not_allowed]",
    ]
    assert untranslated("IOP-2023-0001  record:meeting: held_on=2023-10-02") == [
        "record:meeting in: IOP-2023-0001  record:meeting: held_on=2023-10-02",
        "held_on in: IOP-2023-0001  record:meeting: held_on=2023-10-02",
    ]
    spared = "det kräver behörigheten Behörig undertecknare (`iop role grant eva signatory`); «open dialogue»"
    assert untranslated(spared) == []
    assert untranslated("Juridisk form: stiftelse; Status: antagen") == []


def test_the_loader_refuses_a_code_without_a_label(monkeypatch: pytest.MonkeyPatch) -> None:
    glossary.check(shipped_definition())  # the shipped glossary labels every code of the definition and program
    shipped = glossary.entries()
    without = {
        **shipped,
        "role": {k: v for k, v in shipped["role"].items() if k != "signatory"},
        "verdict": {k: v for k, v in shipped["verdict"].items() if k != "not_met"},
    }
    monkeypatch.setattr(glossary, "entries", lambda: without)
    with pytest.raises(DefinitionError) as refused:
        glossary.check(shipped_definition())
    assert refused.value.problem == "no sv/en label for: role.signatory, verdict.not_met"


def test_a_glossary_entry_needs_both_languages() -> None:
    with pytest.raises(DefinitionError) as refused:
        glossary.parse({"role": {"officer": {"sv": "Handläggare"}}}, file="glossary.toml")
    assert (refused.value.key, refused.value.problem) == ("role.officer", "needs exactly `sv` and `en`")


def test_the_swedish_demo_shows_no_code(tmp_path: Path) -> None:
    cli = Cli(tmp_path, None)
    done = cli.ok("--lang", "sv", "demo")
    assert "Ärendena nu:" in done.out and "470 000,00 kr" in done.out
    assert untranslated(done.text) == []


@pytest.fixture
def cli(backend: Backend, tmp_path: Path) -> Cli:
    return Cli(tmp_path, backend.url)


def test_swedish_refusals_bad_inputs_and_views_show_no_code(cli: Cli) -> None:
    ref = to_assessment(cli)
    sv = ("--lang", "sv")
    cli.ok(
        "org",
        "add",
        "--name",
        "Vinst & Co AB",
        "--org-number",
        "556036-0793",
        "--legal-form",
        "aktiebolag",
        "--profit-motive",
    )
    refused = [
        cli(*sv, "--actor", "anna", "case", "fire", ref, "sign"),  # role and guards
        cli(*sv, "--actor", "anna", "case", "fire", ref, "withdraw"),  # a missing input
        cli(*sv, "--actor", "anna", "case", "fire", ref, "end", "--reason", "x"),  # wrong state
        cli(*sv, "--actor", "anna", "case", "record", ref, "review", "--held-on", str(today()), "--report-received"),
        cli(
            *sv,
            "--actor",
            "anna",
            "case",
            "record",
            ref,
            "legal-check",
            "--competence",
            "--procurement-not-required",
            "--no-competition-distortion",
            "--state-aid-basis",
            "non_economic",
            "--rationale",
            "x",
        ),
        cli(
            *sv,
            "--actor",
            "anna",
            "case",
            "open",
            "--org",
            "556036-0793",
            "--municipality",
            "Stenungsund",
            "--title",
            "t",
            "--challenge",
            "c",
        ),
        cli(
            *sv,
            "--actor",
            "anna",
            "case",
            "open",
            "--org",
            "802479-1322",
            "--municipality",
            "Atlantis",
            "--title",
            "t",
            "--challenge",
            "c",
        ),
        cli(*sv, "case", "show", "IOP-1999-0001"),
    ]
    assert [r.status for r in refused] == [3, 6, 3, 3, 3, 3, 6, 4], [r.text for r in refused]
    prepare_signing(cli, ref, today())
    views = [
        cli.ok(*sv, "--actor", "eva.lind", "case", "fire", ref, "sign"),
        cli.ok(*sv, "--actor", "anna", "case", "show", ref),
        cli.ok(*sv, "--actor", "anna", "case", "options", ref),
        cli.ok(*sv, "case", "history", ref),
        cli.ok(*sv, "case", "list"),
        cli.ok(*sv, "org", "list"),
        cli.ok(*sv, "--actor", "anna", "org", "show", "802479-1322"),
        cli.ok(*sv, "guideline", "show", "Stenungsund-IOP"),
        cli.ok(*sv, "guideline", "list"),
        cli.ok(*sv, "report", "annual", "--year", str(today().year)),
    ]
    assert "340 000,00 kr" in views[1].out and "Ekonomiska medel" in views[-1].out
    text = "\n".join(r.text for r in [*refused, *views])
    assert "behörigheten Behörig undertecknare (firmatecknare) (`iop role grant anna signatory`)" in text
    assert untranslated(text) == [], "\n".join(untranslated(text))
