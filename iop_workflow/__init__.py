"""iop-workflow: case workflow for idéburet offentligt partnerskap (IOP).

The public names are imported lazily so that ``iop --help`` stays fast. The typed shapes of the
API's return values (``Case``, ``Record``, ``Option``, ...) are the TypedDicts of ``iop_workflow.types``,
each importable from here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Every name not in _LAZY below is a TypedDict of iop_workflow.types (a documented JSON shape).
__all__ = [
    "AccessEvent",
    "Actor",
    "Alert",
    "AnnualReport",
    "Assignment",
    "Backup",
    "Bootstrap",
    "Case",
    "CaseRow",
    "ConcurrentUpdate",
    "Deadline",
    "Fact",
    "FakeClock",
    "Grant",
    "GrantChange",
    "GuidelineConfirmed",
    "GuidelineRow",
    "Imported",
    "Init",
    "InvalidInput",
    "Iop",
    "IopError",
    "NotFound",
    "Option",
    "Organisation",
    "Record",
    "RegisterRow",
    "Resync",
    "Sweep",
    "SystemClock",
    "Tick",
    "Token",
    "TokenCreated",
    "TokenRevoked",
    "TransitionNotAllowed",
    "UsageError",
    "__version__",
]

_LAZY = {
    "Iop": "iop_workflow.api",
    "Actor": "iop_workflow.service.context",
    "FakeClock": "iop_workflow.clock",
    "InvalidInput": "iop_workflow.errors",
    "UsageError": "iop_workflow.errors",
    "SystemClock": "iop_workflow.clock",
    "IopError": "iop_workflow.errors",
    "ConcurrentUpdate": "iop_workflow.errors",
    "NotFound": "iop_workflow.errors",
    "TransitionNotAllowed": "iop_workflow.errors",
}

if TYPE_CHECKING:
    from iop_workflow.api import Iop
    from iop_workflow.clock import FakeClock, SystemClock
    from iop_workflow.errors import ConcurrentUpdate, InvalidInput, IopError, NotFound, TransitionNotAllowed, UsageError
    from iop_workflow.service.context import Actor
    from iop_workflow.types import (
        AccessEvent,
        Alert,
        AnnualReport,
        Assignment,
        Backup,
        Bootstrap,
        Case,
        CaseRow,
        Deadline,
        Fact,
        Grant,
        GrantChange,
        GuidelineConfirmed,
        GuidelineRow,
        Imported,
        Init,
        Option,
        Organisation,
        Record,
        RegisterRow,
        Resync,
        Sweep,
        Tick,
        Token,
        TokenCreated,
        TokenRevoked,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name) or ("iop_workflow.types" if name in __all__ else None)
    if module is None:
        raise AttributeError(f"module 'iop_workflow' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module), name)
