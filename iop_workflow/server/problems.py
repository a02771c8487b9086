"""``IopError`` -> ``application/problem+json`` (RFC 9457): the server's ONE error boundary.

Each error keeps its stable ``code``; the status follows DESIGN.md's table. The
detail is in the request's language; ``reasons`` lists every reason a transition
was refused. Never a stack trace: an unexpected exception is a 500 that says it
is a bug and carries the request id under which its traceback was logged.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from iop_workflow.errors import (
    AccessDenied,
    ConcurrentUpdate,
    DatabaseUnavailable,
    DefinitionError,
    IntegrityError,
    InvalidInput,
    IopError,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    TransitionNotAllowed,
    UsageError,
)

PROBLEM = "application/problem+json"

STATUS: tuple[tuple[type[IopError], int, str], ...] = (
    (UsageError, 400, "Bad request"),
    (NotAuthenticated, 401, "Not authenticated"),
    (NotPermitted, 403, "Forbidden"),
    (AccessDenied, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (TransitionNotAllowed, 409, "Transition not allowed"),
    (IntegrityError, 409, "Integrity failure"),
    (ConcurrentUpdate, 412, "Precondition failed"),
    (InvalidInput, 422, "Invalid input"),
    (DefinitionError, 422, "Invalid input"),
    (DatabaseUnavailable, 503, "Database unavailable"),
)


class HttpProblem(Exception):
    """A refusal that belongs to HTTP itself (428, 413, 429, 422 for a reused idempotency key ...)."""

    def __init__(
        self, status: int, code: str, title: str, sv: str, en: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(code)
        self.status, self.code, self.title, self.sv, self.en = status, code, title, sv, en
        self.headers = headers or {}


def status_of(error: IopError) -> tuple[int, str]:
    return next(((status, title) for cls, status, title in STATUS if isinstance(error, cls)), (500, "Internal error"))


def problem(
    status: int, code: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"urn:iop-workflow:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def from_error(error: IopError, lang: str) -> JSONResponse:
    status, title = status_of(error)
    reasons = []
    if isinstance(error, TransitionNotAllowed):
        reasons = [{"code": r.code, "message": r.text(lang)} for r in error.reasons]
    headers = {"WWW-Authenticate": 'Bearer realm="iop"'} if status == 401 else None
    return problem(
        status, error.code, title, error.message(lang), headers=headers, reasons=reasons, details=error.all_details()
    )


def from_http(p: HttpProblem, lang: str) -> JSONResponse:
    return problem(p.status, p.code, p.title, p.en if lang == "en" else p.sv, headers=p.headers, reasons=[], details={})
