"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis).

Every operation of the document ``create_app(iop).openapi()`` describes is called
in-process (ASGI) with generated input, valid and invalid, by an API token holding
every workflow role and ``admin``, over a database with organisations and cases in
several states. For every call:

- never a 5xx;
- the response conforms to the document: its status is documented, its content type
  too, and its body matches the schema;
- a 4xx writes nothing: the row count of every table is the same before and after.

Path parameters and some body fields (org_number, municipality, trigger, criterion) are
often the seeded keys, and a case write often carries ``If-Match: *``, so that calls get
past "not found" and "precondition required" into the services' own validation. One
database per back-end serves every operation (successful writes accumulate, as on a
real server); the PostgreSQL one is marked ``slow``.

``IOP_FUZZ_EXAMPLES`` sets the examples per operation (default 15: about 20 s of CPU on
SQLite); when it is set, schemathesis' coverage phase (boundary values, missing fields)
runs too. ``IOP_FUZZ_EXAMPLES=1000 python -m pytest tests/test_api_fuzz.py`` is the full run.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from iop_workflow import FakeClock, Iop
from iop_workflow.server import openapi
from iop_workflow.server.app import create_app
from iop_workflow.settings import Settings
from tests.fuzz_support import fuzz_settings
from tests.helpers import COMPANY, ORG, SHELTER, add_orgs, open_case, to_assessment, to_signed
from tests.pg import fresh_schema, require_postgres, schema_url

