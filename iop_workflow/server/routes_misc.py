"""Health, readiness, metrics, the principal, organisations, guidelines, alerts, audit and reports over HTTP."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import Field

from iop_workflow.errors import NotFound, NotPermitted
from iop_workflow.municipalities import code_of, name_of
from iop_workflow.server.app import language
from iop_workflow.server.auth import authenticated
from iop_workflow.server.metrics import CONTENT_TYPE
from iop_workflow.server.routes_cases import Body
from iop_workflow.server.state import server_of
from iop_workflow.server.writes import Reply, run
from iop_workflow.service.context import WILDCARD, Actor

router = APIRouter()
AUDIT_ROLES = frozenset({"auditor", "admin"})


def _texts(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI document's other media types of a route's 200 response (text, by ``format``)."""
    return {200: {"content": {m: {"schema": {"type": "string"}} for m in media_types}}}


# -- health ---------------------------------------------------------------------------------
@router.get("/healthz", tags=["health"], summary="The process is up (no database access, no authentication)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["health"],
    summary="The database answers and its schema is at head",
    responses={503: {"description": "The database does not answer, or its schema is not at head"}},
)
def readyz(request: Request) -> JSONResponse:
    from iop_workflow.store import migrate  # noqa: PLC0415

    db = server_of(request).iop.app.db
    try:
        current, head = migrate.current_revision(db), migrate.head_revision()
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "problem": type(exc).__name__}, status_code=503)
    ready = current == head
    body = {"status": "ok" if ready else "schema_out_of_date", "schema": current, "head": head}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics", tags=["health"], summary="Prometheus text format (authenticated)", response_class=PlainTextResponse
)
@authenticated
def metrics(request: Request, _actor: Actor) -> Response:
    return Response(server_of(request).metrics.render(), media_type=CONTENT_TYPE)


@router.get("/v1/me", tags=["identity"], summary="The authenticated principal, its roles and scope")
@authenticated
def me(actor: Actor) -> dict[str, Any]:
    grants = [{"role": r, "municipality": name_of(m), "municipality_code": m} for r, m in actor.grants or ()]
    codes = None if actor.municipalities is None else sorted(actor.municipalities)
    return {
        "login": actor.name,
        "auth": actor.auth.as_dict(),
        "roles": sorted(actor.roles),
        "grants": grants,
        "municipalities": None if codes is None else [name_of(c) for c in codes],
        "municipality_codes": codes,
    }


# -- organisations ------------------------------------------------------------------------------
class OrganisationIn(Body):
    name: str = Field(max_length=300)
    org_number: str = Field(max_length=20)
    legal_form: str = Field(max_length=40)
    non_profit: bool = True
    protected: bool = False
    contact_name: str | None = Field(default=None, max_length=300)
    contact_email: str | None = Field(default=None, max_length=300)
    contact_phone: str | None = Field(default=None, max_length=60)
    address: str | None = Field(default=None, max_length=500)


@router.get("/v1/organisations", tags=["organisations"], summary="Every organisation (protected data masked)")
@authenticated
def organisations(request: Request, _actor: Actor) -> list[dict[str, Any]]:
    from iop_workflow.service import admin  # noqa: PLC0415

    return admin.orgs(server_of(request).iop.app)


@router.post("/v1/organisations", tags=["organisations"], status_code=201, summary="Add an organisation")
@authenticated
def add_organisation(request: Request, actor: Actor, body: OrganisationIn) -> Response:
    from iop_workflow.service import admin  # noqa: PLC0415

    app = server_of(request).iop.app

    def act() -> Reply:
        added = admin.add_org(app, actor, **body.model_dump())
        return Reply(201, added, {"Location": f"/v1/organisations/{added['org_number']}"})

    return run(request, actor, body.model_dump(mode="json"), act)


@router.get("/v1/organisations/{org_number}", tags=["organisations"], summary="One organisation")
@authenticated
def organisation(request: Request, actor: Actor, org_number: str) -> dict[str, Any]:
    """A protected organisation's contact data only for an officer of one of its open cases or an
    auditor (logged as an access event); masked for everybody else."""
    from iop_workflow.service import admin  # noqa: PLC0415

    return admin.org(server_of(request).iop.app, org_number, actor=actor)


# -- guidelines -------------------------------------------------------------------------------------
@router.get("/v1/guidelines", tags=["guidelines"], summary="Every guideline and whether it is in force today")
@authenticated
def guidelines(request: Request, _actor: Actor) -> list[dict[str, Any]]:
    from iop_workflow.service import admin  # noqa: PLC0415

    return admin.guideline_dicts(server_of(request).iop.app)


@router.get("/v1/guidelines/{ref:path}", tags=["guidelines"], summary="One guideline with its criteria")
@authenticated
def guideline(request: Request, _actor: Actor, ref: str) -> dict[str, Any]:
    from iop_workflow.service import admin  # noqa: PLC0415

    return admin.guideline_dicts(server_of(request).iop.app, criteria=True, ref=ref)[0]


# -- alerts ------------------------------------------------------------------------------------------
@router.get("/v1/alerts", tags=["alerts"], summary="Open alerts (of cases within the principal's municipalities)")
@authenticated
def alerts(request: Request, actor: Actor, *, include_acknowledged: bool = False) -> list[dict[str, Any]]:
    return _alerts(request, actor, include_acknowledged=include_acknowledged)


def _alerts(request: Request, actor: Actor, *, include_acknowledged: bool) -> list[dict[str, Any]]:
    from iop_workflow.service import alerts as alert_service  # noqa: PLC0415

    iop = server_of(request).iop
    rows = alert_service.listing(iop.app, lang=language(request), include_acknowledged=include_acknowledged)
    return [a for a in rows if _visible_alert(iop, actor, a)]


