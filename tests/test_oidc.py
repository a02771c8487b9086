"""OidcVerifier against a real identity provider stand-in: JWKS and discovery over HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from iop_workflow.errors import DefinitionError, NotAuthenticated
from iop_workflow.server.oidc import Claims, OidcVerifier
from iop_workflow.settings import OidcSettings

AUDIENCE = "iop-api"


@dataclass
class Ticks:
    """The verifier's monotonic clock, moved by the test."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Key:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        data: dict[str, Any] = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


@dataclass
class IdP:
    """What the HTTP server serves, and how often each path was asked for."""

    issuer: str = ""
    keys: list[Key] = field(default_factory=list)
    discovery_issuer: str | None = None  # None: the real issuer
    failing: bool = False
    redirect: str = ""  # where /moved redirects to
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks"

    def body(self, path: str) -> bytes | None:
        with self.lock:
            self.hits[path] += 1
            if self.failing:
                return None
            if path == "/jwks":
                return json.dumps({"keys": [key.jwk() for key in self.keys]}).encode()
            if path == "/.well-known/openid-configuration":
                issuer = self.discovery_issuer or self.issuer
                return json.dumps({"issuer": issuer, "jwks_uri": self.jwks_url}).encode()
            return None


@pytest.fixture(scope="module")
def rsa_key() -> Key:
    return Key("rsa-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def ec_key() -> Key:
    return Key("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def new_key() -> Key:
    return Key("rsa-2", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def provider() -> Iterator[list[IdP]]:
    """One HTTP server for the module, serving whichever IdP state the current test put in the list."""
    current: list[IdP] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/moved":
                current[-1].body(self.path)
                self.send_response(302)
                self.send_header("Location", current[-1].redirect)
                self.end_headers()
                return
            body = current[-1].body(self.path)
            self.send_response(200 if body is not None else 500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    current.append(IdP(issuer=f"http://127.0.0.1:{server.server_address[1]}"))
    yield current
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def idp(provider: list[IdP], rsa_key: Key, ec_key: Key, monkeypatch: pytest.MonkeyPatch) -> IdP:
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # urllib honours *_proxy variables
    state = IdP(issuer=provider[0].issuer, keys=[rsa_key, ec_key])
    provider.append(state)
    return state


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def config(idp: IdP, **changes: Any) -> OidcSettings:
    return replace(OidcSettings(issuer=idp.issuer, audience=AUDIENCE, jwks_url=idp.jwks_url), **changes)


@pytest.fixture
def verifier(idp: IdP, ticks: Ticks) -> OidcVerifier:
    return OidcVerifier(config(idp), monotonic=ticks)


def claims(idp: IdP, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": idp.issuer,
        "aud": AUDIENCE,
        "sub": "u-123",
        "preferred_username": "anna.handlaggare",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def sign(key: Key, payload: dict[str, Any], *, kid: str | None = None) -> str:
    return jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": kid or key.kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def refused(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(NotAuthenticated) as caught:
        verifier.verify(token)
    problem = caught.value.problem
    if len(token) >= 8:  # the token, or any sizeable part of it, is never echoed
        assert not any(token[:8] in text for text in (problem, caught.value.message("en"), caught.value.message("sv")))
    return problem


def test_rs256_and_es256_tokens_are_accepted(idp: IdP, verifier: OidcVerifier, rsa_key: Key, ec_key: Key) -> None:
    expected = Claims(issuer=idp.issuer, subject="u-123", login="anna.handlaggare")
    assert verifier.verify(sign(rsa_key, claims(idp))) == expected
    assert verifier.verify(sign(ec_key, claims(idp))) == expected


def test_login_comes_from_the_configured_claim(idp: IdP, ticks: Ticks, rsa_key: Key) -> None:
    verifier = OidcVerifier(config(idp, login_claim="upn"), monotonic=ticks)
    assert verifier.verify(sign(rsa_key, claims(idp, upn="anna@kommun.se"))).login == "anna@kommun.se"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"aud": "another-app"}, "wrong audience"),
        ({"exp": int(time.time()) - 3600}, "token expired"),
        ({"nbf": int(time.time()) + 3600}, "token not yet valid"),
        ({"sub": None}, "token lacks the sub claim"),
        ({"aud": None}, "token lacks the aud claim"),
        ({"exp": None}, "token lacks the exp claim"),
        ({"preferred_username": None}, "token lacks the login claim"),
        ({"preferred_username": "anna handlaggare"}, "login claim is not a usable login"),
        ({"preferred_username": ""}, "login claim is not a usable login"),
        ({"preferred_username": "a" * 201}, "login claim is not a usable login"),
        ({"preferred_username": ["anna"]}, "login claim is not a usable login"),
    ],
)
def test_bad_claims_are_refused(
    idp: IdP, verifier: OidcVerifier, rsa_key: Key, changes: dict[str, Any], problem: str
) -> None:
    assert refused(verifier, sign(rsa_key, claims(idp, **changes))) == problem


def test_leeway_accepts_a_token_that_just_expired(idp: IdP, verifier: OidcVerifier, rsa_key: Key) -> None:
    assert verifier.verify(sign(rsa_key, claims(idp, exp=int(time.time()) - 5))).subject == "u-123"


def test_unsigned_token_is_refused(idp: IdP, verifier: OidcVerifier) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims(idp)) + "."
    assert refused(verifier, token) == "algorithm not allowed"