ROLES = ["registrar", "officer", "legal", "signatory", "coordinator", "auditor", "admin"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SLOW = pytest.mark.slow  # the PostgreSQL run: the same calls, slower; SQLite's is the quick CI run
FULL = bool(os.environ.get("IOP_FUZZ_EXAMPLES", "").strip())
schema = schemathesis.openapi.from_dict(openapi.build())
# Schemathesis' coverage phase (boundary values, every missing field: ~100 calls per operation whatever the
# number of examples) is for the full run; the quick one has the document's examples and the fuzzing.
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"] if FULL else ["examples", "fuzzing"])


@dataclass(slots=True)
class World:
    """The seeded database, its app, and the credential the fuzzer calls with."""

    iop: Iop
    app: FastAPI
    headers: dict[str, str]
    token_id: int
    spare_token_id: int
    keys: dict[str, list[Any]]
    tables: list[str] = dataclasses.field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The row count of every table, in one query."""
        with self.iop.app.db.read() as s:
            self.tables = self.tables or sorted(sa.inspect(s).get_table_names())
            count = [
                sa.select(sa.func.count()).select_from(sa.table(n)).scalar_subquery().label(n) for n in self.tables
            ]
            return dict(s.execute(sa.select(*count)).mappings().one())


def _world(url: str, tmp: Path) -> Iterator[World]:
    settings = dataclasses.replace(
        Settings(),
        default_roles=frozenset({"registrar", "officer"}),
        actors={"eva": frozenset({"signatory"}), "lars": frozenset({"legal"}), "kim": frozenset({"coordinator"})},
        server=dataclasses.replace(Settings().server, auth_failures_per_minute=0),  # the fuzzer fails on purpose
    )
    clock = FakeClock(datetime(2026, 1, 12, 9, 0, tzinfo=ZoneInfo("Europe/Stockholm")))
    with Iop.connect(url, clock=clock, settings=settings, audit_log=tmp / "audit.jsonl") as iop:
        iop.init()
        add_orgs(iop)
        refs = [to_signed(iop), to_assessment(iop), open_case(iop, "Jönköping", SHELTER)]
        token = iop.create_token(name="fuzz", roles=ROLES)
        spare = iop.create_token(name="spare", roles=["auditor"])
        keys = {
            "ref": refs,
            "org_number": [ORG, COMPANY, SHELTER],
            "guideline": [g.ref for g in iop.guidelines()],
            "alert_id": [a["id"] for a in iop.alerts(include_acknowledged=True)] or [1],
            "token_id": [spare["id"]],
            "municipality": sorted({g.municipality for g in iop.guidelines()}),
            "trigger": sorted(iop.app.definition.triggers()),
            "criterion": sorted({c.code for g in iop.guidelines() for c in g.criteria}),
        }
        bearer = {"Authorization": f"Bearer {token['token']}"}
        world = World(iop, create_app(iop), bearer, token["id"], spare["id"], keys)
        _CURRENT.append(world)
        try:
            yield world
        finally:
            _CURRENT.remove(world)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, SLOW])])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        yield from _world(f"sqlite:///{tmp / 'iop.db'}", tmp)
        return
    require_postgres()
    with fresh_schema() as name:
        yield from _world(schema_url(name, driver=True), tmp)


_CURRENT: list[World] = []  # the world the running test calls, for the schema's hook


@schema.hook
def flatmap_case(_context: Any, case: Any) -> Any:
    """Often a path parameter or body field is a key that exists, and a case write says ``If-Match: *``."""
    world = _CURRENT[-1]
    choices: dict[str, Any] = {}
    for name, value in (case.path_parameters or {}).items():
        kind = "guideline" if name == "ref" and case.path.startswith("/v1/guidelines/") else name
        mine = value == world.token_id and name == "token_id"  # never revoke the fuzzer's own credential
        choices[name] = st.sampled_from(world.keys[kind] if mine else [value, *world.keys.get(kind, [])])
    if case.headers and "If-Match" in case.headers:
        choices["If-Match"] = st.sampled_from([case.headers["If-Match"], "*"])
    fields = case.body if isinstance(case.body, dict) else {}
    for name in BODY_KEYS & fields.keys():
        choices[f"body.{name}"] = st.sampled_from([fields[name], *world.keys[name]])
    return st.fixed_dictionaries(choices).map(lambda chosen: _apply(case, chosen))


BODY_KEYS = frozenset({"org_number", "municipality", "trigger", "criterion"})


def _apply(case: Any, chosen: dict[str, Any]) -> Any:
    for name, value in chosen.items():
        if name == "If-Match":
            case.headers[name] = value
        elif name.startswith("body."):
            case.body[name.removeprefix("body.")] = value
        else:
            case.path_parameters[name] = value
    return case


@pytest.mark.slow
@fuzz_settings(15)
@schema.parametrize()
def test_api_conforms_to_its_document(case: Any, world: World) -> None:
    before = world.counts()
    response = case.call_and_validate(app=world.app, headers=world.headers, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert world.counts() == before, (
            f"{case.method} {case.formatted_path} answered {response.status_code} but wrote: {response.text[:300]}"
        )


def test_every_secured_operation_refuses_a_call_without_a_credential(world: World) -> None:
    """What the document's ``bearerAuth`` promises: 401 problem+json without ``Authorization``."""
    doc = world.app.openapi()
    with TestClient(world.app) as client:
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                if "security" not in operation:
                    continue
                url = path.replace("{ref}", "IOP-2026-0001").replace("{org_number}", ORG)
                url = url.replace("{alert_id}", "1").replace("{token_id}", "1")
                response = client.request(method, url, params={"year": 2026} if "annual" in path else None)
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["content-type"] == "application/problem+json", (method, path)
                assert response.json()["code"] == "not_authenticated", (method, path)


def test_starlettes_own_refusals_are_problems_too(world: World) -> None:
    """Found by the fuzzer: a body that is not UTF-8 got FastAPI's ``{"detail": ...}`` as application/json."""
    json_headers = {**world.headers, "Content-Type": "application/json"}
    with TestClient(world.app) as client:
        for response, status, code in (
            (client.post("/v1/organisations", content=b"\xc3(", headers=json_headers), 400, "bad_request"),
            (client.delete("/v1/me", headers=world.headers), 405, "method_not_allowed"),
            (client.get("/v2/nothing", headers=world.headers), 404, "not_found"),
        ):
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == code
