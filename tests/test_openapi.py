"""docs/openapi.json is the app's OpenAPI document, and the app serves it without authentication."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from iop_workflow import Iop
from iop_workflow.server import auth, openapi, routes_admin, routes_cases, routes_misc
from iop_workflow.server.app import create_app

REGENERATE = "regenerate it with `python -m iop_workflow.server.openapi` and commit docs/openapi.json"


def _committed() -> dict[str, Any]:
    assert openapi.DOCUMENT.exists(), f"{openapi.DOCUMENT} is missing: {REGENERATE}"
    loaded: dict[str, Any] = json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_committed_document_is_the_apps() -> None:
    built = openapi.build()
    committed = _committed()
    paths = set(built["paths"]) | set(committed["paths"])
    changed = sorted(p for p in paths if built["paths"].get(p) != committed["paths"].get(p))
    assert built == committed, f"the app drifted from docs/openapi.json (paths changed: {changed}): {REGENERATE}"
    assert openapi.render(built) == openapi.DOCUMENT.read_text(encoding="utf-8"), f"formatting differs: {REGENERATE}"


def test_check_mode_names_the_difference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text(openapi.render({**_committed(), "info": {"title": "old", "version": "0"}}), encoding="utf-8")
    assert openapi.main(["--check", "--output", str(stale)]) == 1
    err = capsys.readouterr().err
    assert "python -m iop_workflow.server.openapi" in err
    assert '"title": "old"' in err
    assert openapi.main(["--output", str(stale)]) == 0
    assert openapi.main(["--check", "--output", str(stale)]) == 0


def test_served_without_authentication_and_equal_to_the_committed_file(iop: Iop) -> None:
    with TestClient(create_app(iop)) as client:
        response = client.get("/openapi.json")
        assert response.status_code == 200
        assert response.json() == _committed()
        assert client.get("/v1/me").status_code == 401


def test_every_route_but_the_public_ones_needs_a_bearer_token() -> None:
    doc = _committed()
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if path in openapi.PUBLIC:
                assert "security" not in operation, (method, path)
            else:
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
                refs = {s: r["$ref"] for s, r in operation["responses"].items() if "$ref" in r}
                assert refs == {str(s): f"#/components/responses/Problem{s}" for s in openapi.ERRORS}, (method, path)


def test_every_handler_but_the_public_ones_authenticates_its_caller() -> None:
    """What the document promises, the code does: a route added without ``@authenticated`` fails here."""
    routers = (routes_misc.router, routes_cases.router, routes_admin.router)
    routes = [
        r for router in routers for r in router.routes if isinstance(r, APIRoute) and r.path not in openapi.PUBLIC
    ]
    assert len(routes) >= 30
    for route in routes:
        calls = [d.call for d in route.dependant.dependencies]
        assert auth.screened in calls, f"{route.path}: no @authenticated (no early 401/429)"
        wrapped = getattr(route.endpoint, "__wrapped__", None)
        assert wrapped is not None and route.endpoint.__module__ == wrapped.__module__, route.path
        assert route.endpoint.__code__ is not wrapped.__code__, f"{route.path}: the handler is not wrapped"
