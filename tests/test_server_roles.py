"""The role matrix over HTTP: every write route × every role, inside and outside a municipality scope.

One database per back-end for the module, built in process on a FakeClock with the case
builders of tests/roles_world.py (a case in each trigger's source state with every rule
but the role met; a case in review takes every kind of fact). The app runs in a
TestClient; each role is an API token limited to Stenungsund (inside) and one limited to
Kungälv (outside, against a case in Mark). Who may do what is read from the shipped
definition (``iop.app.definition``) and ``records.RULES``, never written out again here.
A refusal (any 4xx) leaves every written table as it was.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from iop_workflow import FakeClock, Iop
from iop_workflow.domain.definition import TransitionSpec
from iop_workflow.server.app import create_app
from iop_workflow.service.identity import ADMIN
from iop_workflow.settings import Settings
from tests.cli_helpers import Backend
from tests.helpers import ORG, open_case
from tests.roles_world import ON, START, at_nine, build, reviewed_case
from tests.server_helpers import counts, database, problem, rows

ROLES = ("registrar", "officer", "legal", "signatory", "coordinator", "auditor", "admin")
INSIDE, OUTSIDE, ELSEWHERE = "Stenungsund", "Kungälv", "Mark"
DEFINITION = Iop.connect("sqlite://", settings=Settings(), audit_log=False).app.definition
SPECS: dict[str, TransitionSpec] = {t.trigger: t for t in DEFINITION.transitions}
TRIGGERS = sorted(t for t in SPECS if t != DEFINITION.creation.trigger)
RULES = DEFINITION.records  # who may record each kind of fact
# A field of each kind of fact that any value of text corrects (service/correctable.py).
CORRECTABLE = {
    "meeting": "participants",
    "assessment": "note",
    "legal-check": "rationale",
    "agreement": "purpose",
    "contribution": "description",
    "decision": "delegation_ref",
    "review": "summary",
}


def allowed_roles(trigger: str) -> list[str]:
    return sorted(r for r in ROLES if r in SPECS[trigger].roles)


@dataclass
class World:
    iop: Iop
    backend: Backend
    client: TestClient
    inside: dict[str, str]  # role -> bearer token limited to Stenungsund
    outside: dict[str, str]  # role -> bearer token limited to Kungälv
    cases: dict[str, list[str]]
    review: str  # a case in review (Stenungsund): every kind of fact may be recorded
    assess: str  # another, for the assessments: an assessor may not record the legal check (four eyes)
    elsewhere: str  # a case in Mark
    alert: int  # a guideline's alert (no case): only principals of every municipality see it


def settings() -> Settings:
    return dataclasses.replace(
        Settings(),
        default_roles=frozenset({"registrar", "officer"}),
        actors={"eva": frozenset({"signatory"}), "lars": frozenset({"legal"}), "kim": frozenset({"coordinator"})},
    )


# The PostgreSQL half of the matrix runs with the slow tests (the SQLite half keeps the fast loop honest).
SLOW_POSTGRES = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow])]


@pytest.fixture(scope="module", params=SLOW_POSTGRES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"roles-{request.param}")
    with database(request.param, tmp) as backend:
        clock = FakeClock(at_nine(START))
        with Iop.connect(backend.url, clock=clock, settings=settings(), audit_log=False) as iop:
            iop.init()
            pools = {t: len(allowed_roles(t)) + 1 for t in TRIGGERS}
            cases = build(iop, clock, pools)
            review, assess = reviewed_case(iop), reviewed_case(iop)
            elsewhere = open_case(iop, ELSEWHERE)
            clock.set_date(ON)
            iop.sweep_guidelines()
            alert = next(a["id"] for a in iop.alerts() if a["case_ref"] is None)
            tokens = {
                (role, place): iop.create_token(
                    name=f"{role}-{place.lower().replace('ä', 'a')}", roles=[role], municipalities=[place]
                )["token"]
                for role in ROLES
                for place in (INSIDE, OUTSIDE)
            }
            with TestClient(create_app(iop)) as client:
                yield World(
                    iop,
                    backend,
                    client,
                    {r: tokens[r, INSIDE] for r in ROLES},
                    {r: tokens[r, OUTSIDE] for r in ROLES},
                    cases,
                    review,
                    assess,
                    elsewhere,
                    alert,
                )


def post(world: World, token: str, path: str, body: dict[str, Any], ref: str | None = None) -> Response:
    headers = {"Authorization": f"Bearer {token}"}
    if ref is not None:
        version = rows(world.backend, f"SELECT version FROM cases WHERE ref = '{ref}'")[0][0]
        headers["If-Match"] = f'"{version}"'
    return world.client.post(path, json=body, headers=headers)


def refused(world: World, status: int, send: Any) -> dict[str, Any]:
    """``send()`` is refused with ``status`` and no written table changes."""
    before = counts(world.backend)
    body = problem(send(), status)
    assert counts(world.backend) == before
    return body


def role_refusal(body: dict[str, Any]) -> None:
    assert body["code"] == "transition_not_allowed"
    assert "role_not_allowed" in [r["code"] for r in body["reasons"]], body


# -- transitions ------------------------------------------------------------------------------------------------------
def transition(trigger: str) -> dict[str, Any]:
    spec = SPECS[trigger]
    end_reason = spec.end_reason_choices[0] if spec.end_reason_choices and not spec.end_reason else None
    return {"trigger": trigger, "reason": "Enligt beslut", "end_reason": end_reason}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_trigger_against_every_role(world: World, trigger: str, role: str) -> None:
    allowed = allowed_roles(trigger)
    pool = world.cases[trigger]
    ref = pool[allowed.index(role)] if role in allowed else pool[-1]
    path = f"/v1/cases/{ref}/transitions"
    if role in allowed:
        fired = post(world, world.inside[role], path, transition(trigger), ref)
        assert fired.status_code == 200, fired.text
        record = fired.json()["record"]
        spec = DEFINITION.transition(trigger, record["from_state"]) if record["from_state"] else SPECS[trigger]
        assert spec is not None  # terminate keeps its state: active to active, review to review
        assert (record["trigger"], record["to_state"], record["roles"]) == (trigger, spec.dest, [role])
        assert record["auth"]["method"] == "token" and record["actor"].startswith(f"token:{role}-")
        return
    if role == ADMIN:
        assert ADMIN not in SPECS[trigger].roles  # admin administers: it fires no trigger
    role_refusal(refused(world, 409, lambda: post(world, world.inside[role], path, transition(trigger), ref)))


@pytest.mark.parametrize("role", ROLES)
def test_opening_a_case_against_every_role(world: World, role: str) -> None:
    body = {"org_number": ORG, "municipality": INSIDE, "title": "Mötesplats", "challenge": "Ensamhet bland äldre"}
    if role in DEFINITION.creation.roles:
        opened = post(world, world.inside[role], "/v1/cases", body)
        assert opened.status_code == 201, opened.text
        assert world.iop.history(opened.json()["ref"])[-1]["roles"] == [role]
        return
    role_refusal(refused(world, 409, lambda: post(world, world.inside[role], "/v1/cases", body)))


# -- recorded facts, assessments and corrections ---------------------------------------------------------------------
def fact(kind: str) -> tuple[str, dict[str, Any]]:
    """The route and a body for ``kind`` on the case in review."""
    day = ON.isoformat()
    bodies: dict[str, tuple[str, dict[str, Any]]] = {
        "meeting": ("records/meeting", {"held_on": day, "joint_challenge": "Ensamhet"}),
        "assessment": ("assessments", {"criterion": "not_a_company", "verdict": "met", "note": "Bedömt"}),
        "legal-check": (
            "records/legal-check",
            {
                "competence": True,
                "procurement_not_required": True,
                "no_competition_distortion": True,
                "state_aid_basis": "non_economic",
                "rationale": "Icke-ekonomisk verksamhet",
            },
        ),
        "agreement": ("records/agreement", {"start_on": "2029-03-01", "end_on": "2031-02-28", "notice_months": 3}),
        "contribution": (
            "records/contribution",
            {"party": "municipality", "kind": "money", "amount": "1000", "unit": "SEK"},
        ),
        "decision": ("records/decision", {"body": "Socialnämnden", "decided_on": day, "minutes_ref": "SN § 3/2027"}),
        "review": ("records/review", {"held_on": day, "report_received": True}),
    }
    return bodies[kind]


def test_every_kind_of_fact_has_a_route() -> None:
    assert set(RULES) == set(CORRECTABLE)
    assert {fact(kind)[0] for kind in RULES} >= {f"records/{k}" for k in RULES if k != "assessment"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", sorted(RULES))
def test_every_fact_against_every_role(world: World, kind: str, role: str) -> None:
    route, body = fact(kind)
    case = world.assess if kind == "assessment" else world.review
    path = f"/v1/cases/{case}/{route}"
    if role in RULES[kind].roles:
        done = post(world, world.inside[role], path, body, case)
        assert done.status_code == 200, done.text
        assert (done.json()["trigger"], done.json()["roles"]) == (f"record:{kind}", [role])
        return
    role_refusal(refused(world, 409, lambda: post(world, world.inside[role], path, body, case)))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", sorted(RULES))
def test_every_correction_against_every_role(world: World, kind: str, role: str) -> None:
    case = world.assess if kind == "assessment" else world.review
    entry = next(r["case_seq"] for r in world.iop.history(case) if r["trigger"] == f"record:{kind}")
    body = {
        "kind": kind,
        "entry": entry,
        "field": CORRECTABLE[kind],
        "value": f"Rättat av {role}",
        "reason": "Fel i protokollet",
    }
    path = f"/v1/cases/{case}/corrections"
    if role in RULES[kind].roles:
        done = post(world, world.inside[role], path, body, case)
        assert done.status_code == 200, done.text
        assert (done.json()["trigger"], done.json()["roles"]) == ("record:correction", [role])
        return
    role_refusal(refused(world, 409, lambda: post(world, world.inside[role], path, body, case)))


# -- outside the principal's municipalities ---------------------------------------------------------------------------
CASE_ROUTES = [f"transitions:{t}" for t in TRIGGERS] + [f"fact:{k}" for k in sorted(RULES)] + ["correction"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", CASE_ROUTES)
def test_a_case_outside_the_scope_is_404_for_every_route(world: World, route: str, role: str) -> None:
    """A Kungälv token on a case in Mark: not found, whatever the route and role, nothing written."""
    ref = world.elsewhere
    what, _, name = route.partition(":")
    if what == "transitions":
        path, body = f"/v1/cases/{ref}/transitions", transition(name)
    elif what == "fact":
        sub, body = fact(name)
        path = f"/v1/cases/{ref}/{sub}"
    else:
        path = f"/v1/cases/{ref}/corrections"
        body = {"kind": "meeting", "entry": 1, "field": "notes", "value": "x", "reason": "y"}
    assert refused(world, 404, lambda: post(world, world.outside[role], path, body, ref))["code"] == "not_found"
    with_wildcard_etag = {"Authorization": f"Bearer {world.outside[role]}", "If-Match": "*"}
    assert world.client.post(path, json=body, headers=with_wildcard_etag).status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_opening_a_case_outside_the_scope_writes_nothing(world: World, role: str) -> None:
    body = {"org_number": ORG, "municipality": ELSEWHERE, "title": "Mötesplats", "challenge": "Ensamhet"}
    before = counts(world.backend)
    response = post(world, world.outside[role], "/v1/cases", body)
    assert response.status_code in {403, 404, 409}, response.text
    problem(response, response.status_code)
    assert counts(world.backend) == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("place", [INSIDE, OUTSIDE])
def test_a_scoped_principal_cannot_ack_an_alert_it_cannot_see(world: World, role: str, place: str) -> None:
    token = (world.inside if place == INSIDE else world.outside)[role]
    assert refused(world, 404, lambda: post(world, token, f"/v1/alerts/{world.alert}/ack", {}))["code"] == "not_found"


# -- administration ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("place", [INSIDE, OUTSIDE])
@pytest.mark.parametrize("route", ["grant", "token"])
def test_administration_against_every_role(world: World, route: str, place: str, role: str) -> None:
    """Only an admin of Stenungsund administers Stenungsund; a Kungälv admin is refused there (403)."""
    token = (world.inside if place == INSIDE else world.outside)[role]
    if route == "grant":
        path, body = "/v1/admin/grants", {"login": f"nisse-{role}", "role": "officer", "municipality": INSIDE}
    else:
        path = "/v1/admin/tokens"
        body = {"name": f"made-by-{role}-{len(place)}", "roles": ["officer"], "municipalities": [INSIDE]}
    if role == ADMIN and place == INSIDE:
        done = post(world, token, path, body)
        assert done.status_code in {200, 201}, done.text
        trigger, auth = rows(
            world.backend,
            "SELECT trigger, auth FROM transition_log WHERE case_ref = '@admin' ORDER BY seq DESC LIMIT 1",
        )[0]
        assert trigger == ("admin:grant" if route == "grant" else "admin:token_create")
        assert json.loads(auth)["method"] == "token"
        return
    assert refused(world, 403, lambda: post(world, token, path, body))["code"] == "not_permitted"
