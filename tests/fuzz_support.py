"""Running the real CLI entry point (``run``, the ONE error boundary) in-process, fast.

A subprocess costs about 0.3 s, too much for thousands of generated inputs, so
the fuzz tests call :func:`iop_workflow.cli.main.run` inside the test process,
with click's :class:`~click.testing.CliRunner` isolating stdin/stdout/stderr and
the environment. What is shared between calls, and why that is safe:

- ``run`` builds a new ``State`` (settings, engine, audit sink) per call and
  closes it in a ``finally``; nothing of one call leaks into the next.
- No structlog global configuration: the audit sink wraps its own loggers.
- ``cli/context.py`` pauses the collector and ``gc.freeze()``s on the first import
  of the database layers. In the test process ``tests/conftest.py`` has imported
  them already, so ``run`` never touches the collector here (and if it did, a
  freeze only moves objects to the permanent generation: memory, not behaviour).
- The working directory is the target's tmp directory during a call, as for the
  subprocess (``Cli`` runs with ``cwd=tmp_path``), and restored afterwards.
- The cyclic collector is off during a call. A test process holds far more garbage
  than a CLI process; collected in the middle of a call that hits the recursion
  limit (a deeply nested file), a finalizer of that garbage failed and printed
  "Exception ignored ..." into the captured stderr. A real process does not do
  that (checked with the same files), and the collector runs between calls.
- Caches keyed by content (the shipped definition, guideline content hashes)
  and click's lazily attached sub-commands are the same in every process.

:mod:`tests.test_fuzz_cli` compares a sample of in-process results with real
subprocesses to prove that these shortcuts change nothing the user sees.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from tests.cli_helpers import Backend, Cli, Result, copy_sqlite, sqlite_dump, today

# The statuses DESIGN.md documents for input the product refuses (1 is a bug, 0 a success).
REFUSED = frozenset({2, 3, 4, 5, 6, 8})


def examples(ci_default: int, share: int = 1) -> int:
    """Examples per target: ``IOP_FUZZ_EXAMPLES`` (the full run, e.g. 1000) divided by ``share``
    (a sample through real processes takes a tenth), else the CI default."""
    raw = os.environ.get("IOP_FUZZ_EXAMPLES", "")
    return max(1, int(raw) // share) if raw.strip() else ci_default


def fuzz_settings(ci_default: int, share: int = 1) -> settings:
    """Hypothesis settings of one fuzz target: no deadline, reproducible, no database between runs."""
    return settings(
        max_examples=examples(ci_default, share),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


class InProcessCli(Cli):
    """A :class:`Cli` that runs ``iop ARGS`` through ``run()`` in this process, same environment."""

    def __init__(self, tmp_path: Path, db_url: str | None) -> None:
        super().__init__(tmp_path, db_url)
        overrides: dict[str, str | None] = {k: v for k, v in self.env.items() if os.environ.get(k) != v}
        overrides.update({k: None for k in os.environ if k not in self.env})
        self.overrides = overrides

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        from iop_workflow.cli.main import run

        with CliRunner().isolation(env={**self.overrides, **(env or {})}) as (out, err, _both):
            cwd = os.getcwd()
            os.chdir(self.tmp_path)
            gc.disable()  # see the module's docstring: no finalizer of the test process's garbage inside a call
            try:
                status = run(list(args))
            finally:
                gc.enable()
                os.chdir(cwd)
                sys.stdout.flush()
                sys.stderr.flush()
            return Result(status, out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8"))


@dataclass
class Guarded:
    """A SQLite database that must not change: its dump is taken once and compared after each input."""

    template: Path
    db: Path

    def __post_init__(self) -> None:
        copy_sqlite(self.template, self.db)
        self.before = sqlite_dump(self.db)
        self.audit = self.db.with_suffix(".audit.jsonl")
        self.audit_size = self.audit.stat().st_size if self.audit.exists() else 0

    def unchanged(self) -> bool:
        """True if the dump and the audit stream are as before; if not, restore both (for shrinking)."""
        same = sqlite_dump(self.db) == self.before
        size = self.audit.stat().st_size if self.audit.exists() else 0
        if not same:
            copy_sqlite(self.template, self.db)
        if size != self.audit_size:
            with self.audit.open("r+b") as handle:
                handle.truncate(self.audit_size)
        return same and size == self.audit_size


def assert_refused(result: Result, allowed: frozenset[int], *, as_json: bool, error_log: Path) -> None:
    """A refusal as documented: an allowed status, a clear message in the right place, no traceback."""
    if error_log.exists():  # removed, so that the next (shrunk) example starts clean
        logged = error_log.read_text(encoding="utf-8")
        error_log.unlink()
        raise AssertionError(f"an internal error was logged:\n{logged[-3000:]}")
    assert result.status in allowed, f"status {result.status} not in {sorted(allowed)}\n{result.text[:2000]}"
    assert "Traceback" not in result.text, result.text[:2000]
    if as_json:
        assert result.err == "", result.err[:2000]
        body = json.loads(result.out)
        error = body.get("error") if isinstance(body, dict) else None
        if error is not None:
            assert error["code"] and error["message"].strip(), body
        else:  # a batch: one result per line, each failed one with its error
            assert body["failed"] >= 1, body
            assert all(r["error"]["message"].strip() for r in body["results"] if r["status"] != "done"), body
    else:
        assert (result.err or result.out).strip(), "no message at all"
        shown = [ch for ch in result.text if ch not in "\t\n" and (ch < " " or "\x7f" <= ch <= "\x9f")]
        assert not shown, f"control characters reach the terminal: {shown[:5]!r}\n{result.text[:2000]!r}"


@dataclass
class Target:
    """One fuzz target: an in-process CLI on a guarded database."""

    cli: InProcessCli
    guard: Guarded

    @property
    def error_log(self) -> Path:
        return self.cli.data_dir / "cli-errors.log"

    def refused(
        self, args: Sequence[str], allowed: frozenset[int] = REFUSED, env: dict[str, str] | None = None
    ) -> Result:
        """Run ``args``; assert a documented refusal and an unchanged database; return the result."""
        result = self.cli(*args, env=env)
        unchanged = self.guard.unchanged()  # first: it restores the copy for the next example
        assert_refused(result, allowed, as_json="--json" in args, error_log=self.error_log)
        assert unchanged, f"the database changed: iop {' '.join(args)[:500]}"
        return result


def target(template: Path, where: Path) -> Target:
    """A fresh copy of ``template`` in ``where``, with an in-process CLI on it."""
    where.mkdir(parents=True, exist_ok=True)
    db = where / "iop.db"
    return Target(InProcessCli(where, f"sqlite:///{db}"), Guarded(template, db))


def build_template(where: Path) -> Path:
    """A SQLite database with one protected organisation and its case in assessment (in-process: fast).

    The case is made today, as the CLI makes it, and its opening day is then set 30 days back in
    its row, so that a correction of the meeting's day to yesterday lies within the case's time.
    """
    import sqlite3

    from tests.cli_helpers import to_assessment

    path = where / "iop.db"
    assert to_assessment(InProcessCli(where, f"sqlite:///{path}")) == f"IOP-{today().year}-0001"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE cases SET opened_on = ?", ((today() - timedelta(days=30)).isoformat(),))
    return path


def pg_rows(backend: Backend) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table in the backend's PostgreSQL schema (the dump to compare)."""
    import psycopg

    from tests.pg import PG_URL

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (backend.schema,)
            )
        ]
        return {t: conn.execute(f'SELECT * FROM "{backend.schema}"."{t}" ORDER BY 1').fetchall() for t in tables}
