"""Decisions that bind through the real ``iop``: a body the municipality does not have, an early end
without a decision, notice given with --notice-on and the scheduler's tick ending the case."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.cli_helpers import Backend, Cli, prepare_signing, to_assessment, today


@pytest.fixture
def cli(backend: Backend, tmp_path: Path) -> Cli:
    return Cli(tmp_path, backend.url)


def test_decision_bodies_early_ends_and_notice_through_the_cli(cli: Cli) -> None:
    ref = to_assessment(cli)
    prepare_signing(cli, ref, today())
    day = today().isoformat()

    refused = cli(
        "--actor",
        "eva.lind",
        "case",
        "record",
        ref,
        "decision",
        "--body",
        "Fritidsgården",
        "--decided-on",
        day,
        "--minutes-ref",
        "SN § 12/2026",
    )
    assert refused.status == 6, refused.text
    assert "Fritidsgården" in refused.err and "Kommunfullmäktige, Kommunstyrelsen, Socialnämnden" in refused.err
    assert "Traceback" not in refused.text
    as_json = cli(
        "--json",
        "--lang",
        "en",
        "--actor",
        "eva.lind",
        "case",
        "record",
        ref,
        "decision",
        "--body",
        "Fritidsgården",
        "--decided-on",
        day,
        "--minutes-ref",
        "SN § 12/2026",
    )
    assert as_json.status == 6 and as_json.json()["error"]["code"] == "invalid_input"
    assert "choose one of" in as_json.json()["error"]["message"]

    cli.ok(
        "--actor",
        "eva.lind",
        "case",
        "record",
        ref,
        "decision",
        "--body",
        "socialnämnden",
        "--decided-on",
        day,
        "--minutes-ref",
        "SN § 12/2026",
    )
    cli.ok("--actor", "eva.lind", "case", "fire", ref, "sign")
    cli.ok("--actor", "anna", "case", "fire", ref, "activate")

    early = cli("--actor", "anna", "case", "fire", ref, "end", "--end-reason", "completed", "--reason", "Klart")
    assert early.status == 3
    assert "inget beslut om att avsluta det i förtid är registrerat" in early.err

    legal = cli(
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
    )
    assert legal.status == 3 and "det kräver behörigheten Jurist (`iop role grant anna legal`)" in legal.err

    fired = cli.ok(
        "--json",
        "--actor",
        "eva.lind",
        "case",
        "fire",
        ref,
        "terminate",
        "--notice-on",
        day,
        "--reason",
        "Föreningen avvecklar verksamheten",
    ).json()
    ends_on = fired["record"]["data"]["notice"]["ends_on"]
    assert fired["case"]["state"] == "active"
    notice_end = next(t for t in fired["case"]["timers"] if t["kind"] == "notice_end")
    assert notice_end == {
        "kind": "notice_end",
        "due_on": (date.fromisoformat(ends_on) + timedelta(days=1)).isoformat(),
        "action": "fire:end_by_notice",
    }
    planned = cli.ok("--json", "scheduler", "tick", "--dry-run", "--at", notice_end["due_on"]).json()
    timers = next(sweep for sweep in planned["sweeps"] if sweep["kind"] == "timers")
    assert [(i["case_ref"], i["action"], i["outcome"]) for i in timers["items"]] == [
        (ref, "fire:end_by_notice", "would_fire")
    ]
    shown = cli.ok("--json", "case", "show", ref).json()
    assert shown["state"] == "active"  # a dry run writes nothing
