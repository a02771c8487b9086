"""Tables of the audit trail beside the transition log: checkpoints, corrections, retractions, access events.

All are append-only like ``transition_log``: migrations 0002 (and 0009, for retractions)
install the triggers that refuse UPDATE and DELETE on them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from iop_workflow.store.tables import _TS, _Table


class CheckpointRow(_Table, table=True):
    """A ledger digest: every case's chain head, chained to the previous checkpoint."""

    __tablename__ = "checkpoints"

    seq: int | None = Field(default=None, primary_key=True)
    at: str = Field(max_length=32)
    actor: str = Field(max_length=100)
    cases: int
    records: int
    max_seq: int
    heads: str  # canonical JSON: [[case_ref, case_seq, hash], ...] sorted by case_ref
    prev_digest: str = Field(max_length=64, unique=True)  # unique: the checkpoints never fork
    digest: str = Field(max_length=64, unique=True)


class CorrectionRow(_Table, table=True):
    """A logged correction of one field of one recorded fact; the fact's row is never changed."""

    __tablename__ = "corrections"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    case_ref: str = Field(max_length=40)
    fact_kind: str = Field(max_length=20)
    fact_id: int
    corrects_case_seq: int  # the record:<kind> log record of the fact
    field: str = Field(max_length=60)
    old_value: str  # JSON
    new_value: str  # JSON
    reason: str
    log_seq: int  # the record:correction log record
    corrected_by: str = Field(max_length=100)
    corrected_at: datetime = Field(sa_type=_TS)


class RetractionRow(_Table, table=True):
    """A logged retraction of one recorded fact: the rules, reports and views read the facts without it.

    The fact's row is never changed or deleted. One retraction per fact (the unique constraint
    also settles two retractions racing for the same fact).
    """

    __tablename__ = "retractions"
    __table_args__ = (sa.UniqueConstraint("fact_kind", "fact_id", name="uq_retractions_fact"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    case_ref: str = Field(max_length=40)
    fact_kind: str = Field(max_length=20)
    fact_id: int
    retracts_case_seq: int  # the record:<kind> log record of the fact
    reason: str
    log_seq: int  # the record:retraction log record
    retracted_by: str = Field(max_length=100)
    retracted_at: datetime = Field(sa_type=_TS)


class AccessEventRow(_Table, table=True):
    """Someone read protected data (``--include-protected``)."""

    __tablename__ = "access_events"

    id: int | None = Field(default=None, primary_key=True)
    at: str = Field(max_length=32, index=True)
    actor: str = Field(max_length=100)
    os_user: str | None = Field(default=None, max_length=100)
    roles: str  # JSON array
    source: str = Field(max_length=20)
    action: str = Field(max_length=60)
    scope: str  # JSON object: the command's parameters
    include_protected: bool


CHECKPOINTS = CheckpointRow.__table__  # type: ignore[attr-defined]
CORRECTIONS = CorrectionRow.__table__  # type: ignore[attr-defined]
RETRACTIONS = RetractionRow.__table__  # type: ignore[attr-defined]
ACCESS_EVENTS = AccessEventRow.__table__  # type: ignore[attr-defined]
APPEND_ONLY = ("checkpoints", "corrections", "retractions", "access_events")


class ClockRow(_Table, table=True):
    """The database's clock (one row): ``real`` or ``simulated``, and where the log's time order is checked from.

    ``now`` (a fixed-width UTC ISO instant, as ``transition_log.at``) is the stored clock of a
    simulated database, NULL on a real one. ``ordered_from_seq``: records from this ``seq`` on
    were written with the time-order guard; earlier ones that break it are warnings in verify.
    """

    __tablename__ = "db_clock"

    id: int = Field(primary_key=True)
    mode: str = Field(max_length=20)
    now: str | None = Field(default=None, max_length=32)
    ordered_from_seq: int


DB_CLOCK = ClockRow.__table__  # type: ignore[attr-defined]
