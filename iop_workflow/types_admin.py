"""The typed shapes of organisations, guidelines, roles and API tokens, and what ``iop init`` did.

Re-exported by :mod:`iop_workflow.types` (and ``iop_workflow``), which says what these shapes are.
"""

from datetime import date
from typing import Any, NotRequired, TypedDict

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
