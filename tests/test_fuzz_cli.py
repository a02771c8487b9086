"""Generated bad input through the CLI's one error boundary: arguments, ``--data`` values, batch files.

Every generated input gets a documented exit status (never 1), a message in the
right place (stderr, or JSON on stdout with ``--json``), no traceback, nothing in
the internal-error log, and leaves the database (a full SQL dump) and the audit
stream unchanged. The bulk runs in-process (tests/fuzz_support.py says why that
is faithful); a sample goes through real subprocesses and must give the very
same status, stdout and stderr; non-UTF-8 bytes go only through real processes.

``IOP_FUZZ_EXAMPLES=1000 python -m pytest tests/test_fuzz_cli.py`` runs the full
size (at least 1,000 inputs per target); CI runs a smaller, fixed sample.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli_helpers import IOP, Backend, Cli, make_backend, to_assessment
from tests.fuzz_commands import (
    TEMPLATES,
    VALID,
    BadFile,
    BadLine,
    batch_files,
    command_lines,
    data_lines,
    fill_template,
)
from tests.fuzz_support import InProcessCli, Target, build_template, fuzz_settings, pg_rows, target


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module")
def fuzz(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Target:
    """One guarded copy for the whole module: each input must leave it as it was."""
    return target(template, tmp_path_factory.mktemp("fuzz"))


# Every write template but `alerts ack` (the test database holds no alert to acknowledge).
SUCCEEDING = {name: text for name, text in TEMPLATES.items() if name != "alerts ack"}


@pytest.mark.parametrize("name", sorted(SUCCEEDING))
def test_each_template_succeeds_and_writes_when_every_value_is_valid(name: str, fuzz: Target) -> None:
    """So a refusal in the fuzz tests can only come from the one bad value."""
    args = fill_template(tuple(SUCCEEDING[name].split()), VALID)
    result = fuzz.cli(*args)
    assert result.status == 0, result.text
    assert not fuzz.guard.unchanged()  # it wrote (and the guard restored the copy)


@pytest.mark.slow
@fuzz_settings(ci_default=400)
@given(line=command_lines())
def test_generated_bad_arguments_are_refused_and_change_nothing(line: BadLine, fuzz: Target) -> None:
    fuzz.refused(line.args, line.allowed)


@pytest.mark.slow
@fuzz_settings(ci_default=200)
@given(line=data_lines())
def test_generated_bad_data_values_are_refused_before_anything_is_written(line: BadLine, fuzz: Target) -> None:
    fuzz.refused(line.args, line.allowed)


@fuzz_settings(ci_default=200)
@given(bad=batch_files(), as_json=st.booleans())
def test_generated_bad_batch_files_fire_nothing(bad: BadFile, as_json: bool, fuzz: Target) -> None:
    path = fuzz.cli.tmp_path / "batch.jsonl"
    path.write_bytes(bad.content)
    args = ["--json"] if as_json else []
    result = fuzz.refused([*args, "case", "fire", "--from-file", str(path)], frozenset({bad.status}))
    if as_json:
        body = json.loads(result.out)
        assert len(body.get("results", [])) == bad.fired, body
    elif bad.fired:  # a report on every line, then the summary: nothing was done
        assert all(f"\nrad {i}: " in "\n" + result.out for i in range(1, bad.fired + 1)), result.out
        assert result.out.endswith(f"0 klara, {bad.fired} misslyckade.\n"), result.out
    else:
        assert result.out == "" and result.err.startswith(str(path)), result.text  # the file is named


@pytest.mark.slow
@fuzz_settings(ci_default=12, share=10)
@given(line=st.one_of(command_lines(), data_lines()).filter(lambda b: not any("\x00" in a for a in b.args)))
def test_in_process_equals_a_real_process(
    line: BadLine, template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Same status, stdout and stderr from ``run()`` in-process and from ``python -m iop_workflow``.

    Arguments with lone surrogates reach the child as the raw bytes they stand for
    (``subprocess`` encodes argv with ``os.fsencode``): the non-UTF-8 path.
    """
    t = target(template, tmp_path_factory.mktemp("same"))
    inside = t.cli(*line.args)
    outside = Cli(t.cli.tmp_path, t.cli.env["IOP_DATABASE_URL"])(*line.args)
    assert (outside.status, outside.out, outside.err) == (inside.status, inside.out, inside.err)
    assert t.guard.unchanged()


