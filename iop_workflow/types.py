"""The typed shapes of the Python API's return values: the documented JSON keys, as TypedDicts.

Each is exactly what the matching ``--json`` output and HTTP body hold (``docs/cli.md``,
``docs/audit.md``, DESIGN.md's "CLI contract"); the services build plain dicts and the
API hands them back without copying, so ``case["state"]`` is a ``str`` to mypy and the
same object ``iop --json case show`` prints. ``NotRequired`` marks a key that only some
values carry (e.g. a case's detail, present in ``case show`` but not in ``case list``).
The server's pydantic models describe request bodies only; responses have these shapes
and no second definition. ``tests/test_typed_api.py`` checks every shape against real
values, so a key added to a service without its type here fails a test.
"""

from datetime import date, datetime
from typing import Any, NotRequired, TypedDict

# -- the transition log -------------------------------------------------------------------------


class Auth(TypedDict):
    """How a record's actor was established (DESIGN.md, "Identity and roles")."""

    method: str
    issuer: str | None
    subject: str | None
    token_id: int | None


class Record(TypedDict):
    """One transition-log record (``case history``, ``case fire``'s ``record``, every ``case record``)."""

    seq: int
    case_ref: str
    case_seq: int
    at: str
    actor: str
    os_user: str | None
    roles: list[str]
    source: str
    trigger: str
    from_state: str | None
    to_state: str
    reason: str | None
    data: dict[str, Any]
    guideline_ref: str | None
    workflow_version: str
    prev_hash: str
    auth: NotRequired[Auth | None]  # records of format 2 and later
    format: NotRequired[int]
    hash: str


# -- cases --------------------------------------------------------------------------------------


class OrganisationRef(TypedDict):
    name: str
    org_number: str
    protected: bool
    contact_name: NotRequired[str | None]  # case show: masked unless the reader has a need to know
    contact_email: NotRequired[str | None]
    contact_phone: NotRequired[str | None]
    address: NotRequired[str | None]


class GuidelineRef(TypedDict):
    ref: str
    valid_until: str | None


class Timer(TypedDict):
    kind: str
    due_on: str
    action: str


class Fact(TypedDict):
    """A recorded fact as ``case show`` gives it: its values through their corrections."""

    kind: str
    entry: int
    at: str
    actor: str
    values: dict[str, Any]
    corrections: dict[str, dict[str, Any]]
    retracted: dict[str, Any] | None
    status: NotRequired[str]  # agreements: in_force, superseded or retracted
    superseded_by: NotRequired[int | None]


class CaseRow(TypedDict):
    """A case as ``case list`` gives it."""

    ref: str
    state: str
    state_label: str
    end_reason: str | None
    municipality: str
    municipality_code: str
    title: str
    version: int
    organisation: OrganisationRef
    guideline: GuidelineRef | None
    timers: list[Timer]


class ImportMark(TypedDict):
    sha256: str
    history_from: str


class Case(CaseRow):
    """A case as ``case show`` (and ``case open``) gives it."""

    challenge: str
    unit: str | None
    officer: str | None
    initiated_by: str
    period: int
    review_round: int
    opened_on: str
    state_since: str
    workflow_version: str
    assigned_officers: list[str]
    imported: ImportMark | None  # a case that came in with its history (docs/import.md), else None
    facts: list[Fact]


class Reason(TypedDict):
    code: str
    message: str


class OptionInput(TypedDict):
    name: str
    option: str
    choices: list[str]


class Option(TypedDict):
    """One trigger of ``case options``: allowed, or every reason it is blocked."""

    trigger: str
    label: str
    to_state: str
    allowed: bool
    reasons: list[Reason]
    inputs: list[OptionInput]


class Imported(TypedDict):
    """``case import`` (docs/import.md)."""

    ref: str
    state: str
    sha256: str
    history_from: str
    records: int
    file: str


class Assignment(TypedDict):
    case_ref: str
    login: str
    assigned: bool
    changed: bool
    assigned_officers: list[str]
    seq: int | None


# -- organisations and guidelines ----------------------------------------------------------------


class Organisation(TypedDict):
    name: str
    org_number: str
    legal_form: str
    non_profit: bool
    protected: bool
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    address: str | None
    idea_based_registered_on: str | None
    idea_based_removed_on: str | None


class Provenance(TypedDict):
    source: str
    quote: str
    verified: bool


class Criterion(TypedDict):
    code: str
    kind: str
    text_sv: str
    text_en: str


class GuidelineRow(TypedDict):
    """A guideline as ``guideline list`` gives it; with ``criteria=True`` (``guideline show``) its detail too."""

    ref: str
    municipality: str
    municipality_code: str
    title: str
    status: str
    valid_from: str | None
    valid_until: str | None
    in_force: bool
    unverified: list[str]
    version: int
    loaded_by: str | None
    loaded_at: str | None
    decided_on: NotRequired[str | None]
    decided_by: NotRequired[str | None]
    minutes_ref: NotRequired[str | None]
    owner: NotRequired[str | None]
    follow_up_months: NotRequired[int | None]
    guideline_review_months: NotRequired[int | None]
    source: NotRequired[str | None]
    note: NotRequired[str | None]
    provenance: NotRequired[dict[str, Provenance]]
    criteria: NotRequired[list[Criterion]]


class GuidelineConfirmed(TypedDict):
    ref: str
    version: int
    seq: int
    confirmed: dict[str, Any]
    in_force: bool
    unverified: list[str]


# -- roles and tokens ----------------------------------------------------------------------------


class Bootstrap(TypedDict):
    bootstrapped: bool
    login: str | None  # None when the database already has an admin
    roles: list[str]
    seq: NotRequired[int]


# "from" (the settings key a grant came from) is a Python keyword: the functional form names it.
ImportedGrant = TypedDict(
    "ImportedGrant", {"login": str, "role": str, "municipality": str, "municipality_code": str, "from": str}
)


class Init(TypedDict):
    """What ``iop init`` did."""

    schema: str
    clock: str  # real or simulated (docs/operations.md)
    today: date
    guidelines: dict[str, str]
    guidelines_skipped: list[Any]
    guidelines_recorded: list[Any]
    grants_imported: list[ImportedGrant]
    bootstrap: Bootstrap


class GrantChange(TypedDict):
    login: str
    role: str
    municipality: str
    municipality_code: str
    changed: bool
    seq: int | None


class Grant(TypedDict):
    login: str
    role: str
    municipality: str
    municipality_code: str
    granted_by: str
    granted_at: Any  # a datetime from the database (the CLI prints it ISO-8601)


class TokenCreated(TypedDict):
    id: int
    name: str
    token: str
    roles: list[str]
    municipalities: list[str]
    municipality_codes: list[str]
    expires: str | None


class Token(TypedDict):
    id: int
    name: str
    roles: list[str]
    municipalities: list[str]
    municipality_codes: list[str]
    expires: str | None
    revoked: bool
    last_used: Any
    created_by: str
    created_at: Any


class TokenRevoked(TypedDict):
    id: int
    name: str
    revoked: bool
    changed: bool


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