def _visible_alert(iop: Any, actor: Actor, alert: Mapping[str, Any]) -> bool:
    if actor.municipalities is None:
        return True
    ref = alert.get("case_ref")
    if ref is None:
        return False  # a guideline's alert: for those who administer every municipality
    try:
        return actor.covers(iop.case(ref)["municipality_code"])
    except NotFound:
        return False


@router.post("/v1/alerts/{alert_id}/ack", tags=["alerts"], summary="Acknowledge an alert")
@authenticated
def acknowledge(request: Request, actor: Actor, alert_id: Annotated[int, Field(ge=1, le=2_000_000_000)]) -> Response:
    iop = server_of(request).iop
    visible = {a["id"] for a in _alerts(request, actor, include_acknowledged=True)}
    if alert_id not in visible:
        raise NotFound(kind="alert", key=str(alert_id))

    def act() -> Reply:
        return Reply(200, iop.acknowledge_alert(alert_id, actor=actor, lang=language(request)))

    return run(request, actor, {"alert": alert_id}, act)


# -- audit -------------------------------------------------------------------------------------------
def _auditor(actor: Actor, what_sv: str, what_en: str) -> None:
    if actor.municipalities is not None or not actor.roles & AUDIT_ROLES:
        raise NotPermitted(
            actor=actor.name,
            roles=sorted(actor.roles),
            needs="auditor",
            action_sv=f"{what_sv} (i alla kommuner)",
            action_en=f"{what_en} (in every municipality)",
        )


@router.get("/v1/audit/verify", tags=["audit"], summary="Recompute every chain and checkpoint")
@authenticated
def verify(
    request: Request,
    actor: Actor,
    *,
    case: Annotated[str | None, Query(max_length=40)] = None,
    digest: Annotated[str | None, Query(max_length=80)] = None,
) -> dict[str, Any]:
    _auditor(actor, "granska loggen", "verify the log")
    return server_of(request).iop.verify(case=case, digest=digest).as_dict()


@router.get(
    "/v1/audit/export",
    tags=["audit"],
    summary="The log's records in seq order, streamed",
    response_class=StreamingResponse,
    responses=_texts("application/x-ndjson", "text/csv"),
)
@authenticated
def export(
    request: Request,
    actor: Actor,
    *,
    format: Literal["jsonl", "csv"] = "jsonl",
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    case: Annotated[str | None, Query(max_length=40)] = None,
    include_protected: bool = False,
) -> StreamingResponse:
    from iop_workflow.audit.export import csv_header, csv_line, jsonl_line  # noqa: PLC0415

    _auditor(actor, "exportera loggen", "export the log")
    records = server_of(request).iop.export(
        since=since, until=until, case=case, include_protected=include_protected, actor=actor
    )
    first = iter(records)  # validates the filters before the 200 goes out

    def lines() -> Iterator[str]:
        if format == "csv":
            yield csv_header()
        for record in first:
            yield csv_line(record) if format == "csv" else jsonl_line(record) + "\n"

    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(lines(), media_type=media)


# -- reports -------------------------------------------------------------------------------------------
def _place(actor: Actor, municipality: str | None) -> str | None:
    """The municipality a report covers (its SCB code): the asked one, within the principal's scope."""
    places = actor.municipalities
    if places is None:
        return municipality
    if municipality is not None:
        municipality = code_of(municipality)  # an unknown one: 422 naming the nearest
    if municipality is None:
        if len(places) == 1:
            return next(iter(places))
        raise NotPermitted(
            actor=actor.name,
            roles=sorted(actor.roles),
            needs=f"{WILDCARD} (alla kommuner)",
            action_sv="ta ut rapporten för alla kommuner; ange municipality",
            action_en="report on every municipality; give municipality",
        )
    if not actor.covers(municipality):
        raise NotFound(kind="municipality", key=name_of(municipality))
    return municipality


@router.get(
    "/v1/reports/register",
    tags=["reports"],
    summary="The public register of partnerships",
    responses=_texts("text/markdown", "text/csv"),
)
@authenticated
def register(
    request: Request,
    actor: Actor,
    *,
    format: Literal["json", "md", "csv"] = "json",
    municipality: Annotated[str | None, Query(max_length=100)] = None,
    include_protected: bool = False,
) -> Response:
    from iop_workflow.report.render import register_csv, register_markdown  # noqa: PLC0415

    rows = server_of(request).iop.register(
        municipality=_place(actor, municipality), include_protected=include_protected, actor=actor
    )
    if format == "csv":
        return Response(register_csv(rows), media_type="text/csv; charset=utf-8")
    if format == "md":
        return Response(register_markdown(rows, language(request)), media_type="text/markdown; charset=utf-8")
    return JSONResponse(rows)


@router.get(
    "/v1/reports/annual",
    tags=["reports"],
    summary="The yearly follow-up to the committee",
    responses=_texts("text/markdown", "text/csv", "text/html"),
)
@authenticated
def annual(
    request: Request,
    actor: Actor,
    *,
    year: Annotated[int, Query(ge=2000, le=2100)],
    format: Literal["json", "md", "csv", "html"] = "json",
    municipality: Annotated[str | None, Query(max_length=100)] = None,
    include_protected: bool = False,
) -> Response:
    from iop_workflow.report.formats import MEDIA_TYPES, render_annual  # noqa: PLC0415

    report = server_of(request).iop.annual_report(
        year=year, municipality=_place(actor, municipality), include_protected=include_protected, actor=actor
    )
    if format == "json":
        return JSONResponse(report)
    return Response(render_annual(report, format, language(request)), media_type=MEDIA_TYPES[format])
