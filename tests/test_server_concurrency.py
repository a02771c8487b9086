"""Idempotency keys and If-Match under concurrency, against a real ``iop serve`` on SQLite and PostgreSQL.

A POST repeated with one Idempotency-Key, one after another or ten at once, writes one log
record and answers every time with the first response; the key with another body is 422.
Two clients firing with the same ETag at once: one wins, the other is refused, one record.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_helpers import BACKENDS, Runner, Served, Token, counts, database, log_count, problem, serving

ORG = "802479-1322"
THREADS = 10


@dataclass
class World:
    runner: Runner
    served: Served
    officer: Token


# These fixtures run a real `iop serve`: their tests are slow (tests/conftest.py).
SERVED_FIXTURES = frozenset({"world"})


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp(f"concurrency-{request.param}")
    with database(request.param, tmp) as backend:
        runner = Runner(backend, tmp / "run")
        runner.ok("init")
        with runner.direct() as iop:
            iop.add_organisation(name="Kvinnojouren i Stenungsund", org_number=ORG, legal_form="ideell_forening")
        officer = runner.tokens({"officer": ("handlaggare", "officer,registrar", None)})["officer"]
        with serving(runner) as served:
            yield World(runner, served, officer)


def open_case(client: httpx.Client) -> tuple[str, str]:
    opened = client.post(
        "/v1/cases",
        json={
            "org_number": ORG,
            "municipality": "Stenungsund",
            "title": "Mötesplats",
            "challenge": "Ensamhet bland äldre",
        },
    )
    assert opened.status_code == 201, opened.text
    return opened.json()["ref"], opened.headers["ETag"]


def in_dialogue(client: httpx.Client) -> tuple[str, str]:
    ref, etag = open_case(client)
    fired = client.post(f"/v1/cases/{ref}/transitions", json={"trigger": "start_dialogue"}, headers={"If-Match": etag})
    assert fired.status_code == 200, fired.text
    return ref, fired.headers["ETag"]


CONTRIBUTION = {"party": "municipality", "kind": "money", "amount": "340000", "unit": "SEK"}


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Every call from its own thread, released together."""
    start = threading.Barrier(len(calls))

    def go(call: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(go, calls))


def assert_one_answer(responses: list[httpx.Response], status: int) -> None:
    """The same status and body every time; exactly the first one not marked as a replay."""
    assert {r.status_code for r in responses} == {status}, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1, {r.content for r in responses}
    assert len({r.headers.get("ETag") for r in responses}) == 1
    replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert replayed.count("true") == len(responses) - 1, replayed
    assert replayed.count(None) == 1, replayed


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sequential", "concurrent"])
def test_a_contribution_sent_ten_times_with_one_key_is_recorded_once(world: World, mode: str) -> None:
    with world.served.client(world.officer) as officer:
        ref, etag = in_dialogue(officer)
        before = log_count(world.runner.backend)
        facts = counts(world.runner.backend, ("contributions",))["contributions"]
        headers = {"If-Match": etag, "Idempotency-Key": f"bidrag-{uuid.uuid4()}"}
        path = f"/v1/cases/{ref}/records/contribution"

        def send() -> httpx.Response:
            return officer.post(path, json=CONTRIBUTION, headers=headers)

        responses = [send() for _ in range(THREADS)] if mode == "sequential" else at_once([send] * THREADS)
        assert_one_answer(responses, 200)
        assert responses[0].json()["trigger"] == "record:contribution"
        assert log_count(world.runner.backend) == before + 1
        assert counts(world.runner.backend, ("contributions",))["contributions"] == facts + 1
        assert officer.get(f"/v1/cases/{ref}").json()["version"] == int(etag.strip('"')) + 1