@fuzz_settings(ci_default=10, share=10)
@given(
    raw=st.binary(min_size=1, max_size=12).filter(lambda b: _not_utf8(b) and b"\x00" not in b),
    where=st.sampled_from(["ref", "title", "data", "db", "actor"]),
    as_json=st.booleans(),
)
def test_non_utf8_argv_bytes_in_a_real_process(
    raw: bytes, where: str, as_json: bool, template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Raw bytes in argv: exit 6 naming the argument; stdout and stderr stay valid UTF-8."""
    t = target(template, tmp_path_factory.mktemp("bytes"))
    words: dict[str, list[bytes]] = {
        "ref": [b"case", b"show", raw],
        "title": [
            b"case",
            b"open",
            b"--org",
            b"802479-1322",
            b"--municipality",
            b"M",
            b"--title",
            raw,
            b"--challenge",
            b"C",
        ],
        "data": [b"case", b"fire", b"IOP-0", b"decline", b"--data", b"k=" + raw],
        "db": [b"--db", b"sqlite:///" + raw, b"case", b"list"],
        "actor": [b"--actor", raw, b"case", b"list"],
    }
    args = [b"--json", *words[where]] if as_json else words[where]
    done = subprocess.run(
        [os.fsencode(a) for a in IOP] + args,
        env=t.cli.env,
        capture_output=True,
        timeout=60,
        check=False,
        cwd=t.cli.tmp_path,
    )
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")  # strict: must be valid UTF-8
    assert done.returncode == 6, out + err
    assert "Traceback" not in out + err
    position = next(i for i, arg in enumerate(args, start=1) if raw in arg)
    if as_json:
        error = json.loads(out)["error"]
        assert (error["code"], error["details"]["field"], err) == ("invalid_input", f"argument {position}", "")
    else:
        assert err.startswith(f"Ogiltigt värde för argument {position} (") and "inte giltig UTF-8" in err, err
    assert t.guard.unchanged()


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# -- the bugs the fuzzing found: each input, its status and its message, for good ----------
REF = VALID["ref"]
FIRE = ["--actor", "anna", "case", "fire", REF, "decline", "--reason", "Ingen budget"]
FOUND: dict[str, tuple[list[str], int, str]] = {
    # Non-UTF-8 argv reached the SQLite driver: UnicodeEncodeError, exit 1.
    "argv-not-utf8": (
        ["case", "show", "\udce5x"],
        6,
        "Ogiltigt värde för argument 3 ('\\udce5x'): är inte giltig UTF-8",
    ),
    "argv-not-utf8-filter": (
        ["--lang", "en", "audit", "export", "--case", "\udcff"],
        6,
        "Invalid value for argument 6 ('\\udcff'): is not valid UTF-8",
    ),
    # An alert id over the INTEGER column: OverflowError, exit 1.
    "alert-id-overflow": (
        ["alerts", "ack", "9" * 25],
        6,
        "Ogiltigt värde för alert_id ('9999999999999999999999999'): måste vara ett heltal 1–2000000000",
    ),
    # The actor was recorded unchecked: control characters and 20,000 characters went into the log.
    "actor-control": (
        ["--actor", "a\x1b[2Jb", *FIRE[2:]],
        6,
        "Ogiltigt värde för actor ('a\\x1b[2Jb'): innehåller styrtecken",
    ),
    "actor-huge": (["--actor", "x" * 20_000, *FIRE[2:]], 6, "är 20000 tecken långt; högst 100 tillåts"),
    # 0.004 passed the check, then was stored rounded to a positive 0.00.
    "amount-rounds-to-zero": (
        [
            "--actor",
            "anna",
            "case",
            "record",
            REF,
            "contribution",
            "--party",
            "municipality",
            "--kind",
            "money",
            "--amount",
            "0.004",
            "--unit",
            "SEK",
        ],
        6,
        "måste vara ett positivt belopp",
    ),
    # Control characters in an echoed value drove the terminal.
    "usage-echo-escaped": (["case", "list", "\x1b[2J"], 2, "Got unexpected extra argument (\\x1b[2J)"),
    "not-found-echo-escaped": (["case", "show", "\x1b]0;owned\x07"], 4, "Ärendet \\x1b]0;owned\\x07 finns inte."),
}
BATCH_FOUND: dict[str, tuple[str, int, str]] = {
    # A "\udcxx" escape gave a str no driver can encode: exit 1.
    "batch-lone-surrogate": (
        '{"ref": "\\udce5", "trigger": "decline"}',
        6,
        "line 1: not valid JSON: an escape names a lone surrogate",
    ),
    # 100,000 nested arrays: RecursionError, exit 1.
    "batch-deep": (
        '{"ref": "x", "trigger": "y", "data": ' + "[" * 100_000 + "]" * 100_000 + "}",
        6,
        "line 1: not valid JSON: nested too deeply",
    ),
    "batch-nan": (
        f'{{"ref": "{REF}", "trigger": "decline", "reason": "x", "data": {{"k": NaN}}}}',
        6,
        "line 1: not valid JSON: NaN is not a JSON value",
    ),
    "batch-actor": (
        f'{{"ref": "{REF}", "trigger": "decline", "reason": "x", "actor": "\\u0007"}}',
        6,
        "rad 1: IOP-2026-0001 decline: misslyckades: Ogiltigt värde för actor ('\\x07'): innehåller styrtecken",
    ),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_bad_arguments_stay_refused(name: str, fuzz: Target) -> None:
    args, status, message = FOUND[name]
    result = fuzz.refused(args, frozenset({status}))
    assert message in result.err, result.err


@pytest.mark.parametrize("name", sorted(BATCH_FOUND))
def test_found_bad_batch_lines_stay_refused(name: str, fuzz: Target) -> None:
    content, status, message = BATCH_FOUND[name]
    path = fuzz.cli.tmp_path / "found.jsonl"
    path.write_text(content, encoding="utf-8")
    result = fuzz.refused(["case", "fire", "--from-file", str(path)], frozenset({status}))
    assert message in result.text, result.text


def test_a_huge_unknown_ref_is_named_shortened(fuzz: Target) -> None:
    result = fuzz.refused(["--lang", "en", "case", "show", "R" * 50_000], frozenset({4}))
    assert result.err == f"No case {'R' * 499}… exists.\n"


def test_a_non_utf8_argument_in_json_mode_is_valid_json(fuzz: Target) -> None:
    result = fuzz.refused(["--json", "case", "show", "\udce5"], frozenset({6}))
    assert json.loads(result.out)["error"]["details"] == {"field": "argument 4", "value": "\udce5"}


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("postgresql", tmp_path)


@pytest.mark.postgres
def test_values_over_postgresql_limits_are_refused_not_crashed(pg: Backend, tmp_path: Path) -> None:
    """Numbers and texts over a column's size: SQLite stores them, PostgreSQL raised (exit 1)."""
    cli = InProcessCli(tmp_path, pg.url)
    ref = to_assessment(cli)
    (tmp_path / "long.toml").write_text(
        (Path(__file__).parents[1] / "config/guidelines/stenungsund.toml")
        .read_text(encoding="utf-8")
        .replace('title = "', 'title = "' + "T" * 600, 1),
        encoding="utf-8",
    )
    (tmp_path / "ref.toml").write_text('[iop]\ncase_ref_pattern = "IOP-{year}-{seq:040d}"\n', encoding="utf-8")
    before = pg_rows(pg)
    inputs = {
        ("alerts", "ack", "9" * 25): "alert_id",
        ("--actor", "a" * 101, "case", "fire", ref, "decline", "--reason", "x"): "actor",
        ("--actor", "anna", "case", "fire", ref, "decline", "--reason", "x", "--if-version", "9" * 25): "version",
        ("guideline", "load", str(tmp_path / "long.toml")): "guideline.title",
        (
            "--config",
            str(tmp_path / "ref.toml"),
            "--actor",
            "anna",
            "case",
            "open",
            "--org",
            "802479-1322",
            "--municipality",
            "Stenungsund",
            "--title",
            "T",
            "--challenge",
            "C",
        ): "case_ref_pattern",
    }
    for args, named in inputs.items():
        result = cli(*args)
        assert result.status in {5, 6} and named in result.err, (args[:3], result.text)
        assert not (cli.data_dir / "cli-errors.log").exists()
    assert pg_rows(pg) == before
