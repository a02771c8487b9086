"""The typed shapes of cases and their transition log: a record, a case as listed and shown, its facts and options.

Re-exported by :mod:`iop_workflow.types` (and ``iop_workflow``), which says what these shapes are.
"""

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
