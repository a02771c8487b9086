"""An officer's walk over HTTP against a real ``iop serve``, on SQLite and PostgreSQL.

One server per back-end for the module (tests/server_helpers.py); the tokens are made
with the real CLI before it starts. Every write goes with the case's ETag in If-Match;
every log record the server writes says it was authenticated by which token, from the
API, whatever a body or a header claims.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli_helpers import today
from tests.server_helpers import BACKENDS, Runner, Served, Token, counts, database, problem, rows, serving

ORG = "802479-1322"  # added with the CLI before the server starts
SHELTER = "802014-5671"  # added over HTTP by the walk
PLACE = "Stenungsund"


@dataclass
class World:
    runner: Runner
    served: Served
    tokens: dict[str, Token]


# These fixtures run a real `iop serve`: their tests are slow (tests/conftest.py).
SERVED_FIXTURES = frozenset({"world"})


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"e2e-{request.param}")
    with database(request.param, tmp) as backend:
        runner = Runner(backend, tmp / "run")
        runner.ok("init")
        # Signing needs the guideline's decision confirmed; the OS login is the bootstrapped coordinator.
        runner.ok(
            "guideline",
            "confirm",
            "Stenungsund-IOP",
            "--decided-on",
            "2019-05-20",
            "--decided-by",
            "Kommunstyrelsen",
            "--minutes-ref",
            "KS § 88/2019 (test)",
        )
        org = [
            "org",
            "add",
            "--name",
            "Kvinnojouren i Stenungsund",
            "--org-number",
            ORG,
            "--legal-form",
            "ideell_forening",
        ]
        with ThreadPoolExecutor(max_workers=1) as pool:
            added = pool.submit(runner.ok, *org)
            tokens = runner.tokens(
                {
                    "officer": ("handlaggare", "officer,registrar", None),
                    "assessor": ("bedomare", "officer,signatory", None),  # assesses, then may not sign
                    "legal": ("jurist", "legal", None),
                    "signatory": ("ordforande", "signatory", None),
                    "auditor": ("revisor", "auditor", None),
                }
            )
            added.result()
        with serving(runner) as served:
            yield World(runner, served, tokens)


def write(client: httpx.Client, path: str, body: dict[str, Any], etag: str) -> httpx.Response:
    response = client.post(path, json=body, headers={"If-Match": etag})
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] != etag  # every write moves the version on
    return response


def open_case(client: httpx.Client, org: str = ORG) -> tuple[str, str]:
    opened = client.post(
        "/v1/cases",
        json={
            "org_number": org,
            "municipality": PLACE,
            "title": "Skyddat boende",
            "challenge": "Våldsutsatta kvinnor behöver skydd och stöd",
        },
    )
    assert opened.status_code == 201, opened.text
    ref = opened.json()["ref"]
    assert opened.headers["Location"] == f"/v1/cases/{ref}"
    assert opened.headers["ETag"] == '"1"' and opened.json()["version"] == 1
    return ref, opened.headers["ETag"]


@pytest.mark.slow
def test_officer_walk_to_signed_with_tokens_and_four_eyes(world: World) -> None:
    t = world.tokens
    officer, assessor = world.served.client(t["officer"]), world.served.client(t["assessor"])
    legal, signatory = world.served.client(t["legal"]), world.served.client(t["signatory"])
    added = officer.post(
        "/v1/organisations", json={"name": "Hela Människan", "org_number": SHELTER, "legal_form": "trossamfund"}
    )
    assert added.status_code == 201, added.text
    assert added.headers["Location"] == f"/v1/organisations/{SHELTER}"
    assert officer.get(f"/v1/organisations/{SHELTER}").json()["name"] == "Hela Människan"

    ref, etag = open_case(officer, SHELTER)
    case = f"/v1/cases/{ref}"
    shown = officer.get(case)
    assert shown.status_code == 200 and shown.headers["ETag"] == etag and shown.json()["state"] == "initiative"
    problem(officer.post(f"{case}/transitions", json={"trigger": "start_dialogue"}), 428, "if_match_required")
    etag = write(officer, f"{case}/transitions", {"trigger": "start_dialogue"}, etag).headers["ETag"]
    etag = write(
        officer, f"{case}/records/meeting", {"held_on": today().isoformat(), "joint_challenge": "Skydd och stöd"}, etag
    ).headers["ETag"]
    moved = write(officer, f"{case}/transitions", {"trigger": "submit_for_assessment"}, etag)
    assert moved.json()["case"]["state"] == "assessment"
    etag = moved.headers["ETag"]

    guideline = officer.get(f"/v1/guidelines/{moved.json()['case']['guideline']['ref']}").json()
    for criterion in [c["code"] for c in guideline["criteria"] if c["kind"] != "consideration"]:
        body = {"criterion": criterion, "verdict": "met", "note": "Bedömt i dialogen"}
        etag = write(assessor, f"{case}/assessments", body, etag).headers["ETag"]
    etag = write(
        legal,
        f"{case}/records/legal-check",
        {
            "competence": True,
            "procurement_not_required": True,
            "no_competition_distortion": True,
            "state_aid_basis": "non_economic",
            "rationale": "Icke-ekonomisk verksamhet",
        },
        etag,
    ).headers["ETag"]
    start = today() + timedelta(days=30)
    end = start.replace(year=start.year + 2) - timedelta(days=1)
    etag = write(
        officer,
        f"{case}/records/agreement",
        {"start_on": start.isoformat(), "end_on": end.isoformat(), "notice_months": 3},
        etag,
    ).headers["ETag"]
    for party, kind, amount, unit in (
        ("municipality", "money", "340000", "SEK"),
        ("organisation", "volunteer_hours", "2000", "h"),
    ):
        body = {"party": party, "kind": kind, "amount": amount, "unit": unit}
        etag = write(officer, f"{case}/records/contribution", body, etag).headers["ETag"]
    etag = write(
        signatory,
        f"{case}/records/decision",
        {"body": "Socialnämnden", "decided_on": today().isoformat(), "minutes_ref": "SN § 12/2026"},
        etag,
    ).headers["ETag"]

    before = len(officer.get(f"{case}/history").json())
    refused = problem(
        assessor.post(f"{case}/transitions", json={"trigger": "sign"}, headers={"If-Match": etag}),
        409,
        "transition_not_allowed",
    )
    assert [r["code"] for r in refused["reasons"]] == ["four_eyes"]
    assert len(officer.get(f"{case}/history").json()) == before
    signed = write(signatory, f"{case}/transitions", {"trigger": "sign"}, etag)
    assert signed.json()["case"]["state"] == "signed"
    assert signed.json()["record"]["actor"] == "token:ordforande"

    verified = world.served.client(t["auditor"]).get("/v1/audit/verify")
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    assert verified.json()["problems"] == []

    history = officer.get(f"{case}/history").json()
    by_id = {tok.id: tok for tok in t.values()}
    assert len(history) == before + 1
    for record in history:
        assert record["source"] == "api", record
        assert record["auth"]["method"] == "token", record
        assert record["actor"] == f"token:{by_id[record['auth']['token_id']].name}", record
    who = {(r["trigger"], r["auth"]["token_id"]) for r in history}
    assert ("record:legal-check", t["legal"].id) in who and ("sign", t["signatory"].id) in who
    assert ("record:assessment", t["assessor"].id) in who and ("open", t["officer"].id) in who


def test_readyz_answers_without_a_token(world: World) -> None:
    with world.served.client() as anonymous:
        ready = anonymous.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
    assert ready.json()["schema"] == ready.json()["head"]


def test_metrics_need_a_token(world: World) -> None:
    with world.served.client() as anonymous:
        problem(anonymous.get("/metrics"), 401, "not_authenticated")
    with world.served.client(world.tokens["auditor"]) as auditor:
        scraped = auditor.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert "iop_http_requests_total" in scraped.text
    assert 'status="401"' in scraped.text  # the anonymous scrape above was counted


def test_stale_if_match_is_412_and_writes_nothing(world: World) -> None:
    with world.served.client(world.tokens["officer"]) as officer:
        ref, etag = open_case(officer)
        write(officer, f"/v1/cases/{ref}/transitions", {"trigger": "start_dialogue"}, etag)
        before = counts(world.runner.backend)
        stale = officer.post(f"/v1/cases/{ref}/transitions", json={"trigger": "withdraw"}, headers={"If-Match": etag})
        problem(stale, 412, "concurrent_update")
        assert counts(world.runner.backend) == before
        assert officer.get(f"/v1/cases/{ref}").json()["state"] == "dialogue"


def test_claims_of_another_actor_change_nothing(world: World) -> None:
    """A body field naming an actor is refused (422); an X-Actor or X-User header is ignored."""
    token = world.tokens["officer"]
    with world.served.client(token) as officer:
        ref, etag = open_case(officer)
        before = counts(world.runner.backend)
        claimed = officer.post(
            f"/v1/cases/{ref}/transitions",
            json={"trigger": "start_dialogue", "actor": "eva"},
            headers={"If-Match": etag},
        )
        body = problem(claimed, 422, "invalid_input")
        assert any(e["field"] == "actor" for e in body["details"]["errors"]), body
        assert counts(world.runner.backend) == before
        headers = {
            "If-Match": etag,
            "X-Actor": "eva",
            "X-User": "eva",
            "X-Remote-User": "eva",
            "X-Forwarded-User": "eva",
        }
        fired = officer.post(f"/v1/cases/{ref}/transitions", json={"trigger": "start_dialogue"}, headers=headers)
        assert fired.status_code == 200, fired.text
        record = fired.json()["record"]
        assert (record["actor"], record["auth"]["method"], record["auth"]["token_id"]) == (
            "token:handlaggare",
            "token",
            token.id,
        )
        assert sorted(record["roles"]) == ["officer", "registrar"]
        me = officer.get("/v1/me", headers={"X-Actor": "eva", "X-User": "eva"}).json()
        assert me["login"] == "token:handlaggare"
    stored = rows(world.runner.backend, f"SELECT actor FROM transition_log WHERE case_ref = '{ref}'")
    assert {a for (a,) in stored} == {"token:handlaggare"}


def test_workers_on_sqlite_exit_2_saying_why(tmp_path: Path) -> None:
    """Several workers need PostgreSQL: refused before listening, with the reason."""
    with database("sqlite", tmp_path) as backend:
        runner = Runner(backend, tmp_path / "run")
        done = runner.run("serve", "--port", "1", "--workers", "2")
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "PostgreSQL" in said and "--workers" in said and "Traceback" not in said
