"""One unit of work across layers: join an open write, run after-commit work only after commit.

The HTTP layer wraps a service command in a transaction of its own so that an
``Idempotency-Key`` and its stored response commit together with the change.
The service's own ``db.write()`` then joins that transaction instead of opening
a second one, and the audit stream's lines (which must follow the commit) wait
in :func:`deferring` until the outer transaction has committed; they are
dropped if it rolls back. Outside such a scope nothing changes: every write is
its own transaction and emits right after its commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_OPEN: ContextVar[tuple[object, Any] | None] = ContextVar("iop_open_write", default=None)
_AFTER: ContextVar[list[Callable[[], None]] | None] = ContextVar("iop_after_commit", default=None)


def joined(owner: object) -> Any:
    """The connection of the write ``owner`` (a Database) has open in this context, or None."""
    current = _OPEN.get()
    return current[1] if current is not None and current[0] is owner else None


@contextmanager
def holding(owner: object, connection: Any) -> Iterator[None]:
    """Mark ``connection`` as ``owner``'s open write for the duration."""
    token = _OPEN.set((owner, connection))
    try:
        yield
    finally:
        _OPEN.reset(token)


def after_commit(action: Callable[[], None]) -> None:
    """Run ``action`` now, or, inside :func:`deferring`, once the enclosing transaction has committed."""
    pending = _AFTER.get()
    if pending is None:
        action()
    else:
        pending.append(action)


@contextmanager
def deferring() -> Iterator[list[Callable[[], None]]]:
    """Collect after-commit actions; the caller runs them after its commit (and drops them on failure)."""
    pending: list[Callable[[], None]] = []
    token = _AFTER.set(pending)
    try:
        yield pending
    finally:
        _AFTER.reset(token)
