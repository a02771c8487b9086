"""SQLModel tables. The schema is owned by Alembic (``store/migrations``).

Importing this module is on every database command's start-up path, so it
declares only what reading and writing need; :func:`schema_metadata` adds the
rest (the timers' partial index) for Alembic.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Timestamps are stored as aware UTC datetimes; transition_log.at is ISO text so
# that the hash chain reproduces byte for byte on every back-end.
_TS = sa.DateTime(timezone=True)


class _Table(SQLModel):
    """The base of every table here: pydantic builds a model's validator when it is first used.

    The services read and write through SQLAlchemy Core (``Model.__table__``) and
    never validate a row model, so building a validator for each table at import
    was start-up time spent for nothing.
    """

    model_config = {**SQLModel.model_config, "defer_build": True}


class Organisation(_Table, table=True):
    __tablename__ = "organisations"

    id: int | None = Field(default=None, primary_key=True)
    org_number: str = Field(max_length=11, unique=True, index=True)
    name: str = Field(max_length=300)
    legal_form: str = Field(max_length=40)
    non_profit: bool = True
    protected: bool = False
    contact_name: str | None = Field(default=None, max_length=300)
    contact_email: str | None = Field(default=None, max_length=300)
    contact_phone: str | None = Field(default=None, max_length=60)
    address: str | None = Field(default=None, max_length=500)
    # Lag (2022:900): in Kammarkollegiet's register from, until (set by `iop org registration`, logged).
    idea_based_registered_on: date | None = None
    idea_based_removed_on: date | None = None
    created_at: datetime = Field(sa_type=_TS)


class GuidelineRow(_Table, table=True):
    """One version of a guideline; a change of content is a new row (migration 0005)."""

    __tablename__ = "guidelines"
    __table_args__ = (sa.Index("uq_guidelines_ref_version", "ref", "version", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=100, index=True)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    loaded_by: str = Field(default="system", max_length=100, sa_column_kwargs={"server_default": "system"})
    log_seq: int | None = None  # the @guideline:<ref> record holding this version's content
    municipality: str = Field(max_length=100, index=True)
    title: str = Field(max_length=500)
    status: str = Field(default="adopted", max_length=20, sa_column_kwargs={"server_default": "adopted"})
    decided_on: date | None = None  # None: unknown (migration 0011)
    decided_by: str | None = Field(default=None, max_length=300)
    minutes_ref: str | None = Field(default=None, max_length=300)
    valid_from: date | None = None
    valid_until: date | None = None
    follow_up_months: int | None = None  # each agreement's review interval; None: the configured default
    guideline_review_months: int | None = None  # the guideline's own follow-up
    # {field: {source, quote, verified}}; "{}" (a row from before 0011): nothing is verified
    provenance: str = Field(default="{}", sa_column_kwargs={"server_default": "{}"})
    owner: str = Field(max_length=300)
    source: str = Field(default="", max_length=500)
    note: str = ""
    content_hash: str = Field(max_length=64)
    expired_flagged_on: date | None = None
    allows_municipal_initiative: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    loaded_at: datetime = Field(sa_type=_TS)


class CriterionRow(_Table, table=True):
    __tablename__ = "criteria"
    __table_args__ = (sa.UniqueConstraint("guideline_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    guideline_id: int = Field(foreign_key="guidelines.id", index=True)
    position: int
    code: str = Field(max_length=80)
    kind: str = Field(max_length=20)
    text_sv: str
    text_en: str = ""


class WorkflowVersion(_Table, table=True):
    """Every definition a case ever ran under, kept for the auditors."""

    __tablename__ = "workflow_versions"

    version: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100)
    content: str
    loaded_at: datetime = Field(sa_type=_TS)


class CaseRefCounter(_Table, table=True):
    __tablename__ = "case_ref_counters"

    year: int = Field(primary_key=True)
    last: int = 0


def _ref_type(length: int) -> sa.types.TypeEngine[str]:
    """A ref column: on PostgreSQL in the ``"C"`` collation (code-point order, migration 0014), so
    its index serves the order in which ``audit verify`` merges its streams (``ledger.by_ref``)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