@pytest.mark.parametrize("algorithms", [("RS256", "ES256"), ("RS256", "HS256")])
def test_hs256_with_the_public_key_as_secret_is_refused_even_if_configured(
    idp: IdP, ticks: Ticks, rsa_key: Key, algorithms: tuple[str, ...]
) -> None:
    verifier = OidcVerifier(config(idp, algorithms=algorithms), monotonic=ticks)
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(idp))
    mac = hmac.new(rsa_key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    assert refused(verifier, f"{signing_input}.{b64(mac)}") == "algorithm not allowed"
    assert idp.hits["/jwks"] == 0  # refused before any key was looked up


def test_algorithm_not_in_the_allow_list_is_refused(idp: IdP, ticks: Ticks, ec_key: Key) -> None:
    verifier = OidcVerifier(config(idp, algorithms=("RS256",)), monotonic=ticks)
    assert refused(verifier, sign(ec_key, claims(idp))) == "algorithm not allowed"


def test_token_alg_must_fit_the_key_it_names(idp: IdP, verifier: OidcVerifier, ec_key: Key) -> None:
    assert refused(verifier, sign(ec_key, claims(idp), kid="rsa-1")) == "algorithm does not match the signing key"


def test_unknown_kid_is_refused(idp: IdP, verifier: OidcVerifier, new_key: Key) -> None:
    assert refused(verifier, sign(new_key, claims(idp))) == "unknown signing key"


def test_tampered_payload_is_refused(idp: IdP, verifier: OidcVerifier, rsa_key: Key) -> None:
    header, _payload, signature = sign(rsa_key, claims(idp)).split(".")
    forged = b64(json.dumps(claims(idp, sub="u-admin")).encode())
    assert refused(verifier, f"{header}.{forged}.{signature}") == "bad signature"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 20_000, "eyJhbGciOiJSUzI1NiJ9.e30"])
def test_malformed_tokens_are_refused(verifier: OidcVerifier, token: str) -> None:
    assert refused(verifier, token) in {"malformed token", "algorithm not allowed"}


def test_key_rotation_refetches_once_and_then_rate_limits(
    idp: IdP, verifier: OidcVerifier, ticks: Ticks, rsa_key: Key, new_key: Key
) -> None:
    verifier.verify(sign(rsa_key, claims(idp)))
    assert idp.hits["/jwks"] == 1
    idp.keys = [rsa_key, new_key]  # the provider rotates in a new key
    ticks.now += 1
    assert verifier.verify(sign(new_key, claims(idp))).subject == "u-123"
    assert idp.hits["/jwks"] == 2
    ticks.now += 1
    for kid in ("made-up-1", "made-up-2", "made-up-3"):  # a flood of unknown kids within 10 s
        assert refused(verifier, sign(new_key, claims(idp), kid=kid)) == "unknown signing key"
    assert idp.hits["/jwks"] == 2
    ticks.now += 10
    assert refused(verifier, sign(new_key, claims(idp), kid="made-up-4")) == "unknown signing key"
    assert idp.hits["/jwks"] == 3


def test_keys_are_cached_for_jwks_cache_seconds(
    idp: IdP, verifier: OidcVerifier, ticks: Ticks, rsa_key: Key, ec_key: Key
) -> None:
    verifier.verify(sign(rsa_key, claims(idp)))
    verifier.verify(sign(ec_key, claims(idp)))
    assert idp.hits["/jwks"] == 1
    ticks.now += 299
    verifier.verify(sign(rsa_key, claims(idp)))
    assert idp.hits["/jwks"] == 1
    ticks.now += 1
    verifier.verify(sign(rsa_key, claims(idp)))
    assert idp.hits["/jwks"] == 2


