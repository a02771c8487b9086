"""Cases over HTTP: list, open, show, options, history, transitions, recorded facts, assessments, corrections,
retractions.

Every write to an existing case needs ``If-Match`` (the case's ETag, its version);
every POST honours ``Idempotency-Key`` (server/writes.py). The principal comes
from the credential (server/auth.py); a case outside its municipalities is 404.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from iop_workflow.server.app import language
from iop_workflow.server.auth import authenticated
from iop_workflow.server.state import server_of
from iop_workflow.server.writes import Reply, etag, run
from iop_workflow.service import assignments, case_import, corrections, records, views, workflow
from iop_workflow.service.context import Actor

router = APIRouter(prefix="/v1/cases", tags=["cases"])
MAX_PAGE = 200


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseOpen(Body):
    org_number: str = Field(max_length=20, examples=["802479-1322"])
    municipality: str = Field(max_length=100)
    title: str = Field(max_length=500)
    challenge: str = Field(max_length=10_000)
    unit: str | None = Field(default=None, max_length=200)
    initiated_by: Literal["organisation", "municipality"] = "organisation"


class Transition(Body):
    trigger: str = Field(max_length=60)
    reason: str | None = Field(default=None, max_length=4000)
    end_reason: str | None = Field(default=None, max_length=40)
    notice_on: date | None = Field(default=None, description="terminate: the day notice was given (default today)")
    data: dict[str, str | int | float | bool | None] | None = None


class Meeting(Body):
    held_on: date
    joint_challenge: str = Field(max_length=10_000)
    participants: str = Field(default="", max_length=2000)
    notes: str = Field(default="", max_length=10_000)


class Contribution(Body):
    party: str = Field(max_length=40)
    kind: str = Field(max_length=40)
    amount: str | int | float = Field(description="Decimal, SEK or the unit's own measure")
    unit: str = Field(max_length=40)
    description: str = Field(default="", max_length=10_000)


class Agreement(Body):
    start_on: date
    end_on: date
    notice_months: int = Field(default=3, ge=0, le=120)
    purpose: str = Field(default="", max_length=10_000)


class Decision(Body):
    body: str = Field(max_length=200)
    decided_on: date
    minutes_ref: str = Field(max_length=200)
    delegation_ref: str | None = Field(default=None, max_length=200)
    subject: Literal["agreement", "ending"] = "agreement"


class Review(Body):
    held_on: date
    report_received: bool
    summary: str = Field(default="", max_length=10_000)


class LegalCheck(Body):
    competence: bool
    procurement_not_required: bool
    no_competition_distortion: bool
    state_aid_basis: str = Field(max_length=40)
    rationale: str = Field(max_length=10_000)
    state_aid_amount_sek: str | None = Field(default=None, max_length=40)


class Assessment(Body):
    criterion: str = Field(max_length=80)
    verdict: Literal["met", "not_met", "not_applicable"]
    note: str = Field(max_length=10_000)


class Assignment(Body):
    login: str = Field(max_length=200, description="The officer's login (must hold the role officer there)")
    remove: bool = Field(default=False, description="Take the assignment back")


class Correction(Body):
    kind: str = Field(max_length=20)
    entry: int = Field(ge=1, le=2_000_000_000)
    field: str = Field(max_length=60)
    value: str | int | float | bool | None
    reason: str = Field(max_length=4000)


class Retraction(Body):
    kind: str = Field(max_length=20)
    entry: int = Field(ge=1, le=2_000_000_000)
    reason: str | None = Field(default=None, max_length=4000)


def _shown(request: Request, ref: str, actor: Actor) -> dict[str, Any]:
    return views.show(server_of(request).iop.app, ref, language(request), actor=actor)


# FastAPI tries a router's routes in order: the busiest first (the OpenAPI document sorts its paths).
@router.post("/{ref}/transitions", summary="Fire a trigger (If-Match required)")
@authenticated
def fire(request: Request, actor: Actor, ref: str, body: Transition) -> Response:
    server = server_of(request)

    def act() -> Reply:
        fired = workflow.fire(
            server.iop.app,
            actor,
            ref,
            body.trigger,
            reason=body.reason,
            data=body.data,
            end_reason=body.end_reason,
            notice_on=body.notice_on,
        )
        server.metrics.transitions.labels(body.trigger).inc()
        return Reply(
            200, {"case": _shown(request, ref, actor), "record": fired.record.as_dict()}, {"ETag": etag(fired.version)}
        )

    return run(request, actor, body.model_dump(mode="json"), act, case_ref=ref)


@router.get("", summary="Cases in ref order, a page at a time")
@authenticated
def list_cases(
    request: Request,
    actor: Actor,
    *,
    state: str | None = None,
    municipality: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    after: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """``{"items": [...], "next": cursor or null}``; pass ``next`` as ``after`` for the following page."""
    app = server_of(request).iop.app
    found = views.page(app, language(request), state, actor=actor, municipality=municipality, limit=limit, after=after)
    return {"items": found.items, "next": found.next}


@router.post("", status_code=201, summary="Open a case (register an initiative)")
@authenticated
def open_case(request: Request, actor: Actor, body: CaseOpen) -> Response:
    app = server_of(request).iop.app

    def act() -> Reply:
        fired = workflow.open_case(app, actor, **body.model_dump())
        ref = fired.record.case_ref
        return Reply(201, _shown(request, ref, actor), {"Location": f"/v1/cases/{ref}", "ETag": etag(fired.version)})

    return run(request, actor, body.model_dump(mode="json"), act)


class CaseImport(Body):
    name: str = Field(max_length=200, description="The file's name; its suffix (.toml, .json) gives its format")
    content: str = Field(description="The import file's text (docs/import.md); its SHA-256 is over its UTF-8 bytes")


@router.post("/imports", status_code=201, summary="Import an existing partnership with its history (coordinator)")
@authenticated
def import_case(request: Request, actor: Actor, body: CaseImport) -> Response:
    """As `iop --json case import FILE`: every step through the live rules in one transaction; a refusal
    names the file's entry (``details.entry``) and writes nothing."""
    app = server_of(request).iop.app

    def act() -> Reply:
        done = case_import.import_text(app, actor, body.name, body.content)
        version = int(views.show(app, done["ref"], language(request))["version"])
        return Reply(201, done, {"Location": f"/v1/cases/{done['ref']}", "ETag": etag(version)})

    return run(request, actor, body.model_dump(mode="json"), act)


