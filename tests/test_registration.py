"""An organisation's registration under Lag (2022:900) (issue #16, item 5): recorded by a registrar
as a logged record, shown in org show and the register, refused for bad dates or roles, and
evaluated as the guideline criterion ``registered_idea_based``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iop_workflow import Iop
from iop_workflow.errors import EXIT_INVALID, EXIT_NOT_ALLOWED, InvalidInput, NotFound, NotPermitted
from tests.cli_helpers import Backend, Cli
from tests.helpers import ORG, add_orgs, prepare_signing, to_assessment

CHAIN = f"@org:{ORG}"
GUIDELINE = """
[guideline]
ref = "Stenungsund-REG"
municipality = "Stenungsunds kommun"
title = "Riktlinje med registreringskrav (test)"
status = "adopted"
decided_on = 2025-01-01
decided_by = "Kommunstyrelsen"
minutes_ref = "KS § 1/2025"
valid_from = 2025-01-01
owner = "Kommunstyrelsen"

[guideline.provenance.status]
source = "testets eget beslut"
quote = "KS § 1/2025"
verified = true

[guideline.provenance.decided_on]
source = "testets eget beslut"
quote = "KS § 1/2025"
verified = true

[guideline.provenance.decided_by]
source = "testets eget beslut"
quote = "KS § 1/2025"
verified = true

[guideline.provenance.minutes_ref]
source = "testets eget beslut"
quote = "KS § 1/2025"
verified = true

[guideline.provenance.valid_from]
source = "testets eget beslut"
quote = "KS § 1/2025"
verified = true

[guideline.provenance.owner]
source = "testets eget beslut"
quote = "KS § 1/2025"
verified = true

[[criteria]]
code = "initiated_by_org"
kind = "required"
text_sv = "Det är föreningen som tar initiativ till samarbetet."

[[criteria]]
code = "registered_idea_based"
kind = "eligibility"
text_sv = "Organisationen är registrerad som idéburen organisation (lag 2022:900)."
"""


def _chain(iop: Iop) -> list[dict[str, Any]]:
    """The organisation's chain: its records, none before the first (export knows no such chain then)."""
    try:
        return list(iop.export(case=CHAIN))
    except NotFound:
        return []


def test_a_registrar_records_the_registration_shown_and_logged(iop: Iop) -> None:
    add_orgs(iop)
    before = iop.organisation(ORG)
    assert (before["idea_based_registered_on"], before["idea_based_removed_on"]) == (None, None)
    shown = iop.record_registration(ORG, registered_on="2023-05-02", actor="anna")
    assert (shown["idea_based_registered_on"], shown["idea_based_removed_on"]) == ("2023-05-02", None)
    assert iop.organisation("8024791322")["idea_based_registered_on"] == "2023-05-02"
    removed = iop.record_registration(ORG, registered_on="2023-05-02", removed_on="2025-11-30", actor="anna")
    assert removed["idea_based_removed_on"] == "2025-11-30"

    records = _chain(iop)
    assert [(r["trigger"], r["actor"], r["data"]["registered_on"], r["data"]["removed_on"]) for r in records] == [
        ("org:registration", "anna", "2023-05-02", None),
        ("org:registration", "anna", "2023-05-02", "2025-11-30"),
    ]
    assert records[0]["data"]["act"] == "SFS 2022:900"
    assert iop.verify().ok


@pytest.mark.parametrize(
    ("actor", "fields", "error", "says"),
    [
        ("eva", {"registered_on": "2024-01-10"}, NotPermitted, "registrar"),
        ("anna", {"registered_on": "2022-12-31"}, InvalidInput, "lagens ikraftträdande (2023-01-01)"),
        ("anna", {"registered_on": "2026-01-13"}, InvalidInput, "i dag (2026-01-12)"),
        ("anna", {"registered_on": "2024-13-01"}, InvalidInput, "registered_on"),
        (
            "anna",
            {"registered_on": "2024-05-01", "removed_on": "2024-04-30"},
            InvalidInput,
            "ligger före registreringen (2024-05-01)",
        ),
        ("anna", {"registered_on": "2024-05-01", "removed_on": "2027-01-01"}, InvalidInput, "removed_on"),
    ],
)
def test_a_bad_date_or_role_is_refused_and_nothing_written(
    iop: Iop, actor: str, fields: dict[str, str], error: type[Exception], says: str
) -> None:
    add_orgs(iop)
    with pytest.raises(error) as refused:
        iop.record_registration(ORG, actor=actor, **fields)
    assert refused.value.exit_status == (EXIT_NOT_ALLOWED if error is NotPermitted else EXIT_INVALID)  # type: ignore[attr-defined]
    assert says in refused.value.message("sv")  # type: ignore[attr-defined]
    assert iop.organisation(ORG)["idea_based_registered_on"] is None
    assert _chain(iop) == []