class Case(_Table, table=True):
    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=40, sa_type=_ref_type(40), unique=True, index=True)
    municipality: str = Field(max_length=100, index=True)
    unit: str | None = Field(default=None, max_length=200)
    officer: str = Field(max_length=100)
    title: str = Field(max_length=500)
    challenge: str
    initiated_by: str = Field(default="organisation", max_length=20)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    state: str = Field(max_length=40, index=True)
    end_reason: str | None = Field(default=None, max_length=40)
    version: int = 1
    workflow_version: str = Field(max_length=64, foreign_key="workflow_versions.version")
    guideline_id: int | None = Field(default=None, foreign_key="guidelines.id")
    period: int = 1
    review_round: int = 0
    review_rounds_in_period: int = 0
    review_started_on: date | None = None
    # An uppsägning (``terminate``): given on, and the day the notice period has run (0010).
    notice_given_on: date | None = None
    notice_ends_on: date | None = None
    opened_on: date
    state_entered_on: date
    created_at: datetime = Field(sa_type=_TS)
    updated_at: datetime = Field(sa_type=_TS)
    # A case brought in with its history (``iop case import``, 0013): the day its history starts (its
    # facts lie within [history_from, today] instead of [opened_on, today]) and the import file's SHA-256.
    history_from: date | None = None
    import_sha256: str | None = Field(default=None, max_length=64, unique=True, index=True)  # one case per file


class Meeting(_Table, table=True):
    __tablename__ = "meetings"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    log_seq: int | None = Field(default=None, index=True, unique=True)  # the record:<kind> that wrote it
    held_on: date
    participants: str = ""
    joint_challenge: str = ""
    notes: str = ""
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(sa_type=_TS)


class Assessment(_Table, table=True):
    """One verdict on one criterion; the latest per (case, period, guideline, code) counts."""

    __tablename__ = "assessments"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    log_seq: int | None = Field(default=None, index=True, unique=True)  # the record:<kind> that wrote it
    period: int
    guideline_id: int = Field(foreign_key="guidelines.id")
    criterion_code: str = Field(max_length=80)
    verdict: str = Field(max_length=20)
    note: str
    assessed_by: str = Field(max_length=100)
    assessed_at: datetime = Field(sa_type=_TS)


class LegalCheck(_Table, table=True):
    __tablename__ = "legal_checks"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    log_seq: int | None = Field(default=None, index=True, unique=True)  # the record:<kind> that wrote it
    period: int
    competence: bool
    procurement_not_required: bool
    no_competition_distortion: bool
    state_aid_basis: str = Field(max_length=30)
    state_aid_amount_sek: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    rationale: str
    checked_by: str = Field(max_length=100)
    checked_at: datetime = Field(sa_type=_TS)


class Agreement(_Table, table=True):
    __tablename__ = "agreements"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    log_seq: int | None = Field(default=None, index=True, unique=True)  # the record:<kind> that wrote it
    period: int
    start_on: date
    end_on: date
    notice_months: int = 3
    purpose: str = ""
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(sa_type=_TS)


class Contribution(_Table, table=True):
    __tablename__ = "contributions"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    log_seq: int | None = Field(default=None, index=True, unique=True)  # the record:<kind> that wrote it
    period: int
    party: str = Field(max_length=20)
    kind: str = Field(max_length=20)
    amount: Decimal = Field(max_digits=14, decimal_places=2)
    unit: str = Field(max_length=20)
    description: str = ""
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(sa_type=_TS)


class Decision(_Table, table=True):
    __tablename__ = "decisions"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    log_seq: int | None = Field(default=None, index=True, unique=True)  # the record:<kind> that wrote it
    period: int
    body: str = Field(max_length=200)
    decided_on: date
    minutes_ref: str = Field(max_length=100)
    delegation_ref: str | None = Field(default=None, max_length=100)
    # None: to enter or renew the agreement; "ending": to end the running one (0010).
    subject: str | None = Field(default=None, max_length=20)
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(sa_type=_TS)


