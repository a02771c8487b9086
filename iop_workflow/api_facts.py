"""The Python API's recorded facts, corrections and retractions (a part of :class:`~iop_workflow.api.Iop`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from iop_workflow.api_base import ActorLike, IopBase

if TYPE_CHECKING:
    from iop_workflow import types as shapes  # the documented JSON shapes (TypedDicts)


class FactsApi(IopBase):
    """Facts of a case: each a logged record through the one write path."""

    # -- facts ----------------------------------------------------------------
    def record_meeting(
        self,
        ref: str,
        *,
        actor: ActorLike = None,
        held_on: date | str,
        joint_challenge: str,
        participants: str = "",
        notes: str = "",
    ) -> shapes.Record:
        from iop_workflow.service import records  # noqa: PLC0415

        logged = records.meeting(
            self.app,
            self.actor(actor),
            ref,
            held_on=held_on,
            joint_challenge=joint_challenge,
            participants=participants,
            notes=notes,
        )
        return cast("shapes.Record", logged.as_dict())

    def assess(self, ref: str, criterion: str, verdict: str, *, note: str, actor: ActorLike = None) -> shapes.Record:
        from iop_workflow.service import records  # noqa: PLC0415

        logged = records.assessment(self.app, self.actor(actor), ref, criterion=criterion, verdict=verdict, note=note)
        return cast("shapes.Record", logged.as_dict())

    def record_legal_check(
        self,
        ref: str,
        *,
        competence: bool,
        procurement_not_required: bool,
        no_competition_distortion: bool,
        state_aid_basis: str,
        rationale: str,
        state_aid_amount_sek: str | int | Decimal | None = None,
        actor: ActorLike = None,
    ) -> shapes.Record:
        from iop_workflow.service import records  # noqa: PLC0415

        logged = records.legal_check(
            self.app,
            self.actor(actor),
            ref,
            competence=competence,
            procurement_not_required=procurement_not_required,
            no_competition_distortion=no_competition_distortion,
            state_aid_basis=state_aid_basis,
            rationale=rationale,
            state_aid_amount_sek=None if state_aid_amount_sek is None else str(state_aid_amount_sek),
        )
        return cast("shapes.Record", logged.as_dict())

    def record_agreement(
        self,
        ref: str,
        *,
        start_on: date | str,
        end_on: date | str,
        notice_months: int | str = 3,
        purpose: str = "",
        actor: ActorLike = None,
    ) -> shapes.Record:
        from iop_workflow.service import records  # noqa: PLC0415

        logged = records.agreement(
            self.app,
            self.actor(actor),
            ref,
            start_on=start_on,
            end_on=end_on,
            notice_months=notice_months,
            purpose=purpose,
        )
        return cast("shapes.Record", logged.as_dict())

    def record_contribution(
        self,
        ref: str,
        *,
        party: str,
        kind: str,
        amount: str | int | float | Decimal,
        unit: str,
        description: str = "",
        actor: ActorLike = None,
    ) -> shapes.Record:
        from iop_workflow.service import records  # noqa: PLC0415

        logged = records.contribution(
            self.app, self.actor(actor), ref, party=party, kind=kind, amount=amount, unit=unit, description=description
        )
        return cast("shapes.Record", logged.as_dict())

    def record_decision(
        self,
        ref: str,
        *,
        body: str,
        decided_on: date | str,
        minutes_ref: str,
        delegation_ref: str | None = None,
        subject: str = "agreement",
        actor: ActorLike = None,
    ) -> shapes.Record:
        from iop_workflow.service import records  # noqa: PLC0415

        logged = records.decision(
            self.app,
            self.actor(actor),
            ref,
            body=body,
            decided_on=decided_on,
            minutes_ref=minutes_ref,
            delegation_ref=delegation_ref,
            subject=subject,
        )
        return cast("shapes.Record", logged.as_dict())

    def record_review(
        self, ref: str, *, held_on: date | str, report_received: bool, summary: str = "", actor: ActorLike = None
    ) -> shapes.Record:
        from iop_workflow.service import records  # noqa: PLC0415

        logged = records.review(
            self.app, self.actor(actor), ref, held_on=held_on, report_received=report_received, summary=summary
        )
        return cast("shapes.Record", logged.as_dict())

    def correct(
        self,
        ref: str,
        kind: str,
        entry: int | str,
        *,
        field: str,
        value: object,
        reason: str,
        actor: ActorLike = None,
    ) -> shapes.Record:
        """Correct ``field`` of the fact recorded by log entry ``entry`` (its case_seq); returns the
        ``record:correction`` log record. The fact's row is never changed."""
        from iop_workflow.service import corrections  # noqa: PLC0415

        logged = corrections.correct(
            self.app, self.actor(actor), ref, kind=kind, entry=entry, field=field, value=value, reason=reason
        )
        return cast("shapes.Record", logged.as_dict())

    def retract(
        self, ref: str, kind: str, entry: int | str, *, reason: str | None, actor: ActorLike = None
    ) -> shapes.Record:
        """Withdraw the fact recorded by log entry ``entry`` (its case_seq); returns the ``record:retraction``
        log record. The fact's row stays; rules, reports and views read the facts without it."""
        from iop_workflow.service import corrections  # noqa: PLC0415

        logged = corrections.retract(self.app, self.actor(actor), ref, kind=kind, entry=entry, reason=reason)
        return cast("shapes.Record", logged.as_dict())