def test_the_register_shows_the_registration(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    prepare_signing(iop, ref)
    iop.fire(ref, "sign", actor="eva")
    iop.record_registration(ORG, registered_on="2024-02-01", actor="anna")
    [row] = iop.register()
    assert (row["ref"], row["idea_based_registered_on"], row["idea_based_removed_on"]) == (ref, "2024-02-01", None)


def test_a_guideline_may_require_the_registration_on_the_decision_date(iop: Iop, tmp_path: Path) -> None:
    path = tmp_path / "reg.toml"
    path.write_text(GUIDELINE, encoding="utf-8")
    assert iop.load_guideline_file(path, actor="kim") == {"Stenungsund-REG": "added"}
    assert {g["ref"]: g["municipality_code"] for g in iop.guideline_dicts()}["Stenungsund-REG"] == "1415"
    add_orgs(iop)
    ref = to_assessment(iop)
    assert iop.case(ref)["guideline"]["ref"] == "Stenungsund-REG"
    with pytest.raises(InvalidInput, match="registered_idea_based"):
        iop.assess(ref, "registered_idea_based", "met", note="Registrerad", actor="anna")
    prepare_signing(iop, ref)  # assesses the gating criteria the rules do not evaluate themselves

    def sign_reasons() -> list[str]:
        sign = next(o for o in iop.options(ref, actor="eva") if o["trigger"] == "sign")
        return [r["code"] for r in sign["reasons"]]

    assert sign_reasons() == ["not_registered_idea_based"]
    iop.record_registration(ORG, registered_on="2024-02-01", removed_on="2025-06-30", actor="anna")
    assert sign_reasons() == ["not_registered_idea_based"]  # removed before the decision (2026-01-12)
    message = next(
        r["message"] for o in iop.options(ref, actor="eva", lang="en") if o["trigger"] == "sign" for r in o["reasons"]
    )
    assert "was removed on 2025-06-30" in message and "on 2026-01-12" in message
    iop.record_registration(ORG, registered_on="2024-02-01", actor="anna")
    assert sign_reasons() == []
    iop.fire(ref, "sign", actor="eva")
    assert iop.case(ref)["state"] == "signed"
    assert iop.verify().ok


def test_the_real_iop_records_and_shows_the_registration(backend: Backend, tmp_path: Path) -> None:
    cli = Cli(tmp_path, backend.url)
    cli.ok("init")
    cli.sh_ok(f"org add --name 'Kvinnojouren i Stenungsund' --org-number {ORG} --legal-form ideell_forening")
    said = cli.sh_ok(f"--actor anna org registration {ORG} --registered-on 2023-05-02")
    assert "registrerad som idéburen organisation (lag 2022:900) 2023-05-02" in said.out
    assert "Registrerad enligt lag (2022:900): 2023-05-02" in cli.sh_ok(f"org show {ORG}").out
    assert cli.sh_ok(f"--json org show {ORG}").json()["idea_based_registered_on"] == "2023-05-02"
    bad = cli.sh(f"--json --actor anna org registration {ORG} --registered-on 2020-01-01")
    assert bad.status == 6 and bad.json()["error"]["details"]["field"] == "registered_on"
    order = cli.sh(f"--actor anna org registration {ORG} --registered-on 2023-06-01 --removed-on 2023-05-01")
    assert order.status == 6 and "ligger före registreringen (2023-06-01)" in order.err
    assert "Traceback" not in order.text
    history = cli.sh_ok(f"--json audit export --case @org:{ORG}").out.strip().splitlines()
    assert len(history) == 1 and '"org:registration"' in history[0]
    assert cli.sh_ok("--json audit verify").json()["ok"]
