"""The typed shapes of deadlines, sweeps and alerts, the reports, the audit stream and backups.

Re-exported by :mod:`iop_workflow.types` (and ``iop_workflow``), which says what these shapes are.
"""

from datetime import date, datetime
from typing import Any, NotRequired, TypedDict

# -- deadlines and alerts ------------------------------------------------------------------------


class SweepItem(TypedDict, total=False):
    case_ref: str
    guideline_ref: str
    alert_id: int
    kind: str
    action: str
    due_on: str
    outcome: str


class Sweep(TypedDict):
    """One sweep's report (``scheduler tick --json``'s ``sweeps``)."""

    kind: str
    on: str
    dry_run: bool
    due: int
    fired: int
    skipped: int
    alerts: int
    refused: int
    failed: int
    seconds: float
    items: list[SweepItem]
    items_omitted: int


class ClockState(TypedDict):
    """``Iop.clock()``: the database's clock mode and the instant and day this object dates by."""

    mode: str
    now: datetime
    today: date


class Tick(TypedDict):
    """``scheduler tick --json``: every sweep once."""

    on: str
    dry_run: bool
    fired: int
    skipped: int
    alerts: int
    refused: int
    failed: int
    due: int
    sweeps: list[Sweep]


class Deadline(TypedDict):
    """One row of ``scheduler plan --json``."""

    due_on: str
    case_ref: str | None
    guideline_ref: str | None
    kind: str
    action: str
    who: str


class Alert(TypedDict):
    id: int
    kind: str
    case_ref: str | None
    guideline_ref: str | None
    due_on: str
    recipient: str
    message: str
    raised_at: str
    acknowledged: bool
    acknowledged_by: str | None


# -- reports and audit ---------------------------------------------------------------------------


class RegisterRow(TypedDict):
    """One partnership of ``report register --format json``."""

    ref: str
    municipality: str
    municipality_code: str
    organisation: str
    org_number: str
    protected: bool
    title: str
    unit: str | None
    committee: str | None
    start_on: str | None
    end_on: str | None
    municipal_money_sek: str
    state: str
    idea_based_registered_on: str | None
    idea_based_removed_on: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    address: str | None


# ``report annual --format json`` (docs/audit.md); "from" and "to" (the year's first and last day) are
# Python keywords, hence the functional form. The nested rows keep their documented keys.
AnnualReport = TypedDict(
    "AnnualReport",
    {
        "year": int,
        "municipality": str | None,
        "municipality_code": str | None,
        "from": str,
        "to": str,
        "preliminary": bool,
        "include_protected": bool,
        "states": list[dict[str, Any]],
        "at_year_start": dict[str, int],
        "at_year_end": dict[str, int],
        "monthly": list[dict[str, Any]],
        "events": dict[str, int],
        "end_reasons": dict[str, int],
        "reviews": dict[str, int],
        "contributions": list[dict[str, str]],
        "guidelines": list[dict[str, Any]],
        "cases": list[dict[str, Any]],
    },
)


class AccessEvent(TypedDict):
    id: int
    at: str
    actor: str
    os_user: str | None
    roles: list[str]
    source: str
    action: str
    scope: dict[str, Any]
    include_protected: bool


class StreamState(TypedDict):
    path: str
    exists: bool
    in_sync: bool
    lines: int
    records: int
    missing: int
    missing_seqs: list[int]
    foreign: int
    duplicates: int


class Resync(TypedDict):
    stream: str
    before: StreamState
    rewritten: bool
    kept: str | None
    written: int
    appended: int
    after: StreamState


class Backup(TypedDict):
    """``db backup --json`` (and ``db restore --json``, which adds ``replaced`` and the verification)."""

    file: str
    database: str
    integrity: str
    pages: int
    page_size: int
    cases: int
    records: int
    max_seq: int
    schema: str
    bytes: NotRequired[int]
    seconds: float
    replaced: NotRequired[bool]
    verified: NotRequired[bool]
    checkpoints: NotRequired[int]
    schema_current: NotRequired[bool]
