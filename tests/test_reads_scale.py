"""Reads that scale (issue 15, item 7): `case list` and `report register` in a constant number of
SQL statements, paged for people and streamed as JSON, on SQLite and PostgreSQL.

The cases are made through the real write path (a mix of states, facts, assignments and signed
partnerships), then grown by the reads benchmark's clones (re-chained, so the log still verifies).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from benchmarks.reads import grow
from iop_workflow import FakeClock, Iop
from iop_workflow.settings import Settings
from tests.cli_helpers import Backend, Cli
from tests.helpers import add_orgs, open_case, to_assessment, to_signed


def seed(iop: Iop, cases: int) -> None:
    """``cases`` cases through the write path: signed partnerships, assessments (one assigned), initiatives."""
    add_orgs(iop)
    for i in range(cases):
        if i % 3 == 0:
            to_signed(iop)
        elif i % 3 == 1:
            ref = to_assessment(iop)
            iop.assign(ref, "anna", actor="kim")
        else:
            open_case(iop)


@contextmanager
def statements(iop: Iop) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engine = iop.app.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def counted(iop: Iop, read: Callable[[], list[dict[str, Any]]]) -> tuple[int, int]:
    """(statements sent, rows given) by ``read``; run once before, so nothing is counted that runs once."""
    read()
    with statements(iop) as sent:
        rows = read()
    return len(sent), len(rows)


def reads(iop: Iop) -> dict[str, Callable[[], list[dict[str, Any]]]]:
    return {
        "case list": iop.cases,
        "case list --state signed": lambda: iop.cases(state="signed"),
        "first page": lambda: iop.case_page(limit=50).items,
        "streamed list": lambda: list(iop.iter_cases()),
        "report register": iop.register,
        "report register --include-protected": lambda: iop.register(include_protected=True, actor="revisor"),
        "an officer's report register --include-protected": lambda: iop.register(include_protected=True, actor="anna"),
    }


def test_list_and_register_read_in_as_many_statements_at_200_cases_as_at_10(iop: Iop, db_url: str) -> None:
    seed(iop, 10)
    small = {name: counted(iop, read) for name, read in reads(iop).items()}
    assert grow(db_url, 200) == 190
    large = {name: counted(iop, read) for name, read in reads(iop).items()}

    assert {name: n for name, (n, _rows) in large.items()} == {name: n for name, (n, _rows) in small.items()}
    assert small["case list"][1] == 10 and large["case list"][1] == 200
    assert large["first page"][1] == 50
    assert large["report register"][1] > 10 * small["report register"][1] / 2  # the partnerships grew with them


def test_a_listed_clone_shows_what_its_template_shows(iop: Iop, db_url: str) -> None:
    """The one statement gives each case its own open timers, organisation and guideline."""
    seed(iop, 3)
    before = iop.cases()
    grow(db_url, 6)
    after = iop.cases()
    assert [c["ref"] for c in after] == sorted(c["ref"] for c in after)
    for template, clone in zip(before, after[3:], strict=True):
        assert clone["ref"] != template["ref"]
        assert {**clone, "ref": template["ref"]} == template
    assert any(c["timers"] for c in after[3:]), "some clone has open timers, shown"
    assert iop.verify().ok


def test_pages_follow_each_other_in_ref_order(iop: Iop, db_url: str) -> None:
    seed(iop, 4)
    grow(db_url, 23)
    every = [c["ref"] for c in iop.cases()]
    seen: list[str] = []
    after = None
    while True:
        page = iop.case_page(limit=10, after=after)
        seen += [c["ref"] for c in page.items]
        assert iop.count_cases(after=page.items[-1]["ref"]) == len(every) - len(seen)
        if page.next is None:
            break
        assert page.next == page.items[-1]["ref"]
        after = page.next
    assert seen == every and len(every) == 23


# -- the CLI, in a real subprocess ------------------------------------------------------------------
@pytest.fixture
def cli(backend: Backend, tmp_path: Path, clock: FakeClock, settings: Settings) -> Cli:
    """120 cases (12 through the write path, the rest their clones) and ``iop`` on them."""
    with Iop.connect(backend.url, clock=clock, settings=settings, audit_log=tmp_path / "audit.jsonl") as iop:
        iop.init()
        seed(iop, 12)
    grow(backend.url, 120)
    return Cli(tmp_path, backend.url)


def refs_in(table: str) -> list[str]:
    return re.findall(r"IOP-\d{4}-\d+", table)


def test_case_list_shows_a_page_and_says_how_to_see_the_rest(cli: Cli) -> None:
    every = [c["ref"] for c in cli.ok("--json", "case", "list").json()]
    assert len(every) == 120

    first = cli.ok("case", "list")
    assert refs_in(first.out)[:50] == every[:50] and len(refs_in(first.out)) == 50 + 1  # and the next page's cursor
    assert (f"70 ärenden till. Nästa sida: samma kommando med --after {every[49]}; alla: --all.") in first.out

    second = cli.ok("--lang", "en", "case", "list", "--after", every[49])
    assert refs_in(second.out)[:50] == every[50:100]
    assert f"20 more cases. Next page: the same command with --after {every[99]}; all of them: --all." in second.out

    last = cli.ok("case", "list", "--after", every[99])
    assert refs_in(last.out) == every[100:] and "--after" not in last.out

    listed = cli.ok("case", "list", "--all")
    assert refs_in(listed.out) == every and "--all" not in listed.out
    assert refs_in(cli.ok("case", "list", "--limit", "7").out)[:7] == every[:7]


def test_case_list_json_streams_every_case_as_one_array_the_same_text_as_before(cli: Cli) -> None:
    out = cli.ok("--json", "case", "list").out
    listed = json.loads(out)
    assert out == json.dumps(listed, ensure_ascii=False, indent=2) + "\n"  # emit_json's text, element by element
    assert len(listed) == 120
    assert set(listed[0]) == {
        "ref",
        "state",
        "state_label",
        "end_reason",
        "municipality",
        "municipality_code",
        "title",
        "version",
        "organisation",
        "guideline",
        "timers",
    }
    page = cli.ok("--json", "case", "list", "--limit", "30", "--after", listed[9]["ref"]).json()
    assert page == listed[10:40]
    assert cli.ok("--json", "case", "list", "--state", "signed").json() == [c for c in listed if c["state"] == "signed"]


def test_report_register_json_streams_the_register(cli: Cli, backend: Backend, settings: Settings) -> None:
    out = cli.ok("report", "register", "--format", "json").out
    with Iop.connect(backend.url, settings=settings, audit_log=False) as iop:
        expected = iop.register()
    assert json.loads(out) == json.loads(json.dumps(expected, default=str))
    assert out == json.dumps(json.loads(out), ensure_ascii=False, indent=2) + "\n"
    assert len(expected) == 40  # the signed ones: every third of 120


def test_bad_list_options_are_refused_before_anything_is_printed(cli: Cli) -> None:
    both = cli("case", "list", "--all", "--limit", "5")
    assert both.status == 2 and "--all and --limit exclude each other" in both.err and both.out == ""
    bad = cli("--json", "case", "list", "--state", "limbo")
    assert bad.status == 6 and json.loads(bad.out)["error"]["code"] == "invalid_input"
    assert "Traceback" not in bad.text
    zero = cli("case", "list", "--limit", "0")
    assert zero.status == 2 and zero.out == ""


def test_case_list_shows_only_the_cases_of_the_municipalities_a_users_grants_cover(cli: Cli) -> None:
    """As `case show` (404 outside them) and `GET /v1/cases`: the list is scoped by the reader's grants, in
    the statement itself, so a page is full and the count of the rest is right."""
    org = cli.ok("--json", "case", "list", "--limit", "1").json()[0]["organisation"]["org_number"]
    for place in ("Mark", "Eksjö"):  # cases outside the reader's municipality, before and after theirs in ref order
        cli.ok(
            "--actor",
            "anna",
            "case",
            "open",
            "--org",
            org,
            "--municipality",
            place,
            "--title",
            "T",
            "--challenge",
            "Ett samhällsproblem",
        )
    every = cli.ok("--json", "case", "list").json()
    place = every[0]["municipality"]
    theirs = [c for c in every if c["municipality"] == place]
    assert 0 < len(theirs) < len(every)
    cli.ok("role", "grant", "lisa", "officer", "--municipality", place)
    assert cli.ok("--json", "--actor", "lisa", "case", "list").json() == theirs
    assert cli.ok("--json", "--actor", "lisa", "case", "list", "--limit", "3").json() == theirs[:3]
    first = cli.ok("--lang", "en", "--actor", "lisa", "case", "list", "--limit", "3")
    assert refs_in(first.out)[:3] == [c["ref"] for c in theirs[:3]]
    assert f"{len(theirs) - 3} more cases." in first.out
