"""OIDC bearer JWTs: who a person is, established from their identity provider's signature.

``OidcVerifier.verify(token)`` gives the token's ``Claims`` (issuer, subject, login) or raises
``NotAuthenticated`` with a short English problem that never repeats the token. The issuer's
public keys (JWKS) are fetched lazily, cached, and refetched once when a token names an
unknown key (rotation), at most once every ``REFETCH_SECONDS``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from iop_workflow.errors import DefinitionError, NotAuthenticated
from iop_workflow.settings import OidcSettings

# Only public-key algorithms: with HS* the "secret" would be the published public key, and
# "none" is no signature at all, so neither is ever accepted, whatever the settings say.
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
REFETCH_SECONDS = 10.0  # a flood of tokens with made-up kids fetches at most this often
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT = 1_048_576  # a JWKS or discovery document larger than this is refused
MAX_TOKEN = 16_384
MAX_LOGIN = 200
REQUIRED = ("exp", "iss", "sub", "aud")

_PROBLEMS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (  # most specific first
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidKeyError, "unusable signing key"),
    (jwt.DecodeError, "malformed token"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Claims:
    """The authenticated person: grants key on ``issuer`` + ``subject``; ``login`` is for display."""

    issuer: str
    subject: str
    login: str


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect to ftp:; a key document comes over http(s) or not at all."""

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        _check_scheme(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _check_scheme(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise ValueError("only http and https URLs are fetched")


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def fetch_url(url: str) -> bytes:
    """GET ``url`` (http or https only) with a 5 s timeout; raises OSError/ValueError on failure."""
    _check_scheme(url)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    with _OPENER.open(request, timeout=FETCH_TIMEOUT) as response:
        body: bytes = response.read(MAX_DOCUMENT + 1)
    if len(body) > MAX_DOCUMENT:
        raise ValueError("document too large")
    return body


class OidcVerifier:
    """Verifies bearer JWTs from one issuer. Thread-safe; construction never touches the network.

    ``fetch`` reads a URL and returns its body (default ``fetch_url``); ``monotonic`` is the
    clock for the key cache. An enabled config needs an audience (else ``DefinitionError``):
    a token minted for another application of the same provider must not be accepted here.
    """

    def __init__(
        self,
        settings: OidcSettings,
        *,
        fetch: Callable[[str], bytes] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.issuer and not settings.audience:
            raise DefinitionError(
                file="(settings)", key="auth.oidc.audience", problem="must be set when auth.oidc.issuer is"
            )
        self._settings = settings
        self._fetch = fetch or fetch_url
        self._now = monotonic
        self._algorithms = [a for a in settings.algorithms if a in ASYMMETRIC]
        self._lock = threading.Lock()
        self._jwks_url = settings.jwks_url
        self._keys: list[dict[str, Any]] | None = None
        self._fetched_at = 0.0
        self._last_refetch = -float("inf")  # when an unknown kid last caused a fetch
        self._retry_at = -float("inf")  # after a failed fetch: not before then (no 5 s stall per request)

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; ``NotAuthenticated`` for anything else, or if OIDC is off."""
        settings = self._settings
        if not settings.issuer:
            raise NotAuthenticated(problem="OIDC is not configured")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            raise NotAuthenticated(problem="malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotAuthenticated(problem="malformed token") from None
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise NotAuthenticated(problem="algorithm not allowed")
        key = self._key(header.get("kid"), alg)
        try:
            payload = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": list(REQUIRED), "enforce_minimum_key_length": True},
            )
        except jwt.MissingRequiredClaimError as exc:
            claim = exc.claim if exc.claim in REQUIRED else "a required"
            raise NotAuthenticated(problem=f"token lacks the {claim} claim") from None
        except jwt.PyJWTError as exc:
            problem = next((text for kind, text in _PROBLEMS if isinstance(exc, kind)), "invalid token")
            raise NotAuthenticated(problem=problem) from None
        return self._claims(payload)

    def _claims(self, payload: dict[str, Any]) -> Claims:
        subject = payload["sub"]  # PyJWT checked it is a string
        if not subject:
            raise NotAuthenticated(problem="token lacks the sub claim")
        login = payload.get(self._settings.login_claim)
        if login is None:
            raise NotAuthenticated(problem="token lacks the login claim")
        if (
            not isinstance(login, str)
            or not login
            or len(login) > MAX_LOGIN
            or not login.isprintable()
            or any(c.isspace() for c in login)
        ):
            raise NotAuthenticated(problem="login claim is not a usable login")
        return Claims(issuer=payload["iss"], subject=subject, login=login)

    def _key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The issuer's key ``kid`` bound to ``alg``; fetches the JWKS when stale or ``kid`` is new."""
        with self._lock:  # one fetch at a time; the others wait for its result
            now = self._now()
            fetched = False
            if self._keys is None or now - self._fetched_at >= self._settings.jwks_cache_seconds:
                fetched = self._refresh(now)
            found = _match(self._keys or [], kid)
            if found is None and not fetched and now - self._last_refetch >= REFETCH_SECONDS:
                self._last_refetch = now
                self._refresh(now)
                found = _match(self._keys or [], kid)
        if found is None:
            raise NotAuthenticated(problem="unknown signing key")
        if found.get("alg", alg) != alg:
            raise NotAuthenticated(problem="algorithm not allowed")
        try:
            # Bound to the token's (allowed) alg: PyJWK would otherwise guess RS256 for any RSA
            # key without "alg", refusing RS384/PS256 tokens signed with it.
            return jwt.PyJWK(found, algorithm=alg)
        except jwt.PyJWTError:
            raise NotAuthenticated(problem="algorithm does not match the signing key") from None

    def _refresh(self, now: float) -> bool:
        """Refetch the JWKS; True if it did. On failure the old keys (if any) stay in use until one succeeds."""
        if now < self._retry_at:
            if self._keys is None:
                raise NotAuthenticated(problem="identity provider unreachable")
            return False
        try:
            url = self._jwks_url or self._discover()
            keys = _signing_keys(json.loads(self._fetch(url)))
        except Exception:  # any failure of the network or the document: the provider is not usable now
            self._retry_at = now + REFETCH_SECONDS
            if self._keys is None:
                raise NotAuthenticated(problem="identity provider unreachable") from None
            return False
        self._keys = keys
        self._fetched_at = now
        return True

    def _discover(self) -> str:
        """The ``jwks_uri`` of the issuer's discovery document; remembered once found."""
        issuer = self._settings.issuer
        document = json.loads(self._fetch(issuer.rstrip("/") + "/.well-known/openid-configuration"))
        # OIDC Discovery 4.3: the document must name the issuer it was fetched for.
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise ValueError("discovery document of another issuer")
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise ValueError("discovery document without jwks_uri")
        self._jwks_url = uri
        return uri


def _signing_keys(document: Any) -> list[dict[str, Any]]:
    """The public signing keys of a JWKS document; ValueError if it has none."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not a JWKS")
    usable = [
        key
        for key in keys
        if isinstance(key, dict) and key.get("use", "sig") == "sig" and key.get("kty") in {"RSA", "EC", "OKP"}
    ]
    if not usable:
        raise ValueError("no signing keys")
    return usable


def _match(keys: list[dict[str, Any]], kid: str | None) -> dict[str, Any] | None:
    """The key named ``kid``; a token without a kid only matches a set of exactly one key."""
    if kid is None:
        return keys[0] if len(keys) == 1 else None
    return next((key for key in keys if key.get("kid") == kid), None)
