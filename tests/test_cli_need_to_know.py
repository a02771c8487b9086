"""Need to know end to end: a real ``iop`` subprocess on SQLite and PostgreSQL (issue #16, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import Backend, Cli
from tests.server_helpers import rows

PHONE = "070-1234567"


@pytest.fixture
def cli(backend: Backend, tmp_path: Path) -> Cli:
    """Every login is registrar and officer (the helpers' settings); kim is a coordinator."""
    return Cli(tmp_path, backend.url)


def test_case_show_assign_and_unassign_with_the_real_iop(cli: Cli, backend: Backend) -> None:
    cli.ok("init")
    cli.sh_ok(
        "org add --name 'Kvinnojouren i Stenungsund' --org-number 802479-1322 --legal-form ideell_forening "
        f"--protected --address 'Hemlig adress 1' --contact-phone {PHONE}"
    )
    ref = cli.sh_ok(
        "--actor anna case open --org 802479-1322 --municipality Stenungsund --title 'Skyddat boende' "
        "--challenge 'Skydd och stöd'"
    ).out.strip()

    def show(who: str) -> dict[str, str]:
        organisation: dict[str, str] = cli.ok("--json", "--actor", who, "case", "show", ref).json()["organisation"]
        return organisation

    def logged() -> list[tuple[str, str]]:
        return [(str(a), str(b)) for a, b in rows(backend, "SELECT actor, action FROM access_events ORDER BY id")]

    assert (show("anna")["address"], show("anna")["contact_phone"]) == ("Hemlig adress 1", PHONE)
    assert logged() == [("anna", "case show"), ("anna", "case show")]
    assert show("olle")["address"] == "(skyddad)" and len(logged()) == 2
    text = cli.ok("--actor", "olle", "--lang", "sv", "case", "show", ref).out
    assert "Kontaktuppgifter: (skyddad)" in text and PHONE not in text

    before = rows(backend, "SELECT count(*) FROM transition_log")
    refused = cli.sh(f"--actor olle case assign {ref} olle")  # neither the case's officer nor a coordinator
    assert refused.status == 3 and "IOP-samordnare" in refused.err and "Traceback" not in refused.text
    bad = cli.sh(f"--json --actor anna case assign {ref} 'två ord'")
    assert bad.status == 6 and bad.json()["error"]["code"] == "invalid_input"
    assert rows(backend, "SELECT count(*) FROM transition_log") == before

    assert "olle är tilldelad som handläggare" in cli.sh_ok(f"--actor anna case assign {ref} olle").out
    text = cli.ok("--actor", "olle", "case", "show", ref).out
    assert "Tilldelade handläggare: olle" in text and f"Kontaktuppgifter: {PHONE}, Hemlig adress 1" in text
    assert logged()[-1] == ("olle", "case show")
    assert cli.sh_ok(f"--actor kim case unassign {ref} olle").out.strip() == f"{ref}: olle är inte längre tilldelad."
    assert show("olle")["address"] == "(skyddad)" and len(logged()) == 3
    missing = cli.sh(f"--actor kim case unassign {ref} olle")
    assert missing.status == 4

    history = cli.ok("--json", "case", "history", ref).json()
    assert [(r["actor"], r["data"]["assignment"]) for r in history if r["trigger"] == "record:assignment"] == [
        ("anna", {"login": "olle", "removed": False}),
        ("kim", {"login": "olle", "removed": True}),
    ]
    cli.sh_ok(f"--actor anna case fire {ref} start_dialogue --data note='ring {PHONE}'")
    masked = cli.ok(
        "--actor", "olle", "audit", "export", "--include-protected", "--case", ref
    ).out  # olle runs none now
    assert PHONE not in masked and "ring (skyddad)" in masked and len(logged()) == 3
    assert PHONE in cli.ok("--actor", "anna", "audit", "export", "--include-protected", "--case", ref).out
    assert logged()[-1] == ("anna", "audit export")
    organisation = cli.ok("--json", "--actor", "anna", "org", "show", "802479-1322").json()
    assert organisation["address"] == "Hemlig adress 1" and logged()[-1] == ("anna", "org show")
    assert cli.ok("--json", "audit", "verify").json()["ok"] is True
