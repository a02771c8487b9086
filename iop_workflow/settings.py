"""Settings: ``config/iop.toml`` with ``IOP_*`` environment overrides.

Unknown keys and wrong types are load errors naming the file (or variable) and key, and an
unknown key the nearest known one. An unknown ``IOP_*`` variable close to a known one gets a
warning on stderr naming both; other ``IOP_*`` variables are left alone (tools share the prefix).

This module holds the settings (:class:`Settings` and its sections) and :func:`load_settings`;
a value's typed reading and its environment override are in :mod:`iop_workflow.settings_read`,
the decision bodies in :mod:`iop_workflow.settings_bodies` (re-exported here).
"""

from __future__ import annotations

import difflib
import os
import re
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from iop_workflow.domain import tomldoc
from iop_workflow.domain.facts import MIN_AGREEMENT_MONTHS
from iop_workflow.domain.timers import LeadTimes
from iop_workflow.domain.values import ROLES
from iop_workflow.errors import DefinitionError
from iop_workflow.resources import read_text
from iop_workflow.settings_bodies import DELEGATE, DecisionBodies, read_decision_bodies, shipped_decision_bodies
from iop_workflow.settings_read import CONTROL, default_config_path, env_name, read_section

__all__ = [
    "DELEGATE",
    "FILE_MODES",
    "DecisionBodies",
    "FilesSettings",
    "OidcSettings",
    "ServerSettings",
    "Settings",
    "default_config_path",
    "env_typos",
    "known_env_names",
    "load_settings",
    "shipped_decision_bodies",
]

_IOP_KEYS: dict[str, type] = {
    "database_url": str,
    "timezone": str,
    "case_ref_pattern": str,
    "min_agreement_months": int,
    "lang": str,
    "audit_log": str,
}
_LEAD_KEYS: dict[str, type] = {name: int for name in LeadTimes.__dataclass_fields__}
_SECTIONS = ("iop", "lead_times", "roles", "server", "auth", "files", "decision_bodies")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """``[server]``: what ``iop serve`` listens on and accepts."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1_048_576
    # Client addresses whose X-Forwarded-For is believed (the reverse proxy); nobody else's.
    trusted_proxies: tuple[str, ...] = ()
    auth_failures_per_minute: int = 20
    idempotency_hours: int = 24


@dataclass(frozen=True, slots=True, kw_only=True)
class OidcSettings:
    """``[auth.oidc]``: the identity provider whose bearer JWTs people present. Empty issuer: off."""

    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""  # empty: from the issuer's /.well-known/openid-configuration
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    login_claim: str = "preferred_username"
    leeway_seconds: int = 30
    jwks_cache_seconds: int = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class FilesSettings:
    """``[files]``: the mode of the files the product creates (database, audit streams, outputs).

    ``"0600"`` (the owner only) or ``"0640"`` (and the owner's group, e.g. an auditors' group).
    """

    mode: str = "0600"

    @property
    def bits(self) -> int:
        return int(self.mode, 8)


FILE_MODES = ("0600", "0640")


def _schema_of(cls: type) -> dict[str, type]:
    """The typed keys of a settings dataclass (str, int, or tuple of str)."""
    kinds = {"str": str, "int": int, "tuple[str, ...]": tuple}
    return {name: kinds[str(f.type)] for name, f in cls.__dataclass_fields__.items()}  # type: ignore[attr-defined]


_SERVER_KEYS = _schema_of(ServerSettings)
_OIDC_KEYS = _schema_of(OidcSettings)
_FILES_KEYS = _schema_of(FilesSettings)
MAX_CASE_REF = 40  # the width of cases.ref


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    database_url: str = ""
    timezone: str = "Europe/Stockholm"
    case_ref_pattern: str = "IOP-{year}-{seq:04d}"
    min_agreement_months: int = MIN_AGREEMENT_MONTHS
    lang: str = "sv"
    audit_log: str = ""
    lead_times: LeadTimes = field(default_factory=LeadTimes)
    server: ServerSettings = field(default_factory=ServerSettings)
    oidc: OidcSettings = field(default_factory=OidcSettings)
    files: FilesSettings = field(default_factory=FilesSettings)
    # Municipality or region (as --municipality takes it) -> its decision bodies; the shipped file's by default.
    decision_bodies: Mapping[str, DecisionBodies] = field(default_factory=shipped_decision_bodies)
    # The old role settings: imported once as logged grants by the first ``iop init`` of a
    # database without an admin (service/identity.py), never read to decide a role.
    default_roles: frozenset[str] = frozenset()
    actors: Mapping[str, frozenset[str]] = field(default_factory=dict)
    source: str = "(defaults)"
    # decision_bodies keyed by SCB code, worked out at the first lookup (start-up reads no register).
    _bodies_by_code: Mapping[str, DecisionBodies] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def bodies_of(self, municipality: str) -> DecisionBodies | None:
        """The decision bodies configured for ``municipality`` (a code, or a name as ``--municipality`` takes it)."""
        from iop_workflow.municipalities import code_of  # noqa: PLC0415 - only decisions need the register

        if self._bodies_by_code is None:
            object.__setattr__(self, "_bodies_by_code", {code_of(k): v for k, v in self.decision_bodies.items()})
        assert self._bodies_by_code is not None
        return self._bodies_by_code.get(code_of(municipality))

    def case_ref(self, year: int, seq: int) -> str:
        return self.case_ref_pattern.format(year=year, seq=seq)


def known_env_names() -> frozenset[str]:
    """Every ``IOP_*`` variable the product reads (IOP_SERVER and IOP_TOKEN: reserved for remote mode)."""
    names = {"IOP_CONFIG", "IOP_SERVER", "IOP_TOKEN"}
    for section, schema in (
        ("iop", _IOP_KEYS),
        ("lead_times", _LEAD_KEYS),
        ("server", _SERVER_KEYS),
        ("auth.oidc", _OIDC_KEYS),
        ("files", _FILES_KEYS),
    ):
        names.update(env_name(section, key) for key in schema)
    return frozenset(names)


def env_typos(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(variable, the known one it resembles) for each unknown ``IOP_*`` variable close to a known one."""
    known = known_env_names()
    out = []
    for name in sorted(env):
        if name.startswith("IOP_") and name not in known:
            near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
            if near:
                out.append((name, near[0]))
    return out


