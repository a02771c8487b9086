"""Export: the shipped JSON Schema, the audit stream's shape, filters, constant memory (both back-ends)."""

from __future__ import annotations

import json
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iop_workflow import Iop
from iop_workflow.audit.chain import GENESIS, LogRecord, seal
from iop_workflow.audit.export import csv_header, csv_line, jsonl_line, record_schema
from tests.helpers import GUIDELINE_CHAINS, SHELTER, add_orgs, open_case, outside_cases, to_assessment, to_signed

VALIDATOR = jsonschema.Draft202012Validator(record_schema())


def test_the_schema_is_valid_and_ships_in_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(record_schema())
    assert (Path(__file__).parents[1] / "iop_workflow" / "audit" / "record.schema.json").is_file()


def test_export_history_and_the_structlog_stream_share_one_shape(iop: Iop, tmp_path: Path) -> None:
    add_orgs(iop)
    to_signed(iop)
    exported = [jsonl_line(r) for r in iop.export()]
    assert exported, "nothing exported"
    for line in exported:
        VALIDATOR.validate(json.loads(line))
    iop.app.sink.close()
    stream = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert stream == exported  # byte for byte: `audit export` regenerates the stream
    ref = next(r["case_ref"] for r in map(json.loads, exported) if not r["case_ref"].startswith("@"))
    for record in iop.history(ref):
        VALIDATOR.validate(record)


def test_filters_and_csv(iop: Iop) -> None:
    add_orgs(iop)
    first = to_assessment(iop)
    iop.app.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]
    second = open_case(iop, "Mark", SHELTER)
    everything = list(iop.export())
    assert [r["seq"] for r in everything] == sorted(r["seq"] for r in everything)
    assert {r["case_ref"] for r in iop.export(case=second)} == {second}
    later = list(iop.export(since="2026-01-15"))
    assert [r["case_ref"] for r in later] == [second]
    # init's grants, bootstrap and guideline loads are records of their own chains, exported like a case's
    assert {r["case_ref"] for r in iop.export(until="2026-01-12")} == {first, "@admin"} | GUIDELINE_CHAINS
    assert iop.export(since="2026-01-13", until="2026-01-14").count() == 0
    lines = [csv_header(), *(csv_line(r) for r in everything)]
    assert lines[0].startswith("seq,case_ref,case_seq,at,") and len(lines) == len(everything) + 1


@pytest.mark.parametrize("bad", [{"since": "2026-13-01"}, {"since": "2026-02-01", "until": "2026-01-01"}])
def test_bad_filters_are_invalid_input(iop: Iop, bad: dict[str, Any]) -> None:
    from iop_workflow.errors import InvalidInput

    with pytest.raises(InvalidInput):
        iop.export(**bad)


# -- constant memory ------------------------------------------------------------------
_COLS = (
    "case_ref",
    "case_seq",
    "at",
    "actor",
    "os_user",
    "roles",
    "source",
    "trigger",
    "from_state",
    "to_state",
    "reason",
    "data",
    "guideline_ref",
    "workflow_version",
    "prev_hash",
    "hash",
)


def _chained_rows(start_case: int, cases: int, per_case: int) -> list[tuple[Any, ...]]:
    """``cases`` x ``per_case`` properly chained records, as row tuples in _COLS order."""
    rows = []
    for n in range(start_case, start_case + cases):
        prev, state = GENESIS, None
        for i in range(1, per_case + 1):
            to_state = "initiative"
            rec = seal(
                LogRecord(
                    case_ref=f"IOP-2025-{n:05d}",
                    case_seq=i,
                    at=f"2025-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.000000Z",
                    actor="anna",
                    os_user=None,
                    roles=("officer", "registrar"),
                    source="api",
                    trigger="open" if i == 1 else "record:meeting",
                    from_state=state,
                    to_state=to_state,
                    reason=None,
                    data={"meeting": {"held_on": "2025-03-01", "joint_challenge": "Skydd och stöd " * 3}},
                    guideline_ref=None,
                    workflow_version="a" * 64,
                    prev_hash=prev,
                )
            )
            c = rec.hashed_content()
            cells = [json.dumps(c[k], ensure_ascii=False) if k in ("roles", "data") else c[k] for k in _COLS[:-1]]
            rows.append((*cells, rec.hash))
            prev, state = rec.hash, to_state
    return rows


def _bulk_insert(iop: Iop, rows: list[tuple[Any, ...]]) -> None:
    with iop.app.db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        if conn.dialect.name == "sqlite":
            cur = raw.cursor()
            cur.executemany(
                f"INSERT INTO transition_log ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})", rows
            )
        else:
            with raw.cursor() as cur, cur.copy(f"COPY transition_log ({', '.join(_COLS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def _peak_of_export(iop: Iop) -> tuple[int, int]:
    """(records exported, peak traced bytes while the service streamed them)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    count = sum(1 for _ in iop.export())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def _invalid(iop: Iop, every: int) -> int:
    """Schema errors in every ``every``-th exported line; every line is checked for the schema's keys."""
    errors = 0
    for n, record in enumerate(iop.export()):
        line = json.loads(jsonl_line(record))
        if not _REQUIRED <= line.keys() <= _ALLOWED:
            errors += 1
        if n % every == 0:
            errors += sum(1 for _ in VALIDATOR.iter_errors(line))
    return errors


_REQUIRED = set(record_schema()["required"])
_ALLOWED = set(record_schema()["properties"])


@pytest.mark.slow
def test_exporting_100_000_records_takes_constant_memory(iop: Iop) -> None:
    """Peak memory of the export stays flat from 10,000 to 100,000 records, and the lines fit the schema
    (all 10,000 validated fully; of 100,000, every line's keys and every 20th line fully: jsonschema is slow)."""
    _bulk_insert(iop, _chained_rows(0, 100, 100))
    small, small_peak = _peak_of_export(iop)
    assert _invalid(iop, every=1) == 0
    _bulk_insert(iop, _chained_rows(100, 900, 100))
    big, big_peak = _peak_of_export(iop)
    outside = outside_cases(iop)  # init's @admin and @guideline records
    assert (small, big) == (10_000 + outside, 100_000 + outside)
    assert big_peak < small_peak * 1.5 + 256 * 1024, (small_peak, big_peak)
    assert _invalid(iop, every=20) == 0


def test_the_progress_line_goes_to_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    from iop_workflow.cli.audit_cmds import _with_progress

    records = [{"seq": n} for n in range(10_001)]
    assert list(_with_progress(records, len(records))) == records
    out, err = capsys.readouterr()
    assert out == "" and "10,001 / 10,001 (100 %)" in err and "5,000 / 10,001" in err


@pytest.mark.parametrize("as_text", [True, False], ids=["str", "Path"])
def test_the_stream_goes_where_audit_log_points_given_as_text_or_path(
    tmp_path: Path, clock: Any, settings: Any, as_text: bool
) -> None:
    """``Iop.connect(audit_log=...)`` takes a path as text too (it was silently dropped: no stream at all)."""
    target = tmp_path / "elsewhere" / "stream.jsonl"
    with Iop.connect(
        f"sqlite:///{tmp_path / 'iop.db'}", clock=clock, settings=settings, audit_log=str(target) if as_text else target
    ) as iop:
        iop.init()
        add_orgs(iop)
        ref = open_case(iop)
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [(r["case_ref"], r["trigger"]) for r in records if not r["case_ref"].startswith("@")] == [(ref, "open")]
    assert records[-2]["trigger"] == "admin:bootstrap"  # init's administration records went there too
