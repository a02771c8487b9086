"""The OpenAPI document: what FastAPI derives from the routes, plus what it cannot know.

``install(app)`` amends the app's own document (so ``/openapi.json`` serves it) in one
place: the ``bearerAuth`` security scheme on every route but the public ones, and the
``application/problem+json`` error responses every authenticated route may give.

``python -m iop_workflow.server.openapi [--check]`` writes the committed copy,
``docs/openapi.json``, or exits 1 naming the difference when it is out of date. The
document is built from an app over an in-memory SQLite database that is never
touched: producing the schema needs no live database.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from iop_workflow.server.problems import PROBLEM
from iop_workflow.server.writes import MAX_KEY

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
PUBLIC = frozenset({"/healthz", "/readyz", "/openapi.json"})
# The statuses a refusal may have (DESIGN.md, "The HTTP API"), as problem+json.
ERRORS: dict[int, str] = {
    400: "Usage error (e.g. a malformed Idempotency-Key)",
    401: "Not authenticated, or the credential was refused",
    403: "The principal's roles or municipalities do not allow it",
    404: "Not found (or outside the principal's municipalities)",
    409: "Transition not allowed (every reason listed), or an integrity failure",
    412: "Stale If-Match: the case changed; nothing was written",
    413: "The request body is too large",
    422: "Invalid input",
    428: "If-Match is required",
    429: "Too many failed authentications (see Retry-After)",
    503: "Database unavailable",
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details, with the stable `code` and every `reasons` a transition was refused.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "reasons": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "details": {"type": "object", "additionalProperties": True},
    },
}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``) return the amended document."""
    derive: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = amend(derive())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def amend(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the security scheme and the problem responses."""
    components = doc.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`iop_...`, from `iop token create`) or an OIDC JWT of the identity provider.",
    }
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, replaced by the problem
        schemas.pop(unused, None)
    responses = components.setdefault("responses", {})
    for status, description in ERRORS.items():
        responses[f"Problem{status}"] = {
            "description": description,
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    for path, operations in doc.get("paths", {}).items():
        if path in PUBLIC:
            continue
        for method, operation in operations.items():
            operation["security"] = [{"bearerAuth": []}]
            operation["responses"].update({str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in ERRORS})
            if method == "post":  # the handlers read these headers themselves (server/writes.py)
                operation.setdefault("parameters", []).extend(_write_headers(case_write=path.startswith(CASE_WRITE)))
    return doc


CASE_WRITE = "/v1/cases/{ref}/"


def _write_headers(*, case_write: bool) -> list[dict[str, Any]]:
    headers = [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "A retry with the same key and body returns the first response and writes nothing.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "^[ -~]+$"},
        }
    ]
    if case_write:
        headers.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "The case's ETag (its version); `*` matches any. Missing: 428; stale: 412.",
            }
        )
    return headers


def build() -> dict[str, Any]:
    """The document, from an app over a database that is never opened."""
    from iop_workflow.api import Iop  # noqa: PLC0415
    from iop_workflow.server.app import create_app  # noqa: PLC0415
    from iop_workflow.settings import Settings  # noqa: PLC0415

    with Iop.connect("sqlite://", settings=Settings(), audit_log=False) as iop:
        return create_app(iop).openapi()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iop_workflow.server.openapi", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed document is out of date")
    parser.add_argument("--output", type=Path, default=DOCUMENT, help=f"the document (default {DOCUMENT})")
    args = parser.parse_args(argv)
    text = render(build())
    path: Path = args.output
    if not args.check:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    if committed == text:
        print(f"{path} is up to date")
        return 0
    lines = list(
        difflib.unified_diff(committed.splitlines(), text.splitlines(), f"{path} (committed)", "the app's", lineterm="")
    )
    print(
        f"{path} differs from the app's OpenAPI document ({len(lines)} diff lines); regenerate it with "
        "`python -m iop_workflow.server.openapi`:",
        file=sys.stderr,
    )
    print("\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else ""), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