@router.get("/{ref}", summary="A case, as `iop --json case show`")
@authenticated
def show(request: Request, actor: Actor, ref: str) -> JSONResponse:
    """A protected organisation's contact data is shown only to the case's own officers and auditors
    (each such read logged as an access event); everybody else sees it masked."""
    shown = views.show(server_of(request).iop.app, ref, language(request), actor=actor, contact=True)
    return JSONResponse(shown, headers={"ETag": etag(int(shown["version"]))})


@router.get("/{ref}/options", summary="Each trigger: allowed, or every reason it is blocked")
@authenticated
def options(request: Request, actor: Actor, ref: str) -> list[dict[str, Any]]:
    _facts, opts = workflow.options(server_of(request).iop.app, actor, ref)
    return views.options_dicts(opts, language(request))


@router.get("/{ref}/history", summary="The case's transition-log records")
@authenticated
def history(request: Request, actor: Actor, ref: str) -> list[dict[str, Any]]:
    return views.history(server_of(request).iop.app, ref, actor=actor)


def _record(request: Request, actor: Actor, ref: str, body: Body, call: Any) -> Response:
    app = server_of(request).iop.app

    def act() -> Reply:
        return Reply(200, call(app, actor, ref, **body.model_dump()).as_dict())

    return run(request, actor, body.model_dump(mode="json"), act, case_ref=ref)


@router.post("/{ref}/records/meeting", summary="Record the dialogue meeting")
@authenticated
def record_meeting(request: Request, actor: Actor, ref: str, body: Meeting) -> Response:
    return _record(request, actor, ref, body, records.meeting)


@router.post("/{ref}/records/contribution", summary="Record a party's contribution")
@authenticated
def record_contribution(request: Request, actor: Actor, ref: str, body: Contribution) -> Response:
    return _record(request, actor, ref, body, records.contribution)


@router.post("/{ref}/records/agreement", summary="Record the agreement's period and terms")
@authenticated
def record_agreement(request: Request, actor: Actor, ref: str, body: Agreement) -> Response:
    return _record(request, actor, ref, body, records.agreement)


@router.post("/{ref}/records/decision", summary="Record the decision (body, date, minutes)")
@authenticated
def record_decision(request: Request, actor: Actor, ref: str, body: Decision) -> Response:
    return _record(request, actor, ref, body, records.decision)


@router.post("/{ref}/records/review", summary="Record the yearly review")
@authenticated
def record_review(request: Request, actor: Actor, ref: str, body: Review) -> Response:
    return _record(request, actor, ref, body, records.review)


@router.post("/{ref}/records/legal-check", summary="Record the legal check (competence, procurement, state aid)")
@authenticated
def record_legal_check(request: Request, actor: Actor, ref: str, body: LegalCheck) -> Response:
    return _record(request, actor, ref, body, records.legal_check)


@router.post("/{ref}/assessments", summary="Assess one criterion of the bound guideline")
@authenticated
def assess(request: Request, actor: Actor, ref: str, body: Assessment) -> Response:
    return _record(request, actor, ref, body, records.assessment)


@router.post("/{ref}/assignments", summary="Assign an officer to the case, or take it back (If-Match required)")
@authenticated
def assign(request: Request, actor: Actor, ref: str, body: Assignment) -> Response:
    """A coordinator, or the officer who opened the case, assigns ``login`` (``remove``: unassigns);
    one ``record:assignment`` record in the case's chain."""
    app = server_of(request).iop.app

    def act() -> Reply:
        return Reply(200, assignments.assign(app, actor, ref, body.login, remove=body.remove))

    return run(request, actor, body.model_dump(mode="json"), act, case_ref=ref)


@router.post("/{ref}/corrections", summary="Correct one field of a recorded fact (a new log record)")
@authenticated
def correct(request: Request, actor: Actor, ref: str, body: Correction) -> Response:
    return _record(request, actor, ref, body, corrections.correct)


@router.post("/{ref}/retractions", summary="Withdraw a recorded fact, e.g. one recorded twice (a new log record)")
@authenticated
def retract(request: Request, actor: Actor, ref: str, body: Retraction) -> Response:
    return _record(request, actor, ref, body, corrections.retract)
