"""Checkpoints (ledger digests): every case's chain head, hashed with the previous digest.

A digest filed outside the database (e.g. in the diarium) pins the whole log as it
was: a removed or shortened chain, or a rewritten history, no longer reproduces it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from iop_workflow.audit.chain import GENESIS, canonical_json

Head = tuple[str, int, str]  # (case_ref, case_seq, hash) of a chain's last record


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """One checkpoint record, as stored in ``checkpoints``."""

    at: str
    actor: str
    cases: int
    records: int
    max_seq: int
    heads: tuple[Head, ...]
    prev_digest: str = GENESIS
    digest: str = ""
    seq: int | None = None

    def hashed_content(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "actor": self.actor,
            "cases": self.cases,
            "records": self.records,
            "max_seq": self.max_seq,
            "heads": [list(h) for h in self.heads],
            "prev_digest": self.prev_digest,
        }

    def compute_digest(self) -> str:
        return hashlib.sha256(canonical_json(self.hashed_content()).encode("utf-8")).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``audit checkpoint`` (heads left out: they can be many)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "cases": self.cases,
            "records": self.records,
            "max_seq": self.max_seq,
            "prev_digest": self.prev_digest,
            "digest": self.digest,
        }


def heads_json(heads: Iterable[Head]) -> str:
    return canonical_json([list(h) for h in heads])


def checkpoint_from_row(row: Any) -> Checkpoint:
    heads = tuple((str(r), int(n), str(h)) for r, n, h in json.loads(row["heads"]))
    return Checkpoint(
        seq=row["seq"],
        at=row["at"],
        actor=row["actor"],
        cases=row["cases"],
        records=row["records"],
        max_seq=row["max_seq"],
        heads=heads,
        prev_digest=row["prev_digest"],
        digest=row["digest"],
    )
