"""``iop case import FILE`` (issue #16, item 7): an existing partnership comes in with its history.

Every step goes through the live service functions, as of its own day, in one transaction: the
shipped Stenungsund 2020 example is refused with ``guideline_unverified`` until the guideline is
confirmed, then reaches ``active``; a refused file writes nothing and names its entry.
"""

from __future__ import annotations

import hashlib
import json
import threading
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from iop_workflow import Iop
from iop_workflow.errors import DefinitionError, InvalidInput, NotPermitted, TransitionNotAllowed
from iop_workflow.resources import data_root
from iop_workflow.server.app import create_app
from tests.cli_helpers import Backend, Cli
from tests.helpers import TEST_DECISION
from tests.server_helpers import WRITTEN_TABLES

EXAMPLE = data_root() / "config" / "imports" / "stenungsund-kvinnojouren-2020.toml"
TABLES = (*WRITTEN_TABLES, "timers")


def snapshot(iop: Iop) -> dict[str, int]:
    with iop.app.db.engine.connect() as conn:
        return {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


def confirm(iop: Iop) -> None:
    iop.confirm_guideline("Stenungsund-IOP", actor="kim", **TEST_DECISION)


def variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """The shipped example with each ``old`` replaced by its ``new`` (each ``old`` occurs in it once)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "variant.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(iop: Iop, path: Path, error: type[Exception], actor: str = "kim") -> Any:
    """Import ``path``, expect ``error``, and check nothing at all was written."""
    before = snapshot(iop)
    with pytest.raises(error) as info:
        iop.import_case(path, actor=actor)
    assert snapshot(iop) == before
    assert iop.cases() == []
    return info.value


def test_the_stenungsund_example_is_refused_while_the_guideline_is_unverified_and_active_once_confirmed(
    iop: Iop,
) -> None:
    error = refused(iop, EXAMPLE, TransitionNotAllowed)
    assert "guideline_unverified" in [r.code for r in error.reasons]
    assert error.entry.endswith(": signing")
    assert error.all_details()["entry"] == error.entry
    assert error.message("sv").startswith(f"{EXAMPLE}: signing: ")

    confirm(iop)
    done = iop.import_case(EXAMPLE, actor="kim")
    digest = hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert (done["state"], done["sha256"], done["history_from"]) == ("active", digest, "2020-01-01")
    case = iop.case(done["ref"])
    assert case["state"] == "active" and case["state_since"] == "2021-06-21"  # the review's continue
    assert case["imported"] == {"sha256": digest, "history_from": "2020-01-01"}
    assert case["opened_on"] == iop.app.clock.today().isoformat() and case["officer"] == "kim"

    history = iop.history(done["ref"])
    assert len(history) == done["records"]
    assert {r["actor"] for r in history} == {"kim"} and {tuple(r["roles"]) for r in history} == {("coordinator",)}
    assert history[0]["data"]["imported"]["sha256"] == digest
    steps = {r["trigger"]: r["data"]["history"] for r in history}
    assert steps["sign"] == {"by": "karin.ek", "roles": ["signatory"], "on": "2020-06-10"}
    assert steps["activate"] == {"by": "system", "roles": ["system"], "on": "2020-07-01"}
    assert steps["record:legal-check"]["by"] == "lars.holm"
    sign = next(r for r in history if r["trigger"] == "sign")
    assert sign["data"]["decision"]["decided_on"] == "2020-05-25" and sign["guideline_ref"] == "Stenungsund-IOP"
    with iop.app.db.engine.connect() as conn:  # the fact rows name who did it historically
        assessors = set(conn.execute(sa.text("SELECT assessed_by FROM assessments")).scalars())
    assert assessors == {"anna.berg"}

    report = iop.verify()
    assert report.problems == [] and report.warnings == []


def test_the_same_file_twice_is_refused_naming_the_case_it_became(iop: Iop) -> None:
    confirm(iop)
    first = iop.import_case(EXAMPLE, actor="kim")["ref"]
    before = snapshot(iop)
    with pytest.raises(InvalidInput) as info:
        iop.import_case(EXAMPLE, actor="kim")
    assert info.value.exit_status == 6 and first in info.value.message("en")
    assert snapshot(iop) == before


def test_a_json_file_with_the_same_content_imports_the_same_way(iop: Iop, tmp_path: Path) -> None:
    confirm(iop)
    content = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    path = tmp_path / "kvinnojouren.json"
    path.write_text(json.dumps(content, default=lambda d: d.isoformat(), ensure_ascii=False), encoding="utf-8")
    done = iop.import_case(path, actor="kim")
    assert done["state"] == "active" and done["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("edit", "error", "says"),
    [
        (("[decision]", "[desicion]"), DefinitionError, "did you mean 'decision'?"),
        (("decided_on = 2020-05-25", 'decided_on = "2020-13-01"'), InvalidInput, "decision: Invalid value for on"),
        (
            ("held_on = 2020-02-17", "held_on = 2019-12-01"),
            InvalidInput,
            "the start of its imported history (2020-01-01)",
        ),
        (('"karin.ek" = ["signatory"]', '"karin.ek" = ["chief"]'), DefinitionError, "not a role a person holds"),
        (
            ('on = 2020-06-10\nby = "karin.ek"', 'on = 2020-02-01\nby = "karin.ek"'),
            InvalidInput,
            "signing: Invalid value for on ('2020-02-01'): is before the history's previous step (2020-03-02)",
        ),
        (('on = 2020-06-10\nby = "karin.ek"', 'on = 2020-06-10\nby = "nobody"'), DefinitionError, "names nobody"),
        (('party = "municipality"\n', ""), DefinitionError, "contributions[1].party: missing"),
    ],
)
def test_a_bad_file_is_refused_naming_its_entry_and_writes_nothing(
    iop: Iop, tmp_path: Path, edit: tuple[str, str], error: type[Exception], says: str
) -> None:
    confirm(iop)
    found = refused(iop, variant(tmp_path, edit), error)
    assert says in found.message("en")


def test_four_eyes_is_checked_on_the_files_names(iop: Iop, tmp_path: Path) -> None:
    confirm(iop)
    path = variant(
        tmp_path,
        ('"anna.berg" = ["registrar", "officer"]', '"anna.berg" = ["registrar", "officer", "signatory"]'),
        ('on = 2020-06-10\nby = "karin.ek"', 'on = 2020-06-10\nby = "anna.berg"'),
    )
    error = refused(iop, path, TransitionNotAllowed)
    assert [r.code for r in error.reasons] == ["four_eyes"] and "anna.berg" in error.message("en")


def test_the_legal_check_needs_a_jurist_in_the_file(iop: Iop, tmp_path: Path) -> None:
    confirm(iop)
    error = refused(
        iop, variant(tmp_path, ('"lars.holm" = ["legal"]', '"lars.holm" = ["officer"]')), TransitionNotAllowed
    )
    assert [r.code for r in error.reasons] == ["role_not_allowed"] and error.entry.endswith(": legal_check")


def test_a_live_fire_cannot_imitate_an_imported_step(iop: Iop) -> None:
    confirm(iop)
    ref = iop.import_case(EXAMPLE, actor="kim")["ref"]
    with pytest.raises(InvalidInput) as info:
        iop.fire(ref, "start_review", actor="kim", data={"history": "by karin.ek"})
    assert info.value.field == "data.history"


def test_only_a_coordinator_imports(iop: Iop) -> None:
    confirm(iop)
    error = refused(iop, EXAMPLE, NotPermitted, actor="anna")
    assert error.needs == "coordinator"


def test_facts_of_an_imported_case_are_bounded_by_its_declared_start(iop: Iop) -> None:
    confirm(iop)
    ref = iop.import_case(EXAMPLE, actor="kim")["ref"]
    # Opened today (2026-01-12), its history from 2020-01-01: a decision to end dated 2021 is within it.
    iop.record_decision(
        ref, actor="eva", body="Socialnämnden", decided_on="2021-03-01", minutes_ref="SN § 9/2021", subject="ending"
    )
    with pytest.raises(InvalidInput) as info:
        iop.record_decision(
            ref, actor="eva", body="Socialnämnden", decided_on="2019-12-31", minutes_ref="SN § 1/2019", subject="ending"
        )
    assert "den importerade historikens början (2020-01-01)" in info.value.message("sv")
    assert iop.verify().problems == []


def test_audit_verify_holds_the_import_mark_to_the_opening_record(iop: Iop) -> None:
    confirm(iop)
    ref = iop.import_case(EXAMPLE, actor="kim")["ref"]
    with iop.app.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET history_from = :d WHERE ref = :r"), {"d": date(2010, 1, 1), "r": ref})
    problems = iop.verify().problems
    assert [(p["case_ref"], p["problem"]) for p in problems] == [(ref, "import_mark_differs")]


def test_post_cases_imports_over_http(iop: Iop, tmp_path: Path) -> None:
    """The HTTP API takes the file's text; its digest is the file's, its refusals are problems naming the entry."""
    confirm(iop)
    token = iop.create_token(name="importer", roles=["coordinator"], municipalities=["Stenungsund"])["token"]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    bad = variant(tmp_path, ('"lars.holm" = ["legal"]', '"lars.holm" = ["officer"]'))
    with TestClient(create_app(iop)) as client:
        before = snapshot(iop)
        refusal = client.post(
            "/v1/cases/imports", headers=headers, json={"name": "bad.toml", "content": bad.read_text(encoding="utf-8")}
        )
        assert refusal.status_code == 409 and refusal.json()["details"]["entry"] == "bad.toml: legal_check"
        assert snapshot(iop) == before
        body = {"name": EXAMPLE.name, "content": EXAMPLE.read_text(encoding="utf-8")}
        made = client.post("/v1/cases/imports", headers=headers, json=body)
        assert made.status_code == 201, made.text
        done = made.json()
        assert done["state"] == "active" and done["sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
        assert made.headers["Location"] == f"/v1/cases/{done['ref']}"
        again = client.post("/v1/cases/imports", headers=headers, json=body)
        assert again.status_code == 422 and done["ref"] in again.json()["detail"]
    assert {r["actor"] for r in iop.history(done["ref"])} == {"token:importer"}
    assert iop.verify().problems == []


@pytest.fixture
def cli(backend: Backend, tmp_path: Path) -> Cli:
    return Cli(tmp_path, backend.url)


def test_case_import_through_the_cli(cli: Cli) -> None:
    cli.ok("init")
    first = cli("--actor", "kim", "--json", "case", "import", str(EXAMPLE))
    assert first.status == 3, first.text
    error = first.json()["error"]
    assert error["code"] == "transition_not_allowed" and error["details"]["entry"].endswith(": signing")
    assert "guideline_unverified" in [r["code"] for r in error["details"]["reasons"]]
    assert cli.ok("--json", "case", "list").json() == []

    cli.ok(
        "--actor",
        "kim",
        "guideline",
        "confirm",
        "Stenungsund-IOP",
        "--decided-on",
        TEST_DECISION["decided_on"],
        "--decided-by",
        TEST_DECISION["decided_by"],
        "--minutes-ref",
        TEST_DECISION["minutes_ref"],
    )
    done = cli.ok("--actor", "kim", "--json", "case", "import", str(EXAMPLE)).json()
    assert done["state"] == "active" and done["sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    shown = cli.ok("--json", "case", "show", done["ref"]).json()
    assert shown["imported"] == {"sha256": done["sha256"], "history_from": "2020-01-01"}
    assert "2020-01-01" in cli.ok("case", "show", done["ref"]).out
    assert cli.ok("--json", "audit", "verify").json()["problems"] == []


def test_an_imported_history_counts_in_the_years_it_happened_not_the_year_of_the_import(iop: Iop) -> None:
    confirm(iop)
    done = iop.import_case(EXAMPLE, actor="kim")
    this_year = iop.annual_report(year=iop.app.clock.today().year, municipality="Stenungsund", actor="kim")
    then = iop.annual_report(year=2020, municipality="Stenungsund", actor="kim")
    # 2020: opened in January, signed in June, active from July; a partnership running at the year's end.
    assert (then["events"]["opened"], then["events"]["signed"], then["events"]["activated"]) == (1, 1, 1)
    assert [m["counts"]["active"] for m in then["monthly"]][5:] == [0, 1, 1, 1, 1, 1, 1]
    # The year of the import: nothing was opened, signed or activated; the partnership was running all year.
    assert not any(this_year["events"].values())
    assert this_year["at_year_start"]["active"] == this_year["at_year_end"]["active"] == 1
    assert iop.case(done["ref"])["state"] == "active"


def test_the_same_file_imported_twice_at_once_becomes_one_case_and_one_refusal(iop: Iop) -> None:
    """Two coordinators import the same file at the same moment: one case, and the other is told it exists
    (exit 6), never a database error. On PostgreSQL both would pass the 'already imported' check before
    either commits, without the import's lock."""
    confirm(iop)
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def run() -> None:
        start.wait()
        try:
            outcomes.append(iop.import_case(EXAMPLE, actor="kim")["ref"])
        except Exception as exc:  # what each thread ended with, judged below
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refs = [o for o in outcomes if isinstance(o, str)]
    refusals = [o for o in outcomes if isinstance(o, InvalidInput)]
    assert len(refs) == 1 and len(refusals) == 1, outcomes
    assert refusals[0].exit_status == 6 and refs[0] in refusals[0].message("en")
    assert [c["ref"] for c in iop.cases()] == refs
    assert iop.verify().ok
