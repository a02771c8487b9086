"""Guidelines as versioned, logged data: who loaded which content, and verify's check of the table."""

from __future__ import annotations

import os
import pwd
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from iop_workflow import Iop
from iop_workflow.errors import NotPermitted
from iop_workflow.resources import config_dir, shipped_guidelines
from iop_workflow.store import guidelines as store
from tests.cli_helpers import Backend, Cli, sqlite_dump
from tests.helpers import add_orgs, to_assessment

STENUNGSUND = "Stenungsund-IOP"


def _local_copy(tmp_path: Path, title: str, name: str = "local.toml") -> Path:
    """Stenungsund's shipped file with another title: new content, the same ref."""
    text = (config_dir() / "guidelines" / "stenungsund.toml").read_text(encoding="utf-8")
    lines = [f'title = "{title}"' if line.startswith("title = ") else line for line in text.splitlines()]
    assert lines != text.splitlines()
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _chain(iop: Iop, ref: str) -> list[dict[str, object]]:
    return list(iop.export(case=f"@guideline:{ref}"))


def test_init_logs_each_shipped_guideline_as_system_run_by_the_os_login(iop: Iop) -> None:
    login = pwd.getpwuid(os.getuid()).pw_name
    for g in shipped_guidelines():
        (rec,) = _chain(iop, g.ref)
        assert (rec["actor"], rec["trigger"], rec["os_user"]) == ("system", "guideline:load", login)
        data = rec["data"]
        assert isinstance(data, dict)
        assert data["version"] == 1 and data["guideline"] == store.content_of(g)
        assert data["content_hash"] == store.content_hash(g)
    # A second init loads nothing and writes nothing.
    again = iop.init()
    assert set(again["guidelines"].values()) == {"unchanged"} and again["guidelines_recorded"] == []
    assert all(len(_chain(iop, g.ref)) == 1 for g in shipped_guidelines())
    assert iop.verify().ok


def test_loading_by_hand_needs_a_coordinator_and_writes_nothing_otherwise(iop: Iop, tmp_path: Path) -> None:
    path = _local_copy(tmp_path, "Lokal version")
    records = iop.export().count()
    with pytest.raises(NotPermitted) as refused:
        iop.load_guideline_file(path, actor="anna")
    assert refused.value.details()["needs"] == "coordinator"
    assert iop.export().count() == records
    assert iop.guideline(STENUNGSUND).title != "Lokal version"

    assert iop.load_guideline_file(path, actor="kim") == {STENUNGSUND: "updated"}
    assert iop.load_guideline_file(path, actor="kim") == {STENUNGSUND: "unchanged"}
    shown = next(g for g in iop.guideline_dicts() if g["ref"] == STENUNGSUND)
    assert (shown["title"], shown["version"], shown["loaded_by"]) == ("Lokal version", 2, "kim")
    last = _chain(iop, STENUNGSUND)[-1]
    assert (last["actor"], last["roles"]) == ("kim", ["coordinator"])
    assert iop.verify().ok


def test_a_new_version_leaves_a_case_bound_to_the_version_it_was_assessed_under(iop: Iop, tmp_path: Path) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    bound = iop.case(ref)["guideline"]
    iop.load_guideline_file(_local_copy(tmp_path, "Reviderade riktlinjer"), actor="kim")
    with iop.app.db.read() as s:
        case_gid = s.execute(sa.text("SELECT guideline_id FROM cases WHERE ref = :r"), {"r": ref}).scalar_one()
        versions = dict(
            s.execute(sa.text("SELECT id, version FROM guidelines WHERE ref = :r"), {"r": STENUNGSUND}).all()
        )
    assert versions[case_gid] == 1 and sorted(versions.values()) == [1, 2]
    assert iop.case(ref)["guideline"] == bound
    assert iop.guideline(STENUNGSUND).title == "Reviderade riktlinjer"  # new cases take the current one
    assert iop.verify().ok


def test_two_loads_at_once_make_two_versions_in_order(iop: Iop, tmp_path: Path) -> None:
    paths = [_local_copy(tmp_path, f"Samtidig {i}", f"v{i}.toml") for i in range(2)]
    results: list[dict[str, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def load(path: Path) -> None:
        start.wait()
        try:
            results.append(iop.load_guideline_file(path, actor="kim"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and results == [{STENUNGSUND: "updated"}] * 2
    chain = _chain(iop, STENUNGSUND)
    assert [r["data"]["version"] for r in chain] == [1, 2, 3]  # type: ignore[index]
    assert iop.verify().ok


def test_init_after_a_local_load_keeps_the_local_version(backend: Backend, tmp_path: Path) -> None:
    cli = Cli(tmp_path, backend.url)
    cli.ok("init")
    path = _local_copy(tmp_path, "Kommunens egen version")
    assert cli.ok("--json", "--actor", "kim", "guideline", "load", str(path)).json() == {STENUNGSUND: "updated"}
    again = cli.ok("--json", "init").json()
    assert again["guidelines"][STENUNGSUND] == "skipped" and again["guidelines_skipped"] == [STENUNGSUND]
    assert cli.ok("--json", "guideline", "show", STENUNGSUND).json()["title"] == "Kommunens egen version"
    assert "en lokalt inläst version gäller" in cli.ok("init").out
    cli.ok("audit", "verify")


def test_guideline_load_refuses_another_role_over_the_cli(backend: Backend, tmp_path: Path) -> None:
    cli = Cli(tmp_path, backend.url)
    cli.ok("init")
    before = sqlite_dump(backend.path) if backend.path is not None else None
    refused = cli("--actor", "anna", "guideline", "load", str(_local_copy(tmp_path, "Otillåten")))
    assert refused.status == 3, refused.text
    assert "coordinator" in refused.err and "Traceback" not in refused.text
    if backend.path is not None:
        assert sqlite_dump(backend.path) == before


@pytest.mark.parametrize(
    ("edit", "problem", "names"),
    [
        (
            "UPDATE guidelines SET valid_until = '2099-12-31' WHERE ref = 'Eksjö-IOP'",
            "guideline_differs_from_log",
            "valid_until",
        ),
        (
            "UPDATE criteria SET text_sv = 'Ändrat i smyg' WHERE guideline_id = "
            "(SELECT id FROM guidelines WHERE ref = 'Eksjö-IOP')",
            "guideline_differs_from_log",
            "criteria",
        ),
        ("UPDATE guidelines SET log_seq = NULL WHERE ref = 'Eksjö-IOP'", "guideline_without_record", "schema 0005"),
        (
            "UPDATE guidelines SET log_seq = (SELECT min(seq) FROM transition_log WHERE case_ref = '@admin') "
            "WHERE ref = 'Eksjö-IOP'",
            "guideline_record_mismatch",
            "is not this version's load or latest confirm record",
        ),
    ],
    ids=["row", "criterion", "unlinked", "relinked"],
)
def test_a_guideline_edited_behind_the_logs_back_is_named_by_verify(
    backend: Backend, tmp_path: Path, edit: str, problem: str, names: str
) -> None:
    cli = Cli(tmp_path, backend.url)
    cli.ok("init")
    cli.ok("audit", "verify")
    backend.execute(edit)
    found = cli("--json", "audit", "verify")
    assert found.status == 7, found.text
    (named,) = found.json()["problems"]
    assert (named["guideline_ref"], named["version"], named["problem"]) == ("Eksjö-IOP", 1, problem)
    assert names in named["detail"]
    assert "riktlinje Eksjö-IOP v1" in cli("audit", "verify").out
