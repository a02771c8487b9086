"""iop-workflow: case workflow for idéburet offentligt partnerskap (IOP).

The public names are imported lazily so that ``iop --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "ConcurrentUpdate",
    "FakeClock",
    "Iop",
    "IopError",
    "NotFound",
    "SystemClock",
    "TransitionNotAllowed",
    "__version__",
]

_LAZY = {
    "Iop": "iop_workflow.api",
    "Actor": "iop_workflow.service.context",
    "FakeClock": "iop_workflow.clock",
    "SystemClock": "iop_workflow.clock",
    "IopError": "iop_workflow.errors",
    "ConcurrentUpdate": "iop_workflow.errors",
    "NotFound": "iop_workflow.errors",
    "TransitionNotAllowed": "iop_workflow.errors",
}

if TYPE_CHECKING:
    from iop_workflow.api import Iop
    from iop_workflow.clock import FakeClock, SystemClock
    from iop_workflow.errors import ConcurrentUpdate, IopError, NotFound, TransitionNotAllowed
    from iop_workflow.service.context import Actor


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iop_workflow' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module), name)