def test_a_removed_key_stops_working_when_the_cache_expires(
    idp: IdP, verifier: OidcVerifier, ticks: Ticks, rsa_key: Key, ec_key: Key
) -> None:
    verifier.verify(sign(ec_key, claims(idp)))
    idp.keys = [rsa_key]
    ticks.now += 300
    assert refused(verifier, sign(ec_key, claims(idp))) == "unknown signing key"


def test_discovery_finds_the_jwks_once(idp: IdP, ticks: Ticks, rsa_key: Key) -> None:
    verifier = OidcVerifier(config(idp, jwks_url=""), monotonic=ticks)
    verifier.verify(sign(rsa_key, claims(idp)))
    verifier.verify(sign(rsa_key, claims(idp)))
    ticks.now += 300
    verifier.verify(sign(rsa_key, claims(idp)))
    assert idp.hits == {"/.well-known/openid-configuration": 1, "/jwks": 2}


def test_discovery_document_of_another_issuer_is_not_used(idp: IdP, ticks: Ticks, rsa_key: Key) -> None:
    idp.discovery_issuer = "https://evil.example"
    verifier = OidcVerifier(config(idp, jwks_url=""), monotonic=ticks)
    assert refused(verifier, sign(rsa_key, claims(idp))) == "identity provider unreachable"
    assert idp.hits["/jwks"] == 0


def test_unreachable_provider_is_retried_only_after_a_pause(
    idp: IdP, verifier: OidcVerifier, ticks: Ticks, rsa_key: Key
) -> None:
    idp.failing = True
    assert refused(verifier, sign(rsa_key, claims(idp))) == "identity provider unreachable"
    assert refused(verifier, sign(rsa_key, claims(idp))) == "identity provider unreachable"
    assert idp.hits["/jwks"] == 1
    idp.failing = False
    ticks.now += 10
    assert verifier.verify(sign(rsa_key, claims(idp))).subject == "u-123"
    assert idp.hits["/jwks"] == 2


def test_cached_keys_outlive_a_provider_outage(idp: IdP, verifier: OidcVerifier, ticks: Ticks, rsa_key: Key) -> None:
    verifier.verify(sign(rsa_key, claims(idp)))
    idp.failing = True
    ticks.now += 300
    assert verifier.verify(sign(rsa_key, claims(idp))).subject == "u-123"


def test_concurrent_first_verifications_fetch_once(idp: IdP, verifier: OidcVerifier, rsa_key: Key) -> None:
    token = sign(rsa_key, claims(idp))
    results: list[Claims] = []
    threads = [threading.Thread(target=lambda: results.append(verifier.verify(token))) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert idp.hits["/jwks"] == 1


def test_disabled_config_needs_no_network_and_refuses_everything(rsa_key: Key) -> None:
    verifier = OidcVerifier(OidcSettings(), fetch=lambda url: pytest.fail(f"fetched {url}"))
    assert refused(verifier, "eyJhbGciOiJSUzI1NiJ9.e30.sig") == "OIDC is not configured"


def test_enabled_config_needs_an_audience() -> None:
    with pytest.raises(DefinitionError, match="audience"):
        OidcVerifier(OidcSettings(issuer="https://idp.example", audience=""))


def test_fetch_is_only_http(ticks: Ticks, rsa_key: Key) -> None:
    settings = OidcSettings(issuer="https://idp.example", audience=AUDIENCE, jwks_url="file:///etc/passwd")
    token = jwt.encode({"sub": "x"}, rsa_key.private, algorithm="RS256", headers={"kid": "rsa-1"})
    assert refused(OidcVerifier(settings, monotonic=ticks), token) == "identity provider unreachable"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # signing with it, on purpose
def test_short_rsa_keys_are_refused(idp: IdP, verifier: OidcVerifier, rsa_key: Key) -> None:
    weak = Key("rsa-weak", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    idp.keys = [rsa_key, weak]
    assert refused(verifier, sign(weak, claims(idp))) == "unusable signing key"


def test_redirects_to_other_schemes_are_not_followed(idp: IdP, ticks: Ticks, rsa_key: Key) -> None:
    idp.redirect = "file:///etc/passwd"
    verifier = OidcVerifier(config(idp, jwks_url=idp.issuer + "/moved"), monotonic=ticks)
    assert refused(verifier, sign(rsa_key, claims(idp))) == "identity provider unreachable"
    assert idp.hits["/moved"] == 1
