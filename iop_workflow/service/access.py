"""Reading protected data: only auditors may, and every such read is logged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from iop_workflow.errors import AccessDenied
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.context import Actor, App
from iop_workflow.store.audit_tables import ACCESS_EVENTS

AUDITOR = "auditor"


def authorise_protected(app: App, actor: Actor, *, action: str, scope: Mapping[str, Any]) -> None:
    """Let an auditor read protected data, logging it (a row in ``access_events`` and a structlog
    event); refuse anyone else (:class:`AccessDenied`, exit 3) and log the refusal as an event only.
    """
    fields = {
        "actor": actor.name, "os_user": actor.recorded_os_user, "roles": sorted(actor.roles),
        "source": actor.source, "action": action, "scope": dict(scope), "include_protected": True,
    }  # fmt: skip
    if AUDITOR not in actor.roles:
        app.sink.event("access_denied", **fields)
        raise AccessDenied(actor=actor.name, roles=sorted(actor.roles), action=f"{action} --include-protected",
                           needs=AUDITOR)  # fmt: skip
    at = utc_iso(app.clock.now())
    row = {**fields, "at": at, "roles": json.dumps(fields["roles"]),
           "scope": json.dumps(fields["scope"], sort_keys=True, ensure_ascii=False, default=str)}  # fmt: skip
    with app.db.write() as s:
        event_id = s.execute(sa.insert(ACCESS_EVENTS).values(**row).returning(ACCESS_EVENTS.c.id)).scalar_one()
    app.sink.event("access", id=event_id, at=at, **fields)


def access_events(app: App) -> list[dict[str, Any]]:
    """Every logged access to protected data, oldest first."""
    with app.db.read() as s:
        rows = s.execute(sa.select(ACCESS_EVENTS).order_by(ACCESS_EVENTS.c.id)).mappings().all()
    return [{**dict(r), "roles": json.loads(r["roles"]), "scope": json.loads(r["scope"])} for r in rows]