class Review(_Table, table=True):
    __tablename__ = "reviews"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    log_seq: int | None = Field(default=None, index=True, unique=True)  # the record:<kind> that wrote it
    period: int
    round: int
    held_on: date
    report_received: bool
    summary: str = ""
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(sa_type=_TS)


class TransitionLog(_Table, table=True):
    """The append-only, hash-chained log; the database refuses UPDATE and DELETE."""

    __tablename__ = "transition_log"
    __table_args__ = (sa.UniqueConstraint("case_ref", "case_seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    # A case's ref, or a chain's "@..." (0005); UNIQUE (case_ref, case_seq), "C" collation on PostgreSQL (0014).
    case_ref: str = Field(max_length=120, sa_type=_ref_type(120))
    case_seq: int
    at: str = Field(max_length=32, index=True)
    actor: str = Field(max_length=100)
    os_user: str | None = Field(default=None, max_length=100)
    roles: str  # canonical JSON array
    source: str = Field(max_length=20)
    trigger: str = Field(max_length=60)
    from_state: str | None = Field(default=None, max_length=40)
    to_state: str = Field(max_length=40)
    reason: str | None = None
    data: str  # canonical JSON object
    guideline_ref: str | None = Field(default=None, max_length=100)
    workflow_version: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)  # unique through (case_ref, case_seq), which it covers (migration 0003)
    # Record format 2 (migration 0004): how the actor was established, inside the hash.
    auth: str | None = Field(default=None, sa_type=sa.Text)  # canonical JSON object, NULL for format 1
    record_format: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class Timer(_Table, table=True):
    __tablename__ = "timers"
    # Its partial index ix_timers_open_due is declared by schema_metadata() below.

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    kind: str = Field(max_length=40)
    state: str = Field(max_length=40)
    due_on: date
    action: str = Field(max_length=80)
    planned_at: datetime = Field(sa_type=_TS)
    fired_at: datetime | None = Field(default=None, sa_type=_TS)
    cancelled_at: datetime | None = Field(default=None, sa_type=_TS)
    outcome: str | None = Field(default=None, max_length=200)


class Alert(_Table, table=True):
    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    guideline_id: int | None = Field(default=None, foreign_key="guidelines.id")
    due_on: date
    recipient: str = Field(max_length=200)
    message_sv: str
    message_en: str
    raised_at: datetime = Field(sa_type=_TS)
    acknowledged_at: datetime | None = Field(default=None, sa_type=_TS)
    acknowledged_by: str | None = Field(default=None, max_length=100)


OPEN_TIMERS_INDEX = "ix_timers_open_due"
_OPEN_TIMERS_WHERE = "fired_at IS NULL AND cancelled_at IS NULL"


def schema_metadata() -> sa.MetaData:
    """The tables' metadata complete with what only the schema needs, for Alembic.

    The sweep's index holds only open timers, so an idle day reads nothing. Its
    WHERE clause is a dialect keyword (``sqlite_where``, ``postgresql_where``) and
    SQLAlchemy checks such keywords by importing the dialect, so declaring the
    index on the class made every command import both dialects: a SQLite
    ``iop case show`` paid for the PostgreSQL dialect (about 20 ms). The migrations
    create the index; ``store/migrate.py`` calls this before Alembic reads the
    metadata (autogenerate compares it). Idempotent.
    """
    table = Timer.__table__  # type: ignore[attr-defined]
    if not any(index.name == OPEN_TIMERS_INDEX for index in table.indexes):
        sa.Index(
            OPEN_TIMERS_INDEX,
            table.c.due_on,
            sqlite_where=sa.text(_OPEN_TIMERS_WHERE),
            postgresql_where=sa.text(_OPEN_TIMERS_WHERE),
        )
    return SQLModel.metadata