@pytest.mark.parametrize("mode", ["sequential", "concurrent"])
def test_a_case_opened_ten_times_with_one_key_is_opened_once(world: World, mode: str) -> None:
    with world.served.client(world.officer) as officer:
        before = counts(world.runner.backend, ("transition_log", "cases"))
        body = {"org_number": ORG, "municipality": "Stenungsund", "title": "Läxhjälp", "challenge": "Skolresultat"}
        key = {"Idempotency-Key": f"oppna-{uuid.uuid4()}"}

        def send() -> httpx.Response:
            return officer.post("/v1/cases", json=body, headers=key)

        responses = [send() for _ in range(THREADS)] if mode == "sequential" else at_once([send] * THREADS)
        assert_one_answer(responses, 201)
        assert len({r.headers["Location"] for r in responses}) == 1
        after = counts(world.runner.backend, ("transition_log", "cases"))
        assert after == {"transition_log": before["transition_log"] + 1, "cases": before["cases"] + 1}


def test_the_key_with_another_body_is_422_and_writes_nothing(world: World) -> None:
    with world.served.client(world.officer) as officer:
        ref, etag = in_dialogue(officer)
        headers = {"If-Match": etag, "Idempotency-Key": f"bidrag-{uuid.uuid4()}"}
        path = f"/v1/cases/{ref}/records/contribution"
        first = officer.post(path, json=CONTRIBUTION, headers=headers)
        assert first.status_code == 200, first.text
        before = counts(world.runner.backend)
        other = officer.post(path, json={**CONTRIBUTION, "amount": "1"}, headers=headers)
        problem(other, 422, "idempotency_key_reused")
        elsewhere = officer.post(
            "/v1/cases",
            headers={"Idempotency-Key": headers["Idempotency-Key"]},
            json={"org_number": ORG, "municipality": "Stenungsund", "title": "T", "challenge": "C"},
        )
        problem(elsewhere, 422, "idempotency_key_reused")
        assert counts(world.runner.backend) == before
        again = officer.post(path, json=CONTRIBUTION, headers=headers)
        assert (again.status_code, again.content, again.headers["Idempotent-Replayed"]) == (200, first.content, "true")


def test_a_refused_write_does_not_keep_its_key(world: World) -> None:
    """A 4xx rolls the key back with everything else: the corrected retry with that key is a new attempt."""
    with world.served.client(world.officer) as officer:
        ref, etag = in_dialogue(officer)
        headers = {"If-Match": '"999"', "Idempotency-Key": f"bidrag-{uuid.uuid4()}"}
        path = f"/v1/cases/{ref}/records/contribution"
        before = counts(world.runner.backend)
        problem(officer.post(path, json=CONTRIBUTION, headers=headers), 412, "concurrent_update")
        assert counts(world.runner.backend) == before
        retried = officer.post(path, json=CONTRIBUTION, headers={**headers, "If-Match": etag})
        assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers, retried.text


@pytest.mark.parametrize("route", ["transition", "record"])
def test_two_clients_with_one_etag_at_once_one_wins(world: World, route: str) -> None:
    with world.served.client(world.officer) as first, world.served.client(world.officer) as second:
        ref, etag = in_dialogue(first)
        before = log_count(world.runner.backend)
        path, body = (
            (f"/v1/cases/{ref}/transitions", {"trigger": "withdraw", "reason": "Dubbelt"})
            if route == "transition"
            else (f"/v1/cases/{ref}/records/contribution", CONTRIBUTION)
        )

        def by(client: httpx.Client) -> Callable[[], httpx.Response]:
            return lambda: client.post(path, json=body, headers={"If-Match": etag})

        responses = at_once([by(first), by(second)])
        statuses = sorted(r.status_code for r in responses)
        assert statuses[0] == 200 and statuses[1] in {409, 412}, [r.text for r in responses]
        loser = next(r for r in responses if r.status_code != 200)
        assert problem(loser, loser.status_code)["code"] in {"concurrent_update", "transition_not_allowed"}
        assert log_count(world.runner.backend) == before + 1
        shown: dict[str, Any] = first.get(f"/v1/cases/{ref}").json()
        assert shown["version"] == int(etag.strip('"')) + 1
