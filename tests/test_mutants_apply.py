"""The hand-made mutation run (tests/mutation/run_mutants.py, docs/mutation.md) stays runnable: each
mutant's text is found exactly once in its file, so a refactoring that moves or rewrites the code
fails here, not halfway through a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutation.run_mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_each_mutant_replaces_text_found_once(mutant: Mutant) -> None:
    assert (ROOT / mutant.path).read_text(encoding="utf-8").count(mutant.old) == 1, f"{mutant.path}: {mutant.old!r}"
