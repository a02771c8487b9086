"""The typed shapes of the Python API's return values: the documented JSON keys, as TypedDicts.

Each is exactly what the matching ``--json`` output and HTTP body hold (``docs/cli.md``,
``docs/audit.md``, DESIGN.md's "CLI contract"); the services build plain dicts and the
API hands them back without copying, so ``case["state"]`` is a ``str`` to mypy and the
same object ``iop --json case show`` prints. ``NotRequired`` marks a key that only some
values carry (e.g. a case's detail, present in ``case show`` but not in ``case list``).
The server's pydantic models describe request bodies only; responses have these shapes
and no second definition. ``tests/test_typed_api.py`` checks every shape against real
values, so a key added to a service without its type here fails a test.

The shapes live by area in ``types_cases`` (cases and the transition log), ``types_admin``
(organisations, guidelines, roles, tokens, ``iop init``) and ``types_reports`` (deadlines, sweeps,
alerts, reports, audit, backups); this module is where they are imported from.
"""

from iop_workflow.types_admin import (
    Bootstrap,
    Criterion,
    Grant,
    GrantChange,
    GuidelineConfirmed,
    GuidelineRow,
    ImportedGrant,
    Init,
    Organisation,
    Provenance,
    Token,
    TokenCreated,
    TokenRevoked,
)
from iop_workflow.types_cases import (
    Assignment,
    Auth,
    Case,
    CaseRow,
    Fact,
    GuidelineRef,
    Imported,
    ImportMark,
    Option,
    OptionInput,
    OrganisationRef,
    Reason,
    Record,
    Timer,
)
from iop_workflow.types_reports import (
    AccessEvent,
    Alert,
    AnnualReport,
    Backup,
    ClockState,
    Deadline,
    RegisterRow,
    Resync,
    StreamState,
    Sweep,
    SweepItem,
    Tick,
)

__all__ = [
    "AccessEvent",
    "Alert",
    "AnnualReport",
    "Assignment",
    "Auth",
    "Backup",
    "Bootstrap",
    "Case",
    "CaseRow",
    "ClockState",
    "Criterion",
    "Deadline",
    "Fact",
    "Grant",
    "GrantChange",
    "GuidelineConfirmed",
    "GuidelineRef",
    "GuidelineRow",
    "ImportMark",
    "Imported",
    "ImportedGrant",
    "Init",
    "Option",
    "OptionInput",
    "Organisation",
    "OrganisationRef",
    "Provenance",
    "Reason",
    "Record",
    "RegisterRow",
    "Resync",
    "StreamState",
    "Sweep",
    "SweepItem",
    "Tick",
    "Timer",
    "Token",
    "TokenCreated",
    "TokenRevoked",
]
