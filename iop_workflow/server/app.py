"""The FastAPI application: middleware, the one error boundary, and the routers.

``create_app(iop)`` serves an open :class:`~iop_workflow.api.Iop`; with none, it
connects as the settings say (``IOP_DATABASE_URL``, ``IOP_CONFIG``): that is what
each uvicorn worker does. Handlers are sync (FastAPI runs them in a thread pool)
and call the same services as the CLI.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iop_workflow import __version__
from iop_workflow.api import Iop
from iop_workflow.audit.sink import StreamFailure
from iop_workflow.errors import InternalError, IopError
from iop_workflow.server import openapi, problems
from iop_workflow.server.metrics import Metrics, database_reader
from iop_workflow.server.oidc import OidcVerifier
from iop_workflow.server.ratelimit import FailureLimiter
from iop_workflow.server.state import Server

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# One JSON line per request on stderr (what a log shipper reads), whatever structlog's global
# configuration says. Never a header, a query string or a body: credentials travel there.
log = structlog.wrap_logger(
    structlog.PrintLogger(sys.stderr),
    processors=[
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(sort_keys=True),
    ],
    logger_name="iop.http",
    cache_logger_on_first_use=True,
)


def language(request: Request) -> str:
    """sv unless English is preferred over Swedish in Accept-Language."""
    best, best_q = "sv", -1.0
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower()[:2]
        if lang not in {"sv", "en"}:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = lang, q
    return best


class BodyLimit:
    """Refuse a request body over ``limit`` bytes (413) before a handler reads it, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> Response:
    return problems.problem(413, "request_too_large", "Content too large", f"The request body is over {limit} bytes.")


def _log_stream_failure(failure: StreamFailure) -> None:
    log.warning("audit_stream_write_failed", path=failure.path, error=failure.error, seq=failure.seq)


def create_app(iop: Iop | None = None) -> FastAPI:
    """The application over ``iop`` (default: connect as the settings say)."""
    iop = iop or Iop.connect(source="api")
    settings = iop.app.settings
    server = Server(
        iop=iop,
        settings=settings,
        limiter=FailureLimiter(settings.server.auth_failures_per_minute),
        oidc=OidcVerifier(settings.oidc) if settings.oidc.issuer else None,
        metrics=Metrics(database_reader(iop)),
    )
    app = FastAPI(
        title="iop-workflow",
        version=__version__,
        description="Case workflow for idéburet offentligt partnerskap (IOP). Every route but /healthz, /readyz "
        "and /openapi.json needs `Authorization: Bearer <token>` (an API token `iop_...` or an OIDC JWT).",
        docs_url=None,
        redoc_url=None,
        # The service's own metrics are Prometheus (/metrics) and its access log structlog: FastAPI's
        # native OpenTelemetry stays off, so no request asks for its providers.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.server = server
    # A line the audit stream could not take: the change is committed and answered as done; the
    # sink alerts role:admin (once per outage) and the log shipper sees each lost line.
    iop.app.sink.listeners.append(_log_stream_failure)
    _boundary(app)
    app.add_middleware(Observe, server=server)
    app.add_middleware(BodyLimit, limit=settings.server.max_body_bytes)
    from iop_workflow.server import routes_admin, routes_cases, routes_misc  # noqa: PLC0415

    for module in (routes_cases, routes_misc, routes_admin):  # the busiest routes are matched first
        app.include_router(module.router)
    openapi.install(app)
    return app


def _boundary(app: FastAPI) -> None:
    """The ONE place errors become responses."""

    @app.exception_handler(IopError)
    def _iop_error(request: Request, exc: IopError) -> JSONResponse:
        return problems.from_error(exc, language(request))

    @app.exception_handler(problems.HttpProblem)
    def _http_problem(request: Request, exc: problems.HttpProblem) -> JSONResponse:
        return problems.from_http(exc, language(request))

    @app.exception_handler(StarletteHTTPException)
    def _starlette(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's and FastAPI's own refusals (an unparsable body, no such route, a wrong method)."""
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        title = next((s.phrase for s in HTTPStatus if s.value == exc.status_code), "Error")
        detail = str(exc.detail) if language(request) == "en" else f"Begäran avvisades: {exc.detail}"
        return problems.problem(
            exc.status_code, code, title, detail, headers=dict(exc.headers or {}), reasons=[], details={}
        )

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "problem": "invalid"}
        sv = f"Ogiltigt värde för {first['field']}: {first['problem']}"
        en = f"Invalid value for {first['field']}: {first['problem']}"
        return problems.problem(
            422,
            "invalid_input",
            "Invalid input",
            en if language(request) == "en" else sv,
            reasons=[],
            details={"errors": errors},
        )

    @app.exception_handler(Exception)
    def _bug(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        log.exception("unhandled", request_id=request_id, error=type(exc).__name__)
        bug = InternalError(detail=f"{type(exc).__name__} (request {request_id})")
        return problems.problem(
            500,
            bug.code,
            "Internal error",
            bug.message(language(request)),
            reasons=[],
            details={"request_id": request_id},
        )


class Observe:
    """Request id, one structlog access line and the request metrics: plain ASGI, around every request.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which runs the rest of the
    application in a task of its own behind memory streams: a measurable share of a
    request's CPU. ``request.state`` is ``scope["state"]``, so handlers see the request id
    and the principal dependency leaves its name here.
    """

    def __init__(self, app: ASGIApp, server: Server) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        start = time.perf_counter()

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            self._done(scope, state, request_id, status, time.perf_counter() - start)

    def _done(self, scope: Scope, state: dict[str, Any], request_id: str, status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", "(unmatched)")
        method = scope["method"]
        self.server.metrics.requests.labels(method, route, str(status)).inc()
        self.server.metrics.latency.labels(method, route).observe(elapsed)
        log.info(
            "request",
            request_id=request_id,
            method=method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            principal=state.get("principal"),
        )


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""
