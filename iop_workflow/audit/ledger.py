"""Verifying the checkpoints, and each chain against the heads they recorded.

Checkpoints are fed first (oldest first), then the records grouped by case in
``case_seq`` order; each chain is settled when it ends (:meth:`LedgerCheck.end_chain`).
Memory: what the checkpoints hold (one entry per distinct head they recorded, plus the
latest checkpoint's heads), released chain by chain as the records stream past; nothing
per record or per case of the log itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iop_workflow.audit.chain import GENESIS, LogRecord
from iop_workflow.audit.checkpoint import Checkpoint


@dataclass(frozen=True, slots=True)
class _Claim:
    case_seq: int
    hash: str
    index: int  # the first checkpoint (0-based) that recorded this head
    checkpoint: int | None  # its seq


class LedgerCheck:
    """What the checkpoints say about the log, and where the log disagrees."""

    def __init__(self, only_case: str | None = None) -> None:
        self.only_case = only_case
        self.count = 0
        self.problems: list[dict[str, Any]] = []
        self.last: Checkpoint | None = None
        self.digests: dict[str, int | None] = {}
        self._max_seqs: list[int] = []
        self._seqs: list[int | None] = []
        self._heads: dict[str, tuple[int, str]] = {}
        self._claims: dict[str, list[_Claim]] = {}
        self._ref: str | None = None  # the chain streaming past, and its position in its claims
        self._pos = 0

    def _wanted(self, ref: str) -> bool:
        return self.only_case is None or ref == self.only_case

    def add(self, cp: Checkpoint) -> None:
        """Check one checkpoint's digest and link, and that no earlier head went missing."""
        where = {"checkpoint": cp.seq, "case_ref": None}
        expected_prev = GENESIS if self.last is None else self.last.digest
        if cp.compute_digest() != cp.digest:
            self.problems.append({**where, "field": "digest", "problem": "content does not match its digest"})
        elif cp.prev_digest != expected_prev:
            self.problems.append(
                {**where, "field": "prev_digest", "problem": "does not link to the previous checkpoint"}
            )
        current = {ref: (n, h) for ref, n, h in cp.heads}
        self._shrunk(cp, current)
        index = self.count
        for ref, n, h in cp.heads:
            if not self._wanted(ref):
                continue
            claims = self._claims.setdefault(ref, [])
            if not claims or claims[-1].case_seq < n:
                claims.append(_Claim(n, h, index, cp.seq))
        self._heads = current
        self._max_seqs.append(cp.max_seq)
        self._seqs.append(cp.seq)
        self.digests[cp.digest] = cp.seq
        self.last = cp
        self.count += 1

    def _shrunk(self, cp: Checkpoint, current: dict[str, tuple[int, str]]) -> None:
        """A chain an earlier checkpoint recorded must still be there, as long, with the same head."""
        if self.last is None:
            return
        for ref, (n, h) in self._heads.items():
            now = current.get(ref)
            if not self._wanted(ref) or (now is not None and (now[0] > n or now == (n, h))):
                continue
            found = "does not list it" if now is None else f"records case_seq {now[0]} ({now[1][:12]}…)"
            self.problems.append(
                {
                    "checkpoint": cp.seq,
                    "case_ref": ref,
                    "case_seq": n,
                    "field": "heads",
                    "problem": f"checkpoint {self.last.seq} recorded case_seq {n} ({h[:12]}…); this one {found}",
                }
            )

    def check_digest(self, digest: str) -> None:
        if digest not in self.digests:
            self.problems.append(
                {
                    "checkpoint": None,
                    "case_ref": None,
                    "field": "digest",
                    "problem": f"{digest} is not the digest of any of the {self.count} checkpoints",
                }
            )

    def record(self, rec: LogRecord) -> dict[str, Any] | None:
        """The problem with ``rec`` as the checkpoints see it, if any."""
        if rec.case_ref != self._ref:
            self._ref, self._pos = rec.case_ref, 0
        claims = self._claims.get(rec.case_ref, [])
        pos = self._pos
        while pos < len(claims) and claims[pos].case_seq < rec.case_seq:
            pos += 1
        self._pos = pos
        where = {"case_ref": rec.case_ref, "seq": rec.seq, "case_seq": rec.case_seq}
        first = self.count
        if pos < len(claims):
            claim = claims[pos]
            first = claim.index
            if claim.case_seq == rec.case_seq and claim.hash != rec.hash:
                return {
                    **where,
                    "checkpoint": claim.checkpoint,
                    "field": "hash",
                    "problem": f"differs from the head checkpoint {claim.checkpoint} recorded",
                }
        if first > 0 and rec.seq is not None and rec.seq <= self._max_seqs[first - 1]:
            before = self._seqs[first - 1]
            return {
                **where,
                "checkpoint": before,
                "field": "seq",
                "problem": f"not in checkpoint {before} although written before it (seq {rec.seq} <= "
                f"{self._max_seqs[first - 1]}): appended behind the checkpoint's back",
            }
        return None

    def end_chain(self, ref: str, last: int, skip: bool) -> dict[str, Any] | None:
        """The chain ``ref`` ended at case_seq ``last``: a problem when a checkpoint recorded it longer
        (unless ``skip``: the chain already has a problem). Its claims are dropped."""
        claims = self._claims.pop(ref, None)
        if not claims or skip or last >= claims[-1].case_seq:
            return None
        top = claims[-1]
        problem = f"checkpoint {top.checkpoint} recorded case_seq {top.case_seq}; the chain ends at {last}"
        where = {"case_ref": ref, "seq": None, "case_seq": top.case_seq, "checkpoint": top.checkpoint}
        return {**where, "field": "chain", "problem": problem}

    def finish(self, skip: set[str]) -> list[dict[str, Any]]:
        """Chains the checkpoints recorded of which no record is left (every chain that had records
        was settled by :meth:`end_chain`), but those in ``skip``."""
        out = []
        for ref, claims in self._claims.items():
            if ref in skip:
                continue
            top = claims[-1]
            where = {"case_ref": ref, "seq": None, "case_seq": top.case_seq, "checkpoint": top.checkpoint}
            problem = f"checkpoint {top.checkpoint} recorded {top.case_seq} records; none is left (chain removed)"
            out.append({**where, "field": "chain", "problem": problem})
        return out
