"""Races between real ``iop`` processes on one database, on SQLite and PostgreSQL.

Eight processes, released together through a gate, fire the same steps on the same
cases with ``--from-file``, each line carrying the version the officer read
(``if_version``): per case and step exactly one process wins, every other one gets
the conflict (exit 5) and writes nothing. Officers on different cases never wait
for each other beyond the busy timeout: every one of them succeeds.

CI runs 24 cases; ``IOP_RACE_CASES=100`` runs the full size of issue #6.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from iop_workflow import ConcurrentUpdate, FakeClock, Iop
from iop_workflow.settings import Settings
from tests.cli_helpers import Backend, Cli, Result
from tests.conftest import STOCKHOLM
from tests.helpers import add_orgs, open_case, outside_cases
from tests.procs import Gang

PROCESSES = 8
CASES = int(os.environ.get("IOP_RACE_CASES", "24"))
# (trigger, the version an officer sees before firing it, extra keys of the batch line)
STEPS: tuple[tuple[str, int, dict[str, Any]], ...] = (
    ("start_dialogue", 1, {}),
    ("withdraw", 2, {"reason": "Organisationen har ändrat sina planer"}),
)


def prepare(url: str, settings: Settings, n: int) -> list[str]:
    """``n`` cases in initiative, opened by anna in January 2026."""
    clock = FakeClock(datetime(2026, 1, 12, 9, tzinfo=STOCKHOLM))
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        add_orgs(iop)
        return [open_case(iop) for _ in range(n)]


def batch_file(path: Path, refs: list[str], *, versioned: bool) -> Path:
    """Every step for every case, step by step; with ``versioned`` each line says the version it expects."""
    lines = [
        {"ref": ref, "trigger": trigger, **extra, **({"if_version": version} if versioned else {})}
        for trigger, version, extra in STEPS
        for ref in refs
    ]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


def run_gang(cli: Cli, files: list[Path], tmp_path: Path) -> list[Result]:
    commands = [["--json", "--actor", "anna", "case", "fire", "--from-file", str(f)] for f in files]
    gang = Gang(cli.env, commands, tmp_path)
    gang.release()
    results = gang.finish()
    for result in results:
        assert "Traceback" not in result.text, result.err
    return results


def audit_stream(backend: Backend, cli: Cli) -> list[dict[str, Any]]:
    """The records the processes wrote to the JSON-lines audit stream."""
    path = backend.path.with_suffix(".audit.jsonl") if backend.path is not None else cli.data_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_cases(backend: Backend, settings: Settings, refs: list[str]) -> dict[tuple[str, str], int]:
    """Every case went open -> start_dialogue -> withdraw exactly once, its chain intact; (ref, trigger) -> seq."""
    seqs: dict[tuple[str, str], int] = {}
    with Iop.connect(backend.url, settings=settings, audit_log=False) as iop:
        for ref in refs:
            history = iop.history(ref)
            assert [(r["trigger"], r["case_seq"]) for r in history] == [
                ("open", 1),
                ("start_dialogue", 2),
                ("withdraw", 3),
            ], ref
            case = iop.case(ref)
            assert (case["state"], case["end_reason"], case["version"]) == ("ended", "withdrawn", 3)
            seqs.update({(ref, r["trigger"]): r["seq"] for r in history[1:]})
        report = iop.verify()
        assert report.ok and report.records == 3 * len(refs) + outside_cases(iop)  # + init's @-chains
    return seqs


def test_eight_processes_on_the_same_cases_one_wins_each_step(
    backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    refs = prepare(backend.url, settings, CASES)
    cli = Cli(tmp_path, backend.url)
    files = [batch_file(tmp_path / f"steps.{n}.jsonl", refs, versioned=True) for n in range(PROCESSES)]
    results = run_gang(cli, files, tmp_path)

    outcomes: Counter[tuple[str, str, str]] = Counter()
    done: dict[tuple[str, str], int] = {}
    for result in results:
        report = result.json()
        items = report["results"]
        assert len(items) == len(STEPS) * CASES
        statuses = {item["status"] for item in items}
        assert statuses <= {"done", "conflict"}, statuses  # a loser is never refused or failed
        assert result.status == (5 if "conflict" in statuses else 0), result.out[-500:]
        for item in items:
            outcomes[item["ref"], item["trigger"], item["status"]] += 1
            if item["status"] == "done":
                done[item["ref"], item["trigger"]] = item["seq"]
                continue
            error = item["error"]
            expected = ConcurrentUpdate(
                case_ref=item["ref"], **{k: error["details"][k] for k in ("expected_version", "found_version")}
            )
            assert (error["code"], item["exit_status"]) == ("concurrent_update", 5)
            assert error["message"] == expected.message("sv") and "ändrades av någon annan" in error["message"]
            assert error["details"]["found_version"] > error["details"]["expected_version"]
    for ref in refs:
        for trigger, _version, _extra in STEPS:
            assert outcomes[ref, trigger, "done"] == 1, (ref, trigger)
            assert outcomes[ref, trigger, "conflict"] == PROCESSES - 1, (ref, trigger)

    seqs = check_cases(backend, settings, refs)
    assert done == seqs  # each winner's record is the one in the log
    stream = audit_stream(backend, cli)
    assert sorted((r["case_ref"], r["trigger"]) for r in stream) == sorted(seqs)  # one line per record, no more
    assert len({r["hash"] for r in stream}) == len(stream)


def test_officers_on_different_cases_never_block_each_other(
    backend: Backend, tmp_path: Path, settings: Settings
) -> None:
    """Eight officers, each on cases of their own, at once: every step succeeds (no exit 5, no exit 8)."""
    refs = prepare(backend.url, settings, CASES)
    cli = Cli(tmp_path, backend.url)
    shares = [refs[n::PROCESSES] for n in range(PROCESSES)]
    files = [batch_file(tmp_path / f"mine.{n}.jsonl", share, versioned=False) for n, share in enumerate(shares)]
    results = run_gang(cli, files, tmp_path)
    for result, share in zip(results, shares, strict=True):
        assert result.status == 0, result.text[-1000:]
        report = result.json()
        assert (report["done"], report["failed"]) == (len(STEPS) * len(share), 0)
    check_cases(backend, settings, refs)
