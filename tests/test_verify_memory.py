"""`audit verify` in memory that does not grow with the log (issue 15, item 7).

The cases are made through the real write path (a signed partnership with its facts and timers,
an assessment with an assignment, an initiative), then grown by the reads benchmark's clones
(re-chained, so the log still verifies). The peak of what verify allocates (tracemalloc) at
4N cases must stay within a small margin of its peak at N cases: a check that kept anything per
case (a dictionary of states, of chain heads, of plans) grows by about a kilobyte a case.
"""

from __future__ import annotations

import tracemalloc

import pytest

from benchmarks.reads import grow
from iop_workflow import Iop
from iop_workflow.store import cases as repo
from tests.helpers import add_orgs, open_case, to_assessment, to_signed

SMALL = 100  # cases
CHUNK = 20  # rows a streamed read fetches at a time: fewer than the rows of each stream at SMALL cases
PER_CASE = 150  # bytes a case may add to the peak (noise); a per-case dictionary entry is several times that


def peak_of_verify(iop: Iop) -> int:
    """The peak bytes allocated while the whole log is verified (the log must verify); what runs once
    after the log grew (statements prepared, definitions parsed, caches filled) is not counted."""
    iop.verify()
    tracemalloc.start()
    try:
        report = iop.verify()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.problems[:3]
    return peak


def test_verify_peak_memory_does_not_grow_with_the_cases(
    iop: Iop, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each stream fetches its rows ``CHUNK`` at a time (the product's READ_CHUNK, smaller), so that at
    both sizes every stream's fetch buffer is full: what is left to grow is what verify keeps."""
    monkeypatch.setattr(repo, "READ_CHUNK", CHUNK)
    add_orgs(iop)
    to_signed(iop)
    iop.assign(to_assessment(iop), "anna", actor="kim")
    open_case(iop)
    grow(db_url, SMALL)
    small = peak_of_verify(iop)
    grow(db_url, 4 * SMALL)
    large = peak_of_verify(iop)

    assert iop.verify().cases == 4 * SMALL
    grew = large - small
    assert grew < 3 * SMALL * PER_CASE, (
        f"verify's peak grew by {grew} bytes ({grew / (3 * SMALL):.0f} a case) from {SMALL} to {4 * SMALL} cases "
        f"(peaks {small} and {large})"
    )
