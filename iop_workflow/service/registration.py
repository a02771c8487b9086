"""An organisation's registration under Lag (2022:900) om registrering av idéburna organisationer.

Kammarkollegiet keeps the register (from 2023-01-01, when the act came into force). A
registrar records what it says, with ``iop org registration ORGNR --registered-on DATE
[--removed-on DATE]``: the organisation's row changes and one record of the organisation's
own chain ``@org:<org number>`` holds the dates, in the same transaction. A guideline may
list the criterion ``registered_idea_based``, which the rules evaluate from these dates
(``domain/guards.py``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from iop_workflow.errors import InvalidInput, NotPermitted
from iop_workflow.service import validate
from iop_workflow.service.changes import append_chain_record
from iop_workflow.service.context import Actor, App
from iop_workflow.store import cases as repo
from iop_workflow.store.orgs import ORGS, normalise_org_number

CHAIN_PREFIX = "@org:"
TRIGGER = "org:registration"
STATE = "organisation"
RECORDER = "registrar"  # the role that records what the register says
IN_FORCE = date(2023, 1, 1)  # Lag (2022:900) came into force: nobody was registered before


def record(
    app: App, actor: Actor, org_number: str, *, registered_on: object, removed_on: object = None
) -> dict[str, Any]:
    """Record the organisation's registration (and its removal, if given); the organisation as ``org show``.

    Refused: NotPermitted (exit 3) without the role registrar; InvalidInput (exit 6) for a date
    outside [2023-01-01, today] or a removal before the registration; NotFound for an unknown
    organisation. Nothing is written then.
    """
    number = normalise_org_number(org_number)
    today = app.clock.today()
    registered = _bounded("registered_on", registered_on, today)
    removed = _bounded("removed_on", removed_on, today) if removed_on not in (None, "") else None
    if removed is not None and removed < registered:
        raise InvalidInput(
            field="removed_on",
            value=removed.isoformat(),
            problem_sv=f"ligger före registreringen ({registered})",
            problem_en=f"is before the registration ({registered})",
        )
    if RECORDER not in actor.roles:
        raise NotPermitted(
            actor=actor.name,
            roles=sorted(actor.roles),
            needs=RECORDER,
            action_sv=f"registrera {number} som idéburen organisation (lag 2022:900)",
            action_en=f"record {number}'s registration as an idea-based organisation",
        )
    from iop_workflow.service.admin import org_dict  # noqa: PLC0415 - admin imports the guideline services

    with app.db.write() as s:
        org = repo.org_row(s, org_number=number)
        data = {
            "org_number": number,
            "registered_on": registered.isoformat(),
            "removed_on": removed.isoformat() if removed else None,
            "act": "SFS 2022:900",
        }
        rec = append_chain_record(app, s, CHAIN_PREFIX + number, actor=actor, trigger=TRIGGER, state=STATE, data=data)
        s.execute(
            sa.update(ORGS)
            .where(ORGS.c.id == org["id"])
            .values(idea_based_registered_on=registered, idea_based_removed_on=removed)
        )
        out = org_dict(repo.org_row(s, org_number=number))
    app.sink.emit(rec)
    return out


def _bounded(field: str, value: object, today: date) -> date:
    day = validate.day(field, value)
    if IN_FORCE <= day <= today:
        return day
    raise InvalidInput(
        field=field,
        value=day.isoformat(),
        problem_sv=f"måste ligga mellan lagens ikraftträdande ({IN_FORCE}) och i dag ({today})",
        problem_en=f"must lie between the act's entry into force ({IN_FORCE}) and today ({today})",
    )
