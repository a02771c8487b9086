"""Per-case hash chain over canonical JSON records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

# Record formats. A format names the fields its hash covers, so that adding a field never
# changes what an older record's hash covers: every record ever written verifies unchanged.
#   1: HASHED_FIELDS
#   2: HASHED_FIELDS + ``auth`` (how the actor was established) + ``format`` itself
FORMAT_V1 = 1
FORMAT_AUTH = 2
CURRENT_FORMAT = FORMAT_AUTH

# Chains that belong to no case (the administration chain ``@admin``) start with this; no case ref does.
NON_CASE_PREFIX = "@"

# The fields a record's hash covers, in the order DESIGN.md lists them (the
# canonical JSON sorts keys anyway). `seq` is the database's global order and
# is deliberately outside the hash; `case_seq` is inside, so reordering shows.
HASHED_FIELDS = (
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
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a record's hashed content (``LogRecord.hashed_content``)."""
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class LogRecord:
    """One transition-log record, as stored, exported and emitted."""

    case_ref: str
    case_seq: int
    at: str
    actor: str
    os_user: str | None
    roles: tuple[str, ...]
    source: str
    trigger: str
    from_state: str | None
    to_state: str
    reason: str | None
    data: Mapping[str, Any]
    guideline_ref: str | None
    workflow_version: str
    prev_hash: str
    hash: str = ""
    seq: int | None = None
    auth: Mapping[str, Any] | None = None
    format: int = FORMAT_V1

    def hashed_content(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in HASHED_FIELDS}
        out["roles"] = list(self.roles)
        out["data"] = dict(self.data)
        if self.format >= FORMAT_AUTH:
            out["auth"] = dict(self.auth) if self.auth is not None else None
            out["format"] = self.format
        return out

    def compute_hash(self) -> str:
        return content_hash(self.hashed_content())

    def as_dict(self) -> dict[str, Any]:
        """The documented JSON shape (export, history, the structlog stream)."""
        out = {"seq": self.seq, **self.hashed_content(), "hash": self.hash}
        return out


def seal(record: LogRecord) -> LogRecord:
    """The record with its hash filled in."""
    from dataclasses import replace  # noqa: PLC0415 - tiny, keeps the module's imports minimal

    return replace(record, hash=record.compute_hash())


def record_from_row(row: Any) -> LogRecord:
    """Rebuild a record from a ``transition_log`` row (as stored: JSON text columns)."""
    return LogRecord(
        seq=row["seq"],
        case_ref=row["case_ref"],
        case_seq=row["case_seq"],
        at=row["at"],
        actor=row["actor"],
        os_user=row["os_user"],
        roles=tuple(json.loads(row["roles"])),
        source=row["source"],
        trigger=row["trigger"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        reason=row["reason"],
        data=json.loads(row["data"]),
        guideline_ref=row["guideline_ref"],
        workflow_version=row["workflow_version"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        auth=json.loads(row["auth"]) if row["auth"] is not None else None,
        format=row["record_format"],
    )
