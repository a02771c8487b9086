"""Recompute every per-case chain and name the first bad record of each.

With checkpoints, also check each checkpoint's digest and link, and each chain
against the heads the checkpoints recorded (a removed or shortened chain, a
rewritten head, a record slipped in behind a checkpoint's back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from iop_workflow.audit.chain import GENESIS, NON_CASE_PREFIX, LogRecord
from iop_workflow.audit.checkpoint import Checkpoint
from iop_workflow.audit.ledger import LedgerCheck


@dataclass(slots=True)
class ChainReport:
    cases: int = 0
    records: int = 0
    checkpoints: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    last_checkpoint: dict[str, Any] | None = None
    digest: dict[str, Any] | None = None
    unauthenticated: list[dict[str, Any]] | None = None  # with --authenticated-since only
    warnings: list[dict[str, Any]] = field(default_factory=list)  # rules broken before their cut-over

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        out = {
            "ok": self.ok,
            "cases": self.cases,
            "records": self.records,
            "checkpoints": self.checkpoints,
            "problems": self.problems,
            "warnings": self.warnings,
            "last_checkpoint": self.last_checkpoint,
        }
        if self.digest is not None:
            out["digest"] = self.digest
        if self.unauthenticated is not None:
            out["unauthenticated"] = self.unauthenticated
        return out


def verify_chains(
    records: Iterable[LogRecord],
    states: Mapping[str, str] | Iterable[tuple[str, str]],
    checkpoints: Iterable[Checkpoint] = (),
    *,
    only_case: str | None = None,
    digest: str | None = None,
    ordered_from: int | None = None,
) -> ChainReport:
    """Check records (grouped by case, the cases in Python's string order, each in case_seq order)
    and each case's stored state.

    ``states`` gives every case ref in scope with its stored state, as (ref, state) pairs in the
    records' order (a mapping is sorted here): a case with no records, or whose state differs from
    its last record, is a problem. Each chain is settled when it ends and nothing of it is kept:
    memory does not grow with the cases or the records (only with the problems found).
    ``checkpoints`` (oldest first) are checked, then the records against them;
    ``digest``, when given, must be one of the checkpoints' digests. A record dated before
    the previous one of its chain is a problem, or a warning when its ``seq`` is before
    ``ordered_from`` (the time-order cut-over; None: every such record is a warning).
    """
    report = ChainReport()
    ledger = LedgerCheck(only_case)
    for cp in checkpoints:
        ledger.add(cp)
    if digest is not None:
        ledger.check_digest(digest)
        report.digest = {"digest": digest, "checkpoint": ledger.digests.get(digest)}
    report.problems.extend(ledger.problems)
    cases = _Cases(sorted(states.items()) if isinstance(states, Mapping) else states, ledger)
    ref: str | None = None
    head: _Head | None = None  # the last record of the chain streaming past, as the checks need it
    broken: set[str] = set()
    for rec in records:
        report.records += 1
        if rec.case_ref != ref:
            if ref is not None and head is not None:
                cases.settle(ref, head, ref in broken)
            ref, head = rec.case_ref, None
        problem = _check(rec, head) or ledger.record(rec)
        if problem is None and head is not None and rec.at < head.at:
            problem = _backwards(
                report,
                (rec.seq, rec.case_ref, rec.case_seq, rec.at),
                (head.seq, rec.case_ref, head.case_seq, head.at),
                ordered_from,
            )
        if problem and rec.case_ref not in broken:
            broken.add(rec.case_ref)
            report.problems.append(problem)
        head = _Head(rec.case_seq, rec.seq, rec.hash, rec.to_state, rec.at)
    if ref is not None and head is not None:
        cases.settle(ref, head, ref in broken)
    cases.settle_rest()
    report.problems.extend(cases.problems)
    report.problems.extend(cases.ended)
    report.problems.extend(ledger.finish(cases.named))
    report.cases = cases.count
    report.checkpoints = ledger.count
    if ledger.last is not None:
        report.last_checkpoint = {"seq": ledger.last.seq, "at": ledger.last.at, "digest": ledger.last.digest}
    return report


class _Head(NamedTuple):
    """A chain's last record as the checks need it (the record itself, data and all, is not kept)."""

    case_seq: int
    seq: int | None
    hash: str
    to_state: str
    at: str


class _Cases:
    """The stored states merged with the chains as each ends (both in ref order, like a merge join):
    the state problems (``problems``), the ledger's view of each ended chain (``ended``), the refs
    any of them names (``named``) and the number of cases (``count``)."""

    def __init__(self, states: Iterable[tuple[str, str]], ledger: LedgerCheck) -> None:
        self._states = iter(states)
        self._next = next(self._states, None)
        self._ledger = ledger
        self._last: str | None = None
        self.count = 0
        self.problems: list[dict[str, Any]] = []
        self.ended: list[dict[str, Any]] = []
        self.named = {str(p["case_ref"]) for p in ledger.problems if p.get("case_ref")}

    def _problem(self, problem: dict[str, Any]) -> None:
        self.problems.append(problem)
        self.named.add(problem["case_ref"])

    def _without_records(self, before: str | None) -> None:
        """Every case before ``before`` (None: every case left) has no records."""
        while self._next is not None and (before is None or self._next[0] < before):
            ref = self._next[0]
            self.count += 1
            self._problem({"case_ref": ref, "seq": None, "field": "chain", "problem": "case has no log records"})
            self._next = next(self._states, None)

    def settle(self, ref: str, last: _Head, broken: bool) -> None:
        """The chain ``ref`` ended with ``last``: its case's stored state, and the checkpoints' heads."""
        if self._last is not None and ref <= self._last:
            raise ValueError(f"the records are not grouped by case in ref order: {ref} after {self._last}")
        self._last = ref
        self._without_records(ref)
        if self._next is not None and self._next[0] == ref:
            state = self._next[1]
            self._next = next(self._states, None)
            self.count += 1
            if not broken and last.to_state != state:
                self._problem(
                    {
                        "case_ref": ref,
                        "seq": last.seq,
                        "case_seq": last.case_seq,
                        "field": "to_state",
                        "problem": f"stored state {state!r} differs from the last record's to_state {last.to_state!r}",
                    }
                )
        elif not ref.startswith(NON_CASE_PREFIX):  # the administration chain (and other non-case chains)
            self.count += 1
            self._problem(
                {"case_ref": ref, "seq": None, "field": "case", "problem": "records for a case that does not exist"}
            )
        ended = self._ledger.end_chain(ref, last.case_seq, broken or ref in self.named)
        if ended is not None:
            self.ended.append(ended)

    def settle_rest(self) -> None:
        self._without_records(None)


def _check(rec: LogRecord, prev: _Head | None) -> dict[str, Any] | None:
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
    if prev is not None and rec.seq is not None and prev.seq is not None and rec.seq <= prev.seq:
        return {**where, "field": "seq", "problem": f"out of order: after seq {prev.seq} of case_seq {prev.case_seq}"}
    return None


Stamp = tuple[int | None, str, int, str]  # (seq, case_ref, case_seq, at) of a record


def time_order(report: ChainReport, stamps: Iterable[Stamp], ordered_from: int | None) -> None:
    """The log's global order (``stamps`` in ``seq`` order): each record dated before the one before it
    in another chain is added to ``report`` (a record's own chain is ``verify_chains``' to check)."""
    prev: Stamp | None = None
    for stamp in stamps:
        if prev is not None and stamp[3] < prev[3] and stamp[1] != prev[1]:
            problem = _backwards(report, stamp, prev, ordered_from, scope="the log")
            if problem is not None:
                report.problems.append(problem)
        prev = stamp


def _backwards(
    report: ChainReport, rec: Stamp, prev: Stamp, ordered_from: int | None, *, scope: str = "its chain"
) -> dict[str, Any] | None:
    """A record dated before its predecessor: the problem naming both, or None once it is a warning
    (written before the cut-over ``ordered_from``)."""
    seq, ref, case_seq, at = rec
    detail = f"dated {at}, before the previous record in {scope}: {prev[1]} #{prev[2]} (seq {prev[0]}) dated {prev[3]}"
    where = {"case_ref": ref, "seq": seq, "case_seq": case_seq, "field": "at"}
    if ordered_from is None or (seq is not None and seq < ordered_from):
        cut = f"seq {ordered_from}" if ordered_from is not None else "none: the schema is older than 0012"
        report.warnings.append({**where, "detail": f"{detail} (written before the time-order cut-over: {cut})"})
        return None
    previous = {"case_ref": prev[1], "seq": prev[0], "case_seq": prev[2], "at": prev[3]}
    return {**where, "problem": "dated before the previous record", "detail": detail, "previous": previous}
