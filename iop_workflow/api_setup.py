"""The Python API's set-up: the schema, guidelines and organisations (a part of :class:`~iop_workflow.api.Iop`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, cast

from iop_workflow.api_base import ActorLike, IopBase
from iop_workflow.domain.guidelines import Guideline

if TYPE_CHECKING:
    from iop_workflow import types as shapes  # the documented JSON shapes (TypedDicts)


class SetupApi(IopBase):
    """The database's set-up and the register it builds on: guidelines and organisations."""

    # -- set-up ---------------------------------------------------------------
    def init(
        self, *, admin: str | None = None, simulation: bool = False, start: date | str | None = None
    ) -> shapes.Init:
        """Create/upgrade the schema, load the shipped guidelines; on a database without an admin, import
        the old ``[roles]`` settings as grants and make ``admin`` (default: the OS login) its admin.
        ``simulation``: a database without records gets a simulated clock (``iop init --simulation``),
        at 09:00 on ``start`` when given, else now."""
        from iop_workflow.errors import UsageError  # noqa: PLC0415
        from iop_workflow.service import admin as admin_service  # noqa: PLC0415
        from iop_workflow.service import validate  # noqa: PLC0415

        if start is not None and not simulation:
            raise UsageError(
                problem="--start sets a simulated clock: give --simulation too",
                problem_sv="--start ställer en simulerad klocka: ange även --simulation",
            )
        first = validate.day("start", start) if start is not None else None
        return cast("shapes.Init", admin_service.init(self.app, admin=admin, simulation=simulation, start=first))

    def load_guideline_file(self, path: Path | str, *, actor: ActorLike = None) -> dict[str, str]:
        """Load a guideline file (role coordinator in its municipality): each changed content a new, logged version."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return admin.load_guideline_file(self.app, self.actor(actor), Path(path))

    def confirm_guideline(
        self,
        ref: str,
        *,
        decided_on: date | str,
        decided_by: str,
        minutes_ref: str,
        valid_from: date | str | None = None,
        valid_until: date | str | None = None,
        actor: ActorLike = None,
    ) -> shapes.GuidelineConfirmed:
        """Confirm guideline ``ref``'s decision against its minutes (role coordinator in its municipality):
        a logged ``guideline:confirm`` record that amends its current version. Exit codes as the CLI's."""
        from iop_workflow.service import guideline_confirm  # noqa: PLC0415

        return cast(
            "shapes.GuidelineConfirmed",
            guideline_confirm.confirm(
                self.app,
                self.actor(actor),
                ref,
                decided_on=decided_on,
                decided_by=decided_by,
                minutes_ref=minutes_ref,
                valid_from=valid_from,
                valid_until=valid_until,
            ),
        )

    def guidelines(self) -> list[Guideline]:
        """Every guideline in the database, as domain values."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return admin.guidelines(self.app)

    def guideline(self, ref: str) -> Guideline:
        from iop_workflow.service import admin  # noqa: PLC0415

        return admin.guideline(self.app, ref)

    def guideline_dicts(self, *, criteria: bool = False, ref: str | None = None) -> list[shapes.GuidelineRow]:
        """The documented JSON shape of ``guideline list`` (in_force as of today); ``ref``: only that one."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return cast("list[shapes.GuidelineRow]", admin.guideline_dicts(self.app, criteria=criteria, ref=ref))

    def add_organisation(
        self,
        *,
        name: str,
        org_number: str,
        legal_form: str,
        non_profit: bool = True,
        protected: bool = False,
        contact_name: str | None = None,
        contact_email: str | None = None,
        contact_phone: str | None = None,
        address: str | None = None,
        actor: ActorLike = None,
    ) -> shapes.Organisation:
        """Add an organisation (role registrar; logged)."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return cast(
            "shapes.Organisation",
            admin.add_org(
                self.app,
                self.actor(actor),
                name=name,
                org_number=org_number,
                legal_form=legal_form,
                non_profit=non_profit,
                protected=protected,
                contact_name=contact_name,
                contact_email=contact_email,
                contact_phone=contact_phone,
                address=address,
            ),
        )

    def record_registration(
        self,
        org_number: str,
        *,
        registered_on: date | str,
        removed_on: date | str | None = None,
        actor: ActorLike = None,
    ) -> shapes.Organisation:
        """Record the organisation's registration under Lag (2022:900) (role registrar; logged)."""
        from iop_workflow.service import registration  # noqa: PLC0415

        found = registration.record(
            self.app, self.actor(actor), org_number, registered_on=registered_on, removed_on=removed_on
        )
        return cast("shapes.Organisation", found)

    def organisations(self) -> list[shapes.Organisation]:
        from iop_workflow.service import admin  # noqa: PLC0415

        return cast("list[shapes.Organisation]", admin.orgs(self.app))

    def organisation(self, org_number: str, *, actor: ActorLike = None) -> shapes.Organisation:
        """One organisation; a protected one's contact data only for ``actor`` (None: this process's
        login) with a need to know (an officer of one of its open cases, an auditor), logged."""
        from iop_workflow.service import admin  # noqa: PLC0415

        return cast("shapes.Organisation", admin.org(self.app, org_number, actor=self.actor(actor)))
