"""Organisations: validated organisation numbers, rows in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.errors import InvalidInput
from iop_workflow.store.tables import Organisation

ORGS = Organisation.__table__  # type: ignore[attr-defined]


def normalise_org_number(value: object) -> str:
    """``NNNNNN-NNNN`` for a valid Swedish organisation number (Luhn-checked by python-stdnum)."""
    # Only commands that take an organisation number pay for python-stdnum, not reads.
    from stdnum.exceptions import ValidationError  # noqa: PLC0415
    from stdnum.se import orgnr  # noqa: PLC0415

    if not isinstance(value, str):
        value = str(value)
    try:
        compact: str = orgnr.validate(value)
    except ValidationError as exc:
        raise InvalidInput(
            field="org_number",
            value=value,
            problem_sv=f"inget giltigt organisationsnummer ({exc})",
            problem_en=f"not a valid Swedish organisation number ({exc})",
        ) from None
    return f"{compact[:6]}-{compact[6:]}"


def insert_org(s: Connection, values: dict[str, Any], now: datetime) -> int:
    """Register an organisation; one already registered is refused with exit 6. The unique index
    decides, in a savepoint: so also against a writer that committed it a moment ago (PostgreSQL lets
    two transactions both see the number free)."""
    try:
        with s.begin_nested():  # a unique violation rolls back only this insert
            return int(s.execute(sa.insert(ORGS).values(**values, created_at=now).returning(ORGS.c.id)).scalar_one())
    except sa.exc.IntegrityError:
        taken = s.execute(sa.select(ORGS.c.id).where(ORGS.c.org_number == values["org_number"])).scalar()
        if taken is None:
            raise  # another constraint: not ours to explain
        raise InvalidInput(
            field="org_number",
            value=values["org_number"],
            problem_sv="organisationen är redan registrerad",
            problem_en="the organisation is already registered",
        ) from None


def list_orgs(s: Connection) -> list[sa.RowMapping]:
    return list(s.execute(sa.select(ORGS).order_by(ORGS.c.name)).mappings().all())
