"""Who is calling, over HTTP: OIDC JWTs against a JWKS served by this test, API tokens, the failure limit.

Two real ``iop serve`` processes on SQLite for the module: ``main`` (OIDC from the settings
file, no failure limit, so refusals can be checked one by one) and ``limited`` (OIDC from
``IOP_AUTH_OIDC_*`` variables, 3 failures a minute, 127.0.0.1 a trusted proxy). Clients
are told apart by their loopback source address (127.0.0.x) or, behind the trusted proxy,
by X-Forwarded-For. Expiry of tokens and the sliding window are checked in process with a
FakeClock and a fake monotonic clock (the only fakes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from iop_workflow import FakeClock, Iop
from iop_workflow.server.app import create_app
from iop_workflow.server.ratelimit import WINDOW, FailureLimiter
from iop_workflow.server.state import Server
from iop_workflow.settings import load_settings
from tests.cli_helpers import today
from tests.conftest import STOCKHOLM
from tests.server_helpers import Runner, Served, Token, database, log_count, problem, serving
from tests.test_oidc import AUDIENCE, IdP, Key, Ticks, b64, unsigned

ORG = "802479-1322"
ANNA_SUBJECT = "sub-anna-0001"


# These fixtures run a real `iop serve`: their tests are slow (tests/conftest.py).
SERVED_FIXTURES = frozenset({"main", "limited"})


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {
        kid: Key(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))
        for kid in ("rsa-1", "rsa-2")
    }


@pytest.fixture(scope="module")
def idp(keys: dict[str, Key]) -> Iterator[IdP]:
    """The identity provider's JWKS over HTTP on 127.0.0.1; a test may rotate ``idp.keys``."""
    state = IdP(keys=[keys["rsa-1"]])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state.body(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def oidc_config(idp: IdP) -> str:
    return (
        f'[auth.oidc]\nissuer = "{idp.issuer}"\naudience = "{AUDIENCE}"\njwks_url = "{idp.jwks_url}"\n'
        "[server]\nauth_failures_per_minute = 0\n"
    )


@dataclass
class Main:
    runner: Runner
    served: Served


@pytest.fixture(scope="module")
def main(idp: IdP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Main]:
    tmp = tmp_path_factory.mktemp("auth-main")
    with database("sqlite", tmp) as backend:
        runner = Runner(backend, tmp / "run", config_text=oidc_config(idp))
        runner.ok("init")
        runner.grant("anna", "officer")
        runner.grant("anna", "registrar")
        with runner.direct() as iop:
            iop.add_organisation(name="Kvinnojouren i Stenungsund", org_number=ORG, legal_form="ideell_forening")
        with serving(runner) as served:
            yield Main(runner, served)


@dataclass
class Limited:
    runner: Runner
    served: Served
    robot: Token


@pytest.fixture(scope="module")
def limited(idp: IdP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    tmp = tmp_path_factory.mktemp("auth-limited")
    with database("sqlite", tmp) as backend:
        env = {
            "IOP_AUTH_OIDC_ISSUER": idp.issuer,
            "IOP_AUTH_OIDC_AUDIENCE": AUDIENCE,
            "IOP_AUTH_OIDC_JWKS_URL": idp.jwks_url,
        }
        config = '[server]\nauth_failures_per_minute = 3\ntrusted_proxies = ["127.0.0.1"]\n'
        runner = Runner(backend, tmp / "run", config_text=config, env=env)
        runner.ok("init")
        robot = runner.tokens({"robot": ("robot", "officer", None)})["robot"]
        with serving(runner) as served:
            yield Limited(runner, served, robot)


def claims(idp: IdP, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": idp.issuer,
        "aud": AUDIENCE,
        "sub": ANNA_SUBJECT,
        "preferred_username": "anna",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def jwt_for(key: Key, payload: dict[str, Any], kid: str | None = None) -> str:
    import jwt

    return jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": kid or key.kid})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


OPEN = {"org_number": ORG, "municipality": "Stenungsund", "title": "Mötesplats", "challenge": "Ensamhet bland äldre"}


def test_a_valid_jwt_is_accepted_and_recorded_as_oidc(main: Main, idp: IdP, keys: dict[str, Key]) -> None:
    token = jwt_for(keys["rsa-1"], claims(idp))
    with main.served.client(token) as anna:
        me = anna.get("/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["login"] == "anna" and {"officer", "registrar"} <= set(me.json()["roles"])
        assert me.json()["auth"] == {"method": "oidc", "issuer": idp.issuer, "subject": ANNA_SUBJECT, "token_id": None}
        opened = anna.post("/v1/cases", json=OPEN)
        assert opened.status_code == 201, opened.text
        record = anna.get(f"/v1/cases/{opened.json()['ref']}/history").json()[-1]
    assert (record["trigger"], record["actor"], record["source"]) == ("open", "anna", "api")
    assert record["auth"] == {"method": "oidc", "issuer": idp.issuer, "subject": ANNA_SUBJECT, "token_id": None}


def hs256_with_public_key(idp: IdP, key: Key) -> str:
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims(idp))
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered(idp: IdP, key: Key) -> str:
    header, _payload, signature = jwt_for(key, claims(idp)).split(".")
    forged = b64(json.dumps(claims(idp, sub="sub-of-an-admin", preferred_username="root")).encode())
    return f"{header}.{forged}.{signature}"


BAD: dict[str, Any] = {
    "wrong issuer": lambda idp, k: jwt_for(k["rsa-1"], claims(idp, iss="https://evil.example")),
    "wrong audience": lambda idp, k: jwt_for(k["rsa-1"], claims(idp, aud="another-app")),
    "expired": lambda idp, k: jwt_for(k["rsa-1"], claims(idp, exp=int(time.time()) - 3600)),
    "not yet valid": lambda idp, k: jwt_for(k["rsa-1"], claims(idp, nbf=int(time.time()) + 3600)),
    "alg none": lambda idp, k: unsigned({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims(idp)) + ".",
    "hs256 with the public key": lambda idp, k: hs256_with_public_key(idp, k["rsa-1"]),
    "unknown kid": lambda idp, k: jwt_for(k["rsa-1"], claims(idp), kid="nobody-knows-me"),
    "tampered payload": lambda idp, k: tampered(idp, k["rsa-1"]),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_jwt_is_401_and_writes_nothing(main: Main, idp: IdP, keys: dict[str, Key], kind: str) -> None:
    token = BAD[kind](idp, keys)
    before = log_count(main.runner.backend)
    with main.served.client(token) as caller:
        for response in (caller.post("/v1/cases", json=OPEN), caller.get("/v1/me")):
            body = problem(response, 401, "not_authenticated")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert token[:20] not in response.text
            assert "anna" not in json.dumps(body)
    assert log_count(main.runner.backend) == before


def test_a_second_subject_presenting_a_bound_login_is_refused(main: Main, idp: IdP, keys: dict[str, Key]) -> None:
    with main.served.client(jwt_for(keys["rsa-1"], claims(idp))) as anna:
        assert anna.get("/v1/me").json()["auth"]["subject"] == ANNA_SUBJECT  # anna's login is bound to her
    before = log_count(main.runner.backend)
    impostor = jwt_for(keys["rsa-1"], claims(idp, sub="sub-someone-else"))
    with main.served.client(impostor) as other:
        problem(other.post("/v1/cases", json=OPEN), 401, "not_authenticated")
        problem(other.get("/v1/me"), 401, "not_authenticated")
    assert log_count(main.runner.backend) == before


def test_a_revoked_token_is_refused_at_once(main: Main) -> None:
    robot = main.runner.token("robot-revoked", "officer")
    with main.served.client(robot) as client:
        assert client.get("/v1/me").json()["login"] == "token:robot-revoked"
        main.runner.ok("token", "revoke", str(robot.id))
        before = log_count(main.runner.backend)
        problem(client.get("/v1/me"), 401, "not_authenticated")
        problem(client.post("/v1/cases", json=OPEN), 401, "not_authenticated")
    assert log_count(main.runner.backend) == before


def test_a_token_cannot_be_made_expired_and_lists_its_last_day(main: Main) -> None:
    yesterday = (today() - timedelta(days=1)).isoformat()
    refused = main.runner.run(
        "--json", "token", "create", "--name", "robot-old", "--roles", "officer", "--expires", yesterday
    )
    assert refused.returncode == 6, refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["error"]["code"] == "invalid_input"
    main.runner.token("robot-today", "officer", expires=today().isoformat())
    listed = {t["name"]: t for t in main.runner.json("token", "list")}
    assert listed["robot-today"]["expires"] == today().isoformat() and "robot-old" not in listed


# -- in process: a FakeClock for expiry, a fake monotonic clock for the window -------------------------------------
@dataclass
class Local:
    iop: Iop
    clock: FakeClock
    client: TestClient
    server: Server


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    tmp: Path = tmp_path_factory.mktemp("auth-local")
    config = tmp / "iop.toml"
    config.write_text("[server]\nauth_failures_per_minute = 3\n", encoding="utf-8")
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=STOCKHOLM))
    settings = load_settings(config, environ={})
    with Iop.connect(f"sqlite:///{tmp / 'iop.db'}", clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()
        app = create_app(iop)
        with TestClient(app) as client:
            yield Local(iop, clock, client, app.state.server)


def test_a_token_expires_after_its_last_day(local: Local) -> None:
    made = local.iop.create_token(name="robot-expiring", roles=["officer"], expires=local.clock.today())
    headers = bearer(made["token"])
    assert local.client.get("/v1/me", headers=headers).status_code == 200  # its last day
    local.clock.advance(timedelta(days=1))
    body = problem(local.client.get("/v1/me", headers=headers), 401, "not_authenticated")
    assert "expired" in json.dumps(body)


def test_the_failure_window_slides(local: Local) -> None:
    ticks = Ticks()
    local.server.limiter = FailureLimiter(3, monotonic=ticks)
    good = bearer(local.iop.create_token(name="robot-window", roles=["officer"])["token"])
    for _ in range(3):
        problem(local.client.get("/v1/me", headers=bearer("iop_wrong")), 401, "not_authenticated")
    limited = problem(local.client.get("/v1/me", headers=good), 429, "too_many_failed_authentications")
    assert limited and 0 < int(local.client.get("/v1/me", headers=good).headers["Retry-After"]) <= WINDOW
    ticks.now += WINDOW - 1
    problem(local.client.get("/v1/me", headers=good), 429)
    ticks.now += 1
    assert local.client.get("/v1/me", headers=good).status_code == 200


def test_a_write_with_an_api_token_is_one_transaction_with_its_lookup(local: Local) -> None:
    """The token is looked up, and its first use recorded, in the write's own transaction: one BEGIN per POST."""
    if not local.iop.organisations():
        local.iop.add_organisation(name="Kvinnojouren i Stenungsund", org_number=ORG, legal_form="ideell_forening")
    made = local.iop.create_token(name="robot-one-transaction", roles=["registrar", "officer"])
    headers = bearer(made["token"])
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = local.iop.app.db.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        opened = local.client.post("/v1/cases", json=OPEN, headers=headers)
        begun_on_open = [s for s in statements if s.startswith("BEGIN")]
        statements.clear()
        started = local.client.post(
            f"/v1/cases/{opened.json()['ref']}/transitions",
            json={"trigger": "start_dialogue"},
            headers={**headers, "If-Match": opened.headers["ETag"]},
        )
        begun_on_fire = [s for s in statements if s.startswith("BEGIN")]
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert (opened.status_code, started.status_code) == (201, 200), opened.text + started.text
    assert begun_on_open == begun_on_fire == ["BEGIN IMMEDIATE"]
    listed = {t["name"]: t for t in local.iop.tokens()}
    assert listed["robot-one-transaction"]["last_used"] is not None  # committed with the case it opened
    assert started.json()["record"]["actor"] == "token:robot-one-transaction"


# -- the limited server -----------------------------------------------------------------------------------------------
def test_key_rotation_fetches_the_new_key(limited: Limited, idp: IdP, keys: dict[str, Key]) -> None:
    payload = claims(idp, sub="sub-rotation", preferred_username="rotation.user")
    with limited.served.client(jwt_for(keys["rsa-1"], payload), local_address="127.0.0.5") as old:
        assert old.get("/v1/me").status_code == 200
    hits = idp.hits["/jwks"]
    idp.keys = [keys["rsa-1"], keys["rsa-2"]]  # the provider rotates a new key in
    with limited.served.client(jwt_for(keys["rsa-2"], payload), local_address="127.0.0.5") as new:
        me = new.get("/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["login"] == "rotation.user" and idp.hits["/jwks"] == hits + 1


def exhaust(client: httpx.Client, headers: dict[str, str] | None = None) -> httpx.Response:
    """Three failures, then the fourth attempt's response."""
    for _ in range(3):
        problem(client.get("/v1/me", headers={**bearer("iop_not-a-token"), **(headers or {})}), 401)
    return client.get("/v1/me", headers={**bearer("iop_not-a-token"), **(headers or {})})


def test_the_fourth_failure_is_429_and_then_a_good_token_too(limited: Limited) -> None:
    with limited.served.client(local_address="127.0.0.2") as client:
        fourth = exhaust(client)
        problem(fourth, 429, "too_many_failed_authentications")
        assert 0 < int(fourth.headers["Retry-After"]) <= WINDOW
        good = client.get("/v1/me", headers=limited.robot.headers)
        problem(good, 429, "too_many_failed_authentications")
        assert "Retry-After" in good.headers
    with limited.served.client(limited.robot, local_address="127.0.0.3") as elsewhere:
        assert elsewhere.get("/v1/me").status_code == 200  # another client is not held back


def test_forwarded_for_from_an_untrusted_peer_is_ignored(limited: Limited) -> None:
    with limited.served.client(local_address="127.0.0.4") as client:
        for n in range(3):
            problem(client.get("/v1/me", headers={**bearer("iop_x"), "X-Forwarded-For": f"10.1.0.{n}"}), 401)
        spoofed = client.get("/v1/me", headers={**limited.robot.headers, "X-Forwarded-For": "10.1.0.99"})
        problem(spoofed, 429, "too_many_failed_authentications")


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted(limited: Limited) -> None:
    with limited.served.client() as proxy:  # from 127.0.0.1, the trusted proxy
        problem(exhaust(proxy, {"X-Forwarded-For": "10.2.0.1"}), 429, "too_many_failed_authentications")
        problem(proxy.get("/v1/me", headers={**limited.robot.headers, "X-Forwarded-For": "10.2.0.1"}), 429)
        # The client's own claim left of the proxy's entry proves nothing: the right-most untrusted one counts.
        problem(proxy.get("/v1/me", headers={**limited.robot.headers, "X-Forwarded-For": "10.2.0.2, 10.2.0.1"}), 429)
        other = proxy.get("/v1/me", headers={**limited.robot.headers, "X-Forwarded-For": "10.2.0.2"})
        assert other.status_code == 200, other.text
        problem(proxy.get("/v1/me", headers={**bearer("iop_x"), "X-Forwarded-For": "10.2.0.3"}), 401)
        assert proxy.get("/v1/me", headers=limited.robot.headers).status_code == 200  # the proxy itself is fine
