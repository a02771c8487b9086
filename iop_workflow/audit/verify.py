"""Recompute every per-case chain and name the first bad record of each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iop_workflow.audit.chain import GENESIS, LogRecord


@dataclass(slots=True)
class ChainReport:
    cases: int = 0
    records: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cases": self.cases, "records": self.records, "problems": self.problems}


def verify_chains(records: Iterable[LogRecord], states: Mapping[str, str]) -> ChainReport:
    """Check records (grouped by case, in case_seq order) and each case's stored state.

    ``states`` maps every case ref in the database to its stored state: a case
    with no records, or whose state differs from its last record, is a problem.
    """
    report = ChainReport()
    heads: dict[str, LogRecord] = {}
    broken: set[str] = set()
    for rec in records:
        report.records += 1
        prev = heads.get(rec.case_ref)
        if rec.case_ref not in broken:
            problem = _check(rec, prev)
            if problem:
                broken.add(rec.case_ref)
                report.problems.append(problem)
        heads[rec.case_ref] = rec
    for ref, state in states.items():
        last = heads.get(ref)
        if last is None:
            report.problems.append({"case_ref": ref, "seq": None, "problem": "case has no log records"})
        elif ref not in broken and last.to_state != state:
            report.problems.append(
                {
                    "case_ref": ref,
                    "seq": last.seq,
                    "problem": f"stored state {state!r} differs from the last record's to_state "
                    f"{last.to_state!r}",
                }
            )
    for ref in heads.keys() - states.keys():
        report.problems.append({"case_ref": ref, "seq": None, "problem": "records for a case that does not exist"})
    report.cases = len(states.keys() | heads.keys())
    return report


def _check(rec: LogRecord, prev: LogRecord | None) -> dict[str, Any] | None:
    expected_seq = 1 if prev is None else prev.case_seq + 1
    expected_prev = GENESIS if prev is None else prev.hash
    where = {"case_ref": rec.case_ref, "seq": rec.seq, "case_seq": rec.case_seq}
    if rec.case_seq != expected_seq:
        return {**where, "field": "case_seq", "problem": f"expected case_seq {expected_seq}"}
    if rec.prev_hash != expected_prev:
        return {**where, "field": "prev_hash", "problem": "does not link to the previous record"}
    if prev is not None and prev.to_state != rec.from_state:
        return {**where, "field": "from_state", "problem": f"previous record ended in {prev.to_state!r}"}
    if rec.compute_hash() != rec.hash:
        return {**where, "field": "hash", "problem": "content does not match its hash"}
    return None