_WARNED: set[str] = set()


def _warn_env_typos(env: Mapping[str, str]) -> None:
    """Warn once per process on stderr; never fail (other tools share the IOP_ prefix)."""
    for name, near in env_typos(env):
        if name not in _WARNED:
            _WARNED.add(name)
            print(f"iop: warning: {name} is not a setting and is ignored; did you mean {near}?", file=sys.stderr)


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings file (default: the shipped one), then apply ``IOP_*`` overrides."""
    env = os.environ if environ is None else environ
    _warn_env_typos(env)
    if path is None and env.get("IOP_CONFIG"):
        path = Path(env["IOP_CONFIG"])
    path = path or default_config_path()
    file = str(path)
    data = tomldoc.parse(read_text(path, field="config"), file=file)
    return _build(data, file, env)


def _build(data: dict[str, Any], file: str, env: Mapping[str, str]) -> Settings:
    for key in data:
        if key not in _SECTIONS:
            raise tomldoc.unknown(file, key, _SECTIONS, "unknown section")
    iop = read_section(data, "iop", _IOP_KEYS, file, env)
    lead = read_section(data, "lead_times", _LEAD_KEYS, file, env)
    server = read_section(data, "server", _SERVER_KEYS, file, env)
    files = read_section(data, "files", _FILES_KEYS, file, env)
    if files.get("mode", FILE_MODES[0]) not in FILE_MODES:
        where = ("environment", "IOP_FILES_MODE") if "IOP_FILES_MODE" in env else (file, "files.mode")
        raise DefinitionError(file=where[0], key=where[1], problem=f"must be one of {', '.join(FILE_MODES)}")
    auth = data.get("auth", {})
    if not isinstance(auth, dict):
        raise DefinitionError(file=file, key="auth", problem="must be a table")
    for key in auth:
        if key != "oidc":
            raise tomldoc.unknown(file, f"auth.{key}", {"oidc"})
    oidc = read_section(auth, "oidc", _OIDC_KEYS, file, env, prefix="auth.")
    roles = _roles(data.get("roles", {}), file, env)
    values: dict[str, Any] = {k: v for k, v in iop.items()}
    if "decision_bodies" in data:  # a file's table replaces the shipped one as a whole
        values["decision_bodies"] = read_decision_bodies(data["decision_bodies"], file)
    settings = Settings(
        **values,
        lead_times=LeadTimes(**lead),
        server=ServerSettings(**server),
        oidc=OidcSettings(**oidc),
        files=FilesSettings(**files),
        default_roles=roles[0],
        actors=roles[1],
        source=file,
    )
    _check(settings, file, env)
    return settings


def _roles(table: Any, file: str, env: Mapping[str, str]) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    if not isinstance(table, dict):
        raise DefinitionError(file=file, key="roles", problem="must be a table")
    for key in table:
        if key not in {"default_roles", "actors"}:
            raise tomldoc.unknown(file, f"roles.{key}", {"default_roles", "actors"})
    # No environment variable grants a role: IOP_ROLES_* is not read.
    default = _role_list(table.get("default_roles", []), file, "roles.default_roles")
    actors_raw = table.get("actors", {})
    if not isinstance(actors_raw, dict):
        raise DefinitionError(file=file, key="roles.actors", problem="must be a table")
    actors = {name: _role_list(roles, file, f"roles.actors.{name}") for name, roles in actors_raw.items()}
    return default, actors


def _role_list(value: Any, file: str, key: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DefinitionError(file=file, key=key, problem="must be a list of role names")
    for role in value:
        if role not in ROLES:
            raise DefinitionError(
                file=file, key=key, problem=f"unknown role {role!r} (known: {', '.join(sorted(ROLES))})"
            )
    return frozenset(value)


def _check(settings: Settings, file: str, env: Mapping[str, str]) -> None:
    def where(key: str) -> tuple[str, str]:
        """The file and key a value came from: an IOP_* variable overrides the file."""
        name = env_name("iop", key)
        return ("environment", name) if name in env else (file, f"iop.{key}")

    try:
        settings.tz  # noqa: B018 - resolving the zone is the check
    except (ZoneInfoNotFoundError, ValueError):
        source, key = where("timezone")
        raise DefinitionError(file=source, key=key, problem=f"unknown time zone {settings.timezone!r}") from None
    if settings.lang not in {"sv", "en"}:
        source, key = where("lang")
        raise DefinitionError(file=source, key=key, problem=f"must be sv or en, not {settings.lang!r}")
    _check_case_ref(settings, *where("case_ref_pattern"))


def _check_case_ref(settings: Settings, file: str, key: str) -> None:
    """The pattern must give every case its own ref, short enough for the column."""
    try:
        for _text, name, spec, _conversion in string.Formatter().parse(settings.case_ref_pattern):
            if name is not None and name not in {"year", "seq"}:
                raise ValueError(f"unknown field {name!r}")
            if any(int(width) > MAX_CASE_REF for width in re.findall(r"\d+", spec or "")):
                raise ValueError(f"width {spec!r} is over {MAX_CASE_REF}")
        refs = {settings.case_ref(year, seq) for year in (2026, 2027) for seq in (1, 2, 9999)}
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise DefinitionError(file=file, key=key, problem=f"needs only {{year}} and {{seq}}: {exc}") from None
    if any(ref.startswith("@") for ref in refs):  # "@": chains of no case (the administration chain)
        raise DefinitionError(file=file, key=key, problem="must not start with @ (reserved for the log's own chains)")
    if len(refs) < 6:
        raise DefinitionError(file=file, key=key, problem="must contain {year} and {seq}: refs would repeat")
    longest = max(refs, key=len)
    if len(longest) > MAX_CASE_REF or CONTROL.search(longest):
        raise DefinitionError(
            file=file, key=key, problem=f"gives refs like {longest[:60]!r}: at most {MAX_CASE_REF} printable characters"
        )
