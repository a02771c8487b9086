"""Who may act: principals, role grants and the administration chain.

Roles are data. Every grant, revoke, bootstrap and login binding is a record of
the administration chain (``@admin`` in the transition log, hash-chained and
under checkpoints like a case's chain) written in the same transaction as the
row it changes. No setting or environment variable grants a role: the old
``[roles]`` settings are imported once, as logged grants, by the first
``iop init`` of a database that has no admin yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain.values import GRANTABLE_ROLES
from iop_workflow.errors import InvalidInput, NotAuthenticated, NotFound, NotPermitted
from iop_workflow.municipalities import code_of, name_of
from iop_workflow.service import validate
from iop_workflow.service.changes import append_chain_record, lock_chain
from iop_workflow.service.context import WILDCARD, Actor, App, Auth, os_login
from iop_workflow.store import identity as store

ADMIN_CHAIN = "@admin"  # the administration chain's ref: no case ref starts with "@"
ADMIN_STATE = "admin"
ADMIN = "admin"
SYSTEM = "system"
BOOTSTRAP_ROLES = (ADMIN, "registrar", "officer", "coordinator")


def build_actor(
    name: str, pairs: Iterable[tuple[str, str]], *, source: str, auth: Auth, os_user: str | None = None
) -> Actor:
    """An actor holding ``pairs`` of (role, municipality or ``*``)."""
    grants = tuple(sorted(set(pairs)))
    return Actor(
        name=name, roles=frozenset(r for r, _m in grants), source=source, os_user=os_user, auth=auth, grants=grants
    )


def local_actor(app: App, name: str | None, *, source: str) -> Actor:
    """The OS login of this process, or ``name`` when that login is an admin (``local-asserted``)."""
    login = os_login()
    with app.db.read() as s:
        held = store.grants_of(s, [login] if name is None else [login, name])
    own = held[login] | held[WILDCARD]
    if name is None or name == login:
        return build_actor(login, own, source=source, auth=Auth(method="local", subject=login), os_user=login)
    if not any(role == ADMIN for role, _m in own):
        raise NotPermitted(
            actor=login,
            roles=sorted({r for r, _m in own}),
            needs=ADMIN,
            action_sv=f"agera som {name} (--actor)",
            action_en=f"act as {name} (--actor)",
        )
    asserted = Auth(method="local-asserted", subject=login)
    if name == SYSTEM:  # an admin doing by hand what the scheduler does: its role, everywhere, recorded as such
        return Actor(name=SYSTEM, roles=frozenset({SYSTEM}), source=source, os_user=login, auth=asserted)
    return build_actor(name, held[name] | held[WILDCARD], source=source, os_user=login, auth=asserted)


def system_actor(app: App, *, source: str = "cli") -> Actor:
    """The product itself acting at set-up (``iop init`` loading the shipped guidelines), run by the OS login."""
    login = os_login()
    return Actor(
        name=SYSTEM, roles=frozenset({SYSTEM}), source=source, os_user=login, auth=Auth(method="system", subject=login)
    )


def operator(app: App, *, source: str = "cli") -> Actor:
    """Whoever runs this process on the database itself: the OS login, holding no roles of its own here."""
    login = os_login()
    return Actor(
        name=login, roles=frozenset(), source=source, os_user=login, auth=Auth(method="local", subject=login), grants=()
    )


@contextmanager
def admin_write(app: App) -> Iterator[Connection]:
    """A write of the administration chain (grants, tokens, bindings), holding the chain from its first
    statement: on PostgreSQL the checks that come before the record (does the grant exist, is the token's
    name taken) then see every administration committed before, and two at once cannot both pass them.
    SQLite's write lock already orders them."""
    with app.db.write() as s:
        lock_chain(s, ADMIN_CHAIN)
        yield s


def admin_record(app: App, s: Connection, actor: Actor, trigger: str, data: Mapping[str, Any]) -> LogRecord:
    return append_chain_record(app, s, ADMIN_CHAIN, actor=actor, trigger=trigger, state=ADMIN_STATE, data=data)


def login_name(value: object) -> str:
    login = validate.text("login", value, max_len=200)
    if any(ch.isspace() for ch in login):
        raise InvalidInput(
            field="login",
            value=login,
            problem_sv="får inte innehålla blanksteg",
            problem_en="must not contain white space",
        )
    return login


def role_name(value: object) -> str:
    role = validate.text("role", value, max_len=40)
    if role not in GRANTABLE_ROLES:
        known = ", ".join(sorted(GRANTABLE_ROLES))
        raise InvalidInput(
            field="role",
            value=role,
            problem_sv=f"okänd roll; kända: {known}",
            problem_en=f"unknown role; known: {known}",
        )
    return role


def municipality_code(value: object) -> str:
    """The SCB code of the municipality or region ``value`` names, or ``*`` (everywhere) for none."""
    return WILDCARD if value in (None, "", WILDCARD) else code_of(value)


def require_admin(actor: Actor, municipality: str = WILDCARD, *, action_sv: str, action_en: str) -> None:
    """Refuse unless ``actor`` administers ``municipality`` (``*``: needs an admin grant everywhere)."""
    held = {m for r, m in actor.grants or () if r == ADMIN} if actor.grants is not None else set()
    if WILDCARD in held or (municipality != WILDCARD and municipality.casefold() in {m.casefold() for m in held}):
        return
    raise NotPermitted(
        actor=actor.name, roles=sorted(actor.roles), needs=ADMIN, action_sv=action_sv, action_en=action_en
    )


def grant(app: App, actor: Actor, login: str, role: str, municipality: str | None = None) -> dict[str, Any]:
    """Grant ``role`` to ``login`` (in ``municipality``, else everywhere): one @admin record."""
    login, role, place = login_name(login), role_name(role), municipality_code(municipality)
    require_admin(actor, place, action_sv=f"ge rollen {role}", action_en=f"grant the role {role}")
    if login == actor.name:
        raise NotPermitted(
            actor=actor.name,
            roles=sorted(actor.roles),
            needs=f"{ADMIN} (en annan)",
            action_sv="ge sig själv roller",
            action_en="grant roles to itself",
        )
    with admin_write(app) as s:
        if store.active_grant(s, login, role, place) is not None:
            return {**_grant_key(login, role, place), "changed": False}
        record = admin_record(app, s, actor, "admin:grant", _grant_key(login, role, place))
        now = record_time(record)
        store.insert_grant(s, login=login, role=role, municipality=place, by=actor.name, at=now, seq=record_seq(record))
    app.sink.emit(record)
    return {**_grant_key(login, role, place), "changed": True, "seq": record.seq}


def revoke(app: App, actor: Actor, login: str, role: str, municipality: str | None = None) -> dict[str, Any]:
    login, role, place = login_name(login), role_name(role), municipality_code(municipality)
    require_admin(actor, place, action_sv=f"ta tillbaka rollen {role}", action_en=f"revoke the role {role}")
    with admin_write(app) as s:
        row = store.active_grant(s, login, role, place)
        if row is None:
            raise NotFound(kind="grant", key=f"{login} {role} {name_of(place)}")
        record = admin_record(app, s, actor, "admin:revoke", _grant_key(login, role, place))
        store.revoke_grant(s, int(row["id"]), by=actor.name, at=record_time(record), seq=record_seq(record))
    app.sink.emit(record)
    return {**_grant_key(login, role, place), "changed": True, "seq": record.seq}


def list_grants(app: App, login: str | None = None) -> list[dict[str, Any]]:
    """Active grants as {login, role, municipality (name or ``*``), municipality_code, granted_by, granted_at}."""
    with app.db.read() as s:
        rows = store.list_grants(s, login_name(login) if login is not None else None)
    return [
        {
            **_grant_key(r["login"], r["role"], r["municipality"]),
            "granted_by": r["granted_by"],
            "granted_at": r["granted_at"],
        }
        for r in rows
    ]


def bootstrap(app: App, *, admin: str | None = None, only_if_none: bool = False) -> dict[str, Any]:
    """Make ``admin`` (default: the OS login running this) admin, registrar, officer and coordinator, logged.

    Holding the database itself is the trust root: whoever can run this on the
    database can always do it, and it is always logged, by the OS login.
    ``only_if_none``: do nothing when an admin exists (``iop init``).
    """
    by = operator(app)
    login = login_name(admin) if admin is not None else by.name
    with admin_write(app) as s:
        if only_if_none and store.any_admin(s):
            return {"bootstrapped": False, "login": None, "roles": []}
        missing = [r for r in BOOTSTRAP_ROLES if store.active_grant(s, login, r, WILDCARD) is None]
        record = admin_record(
            app, s, by, "admin:bootstrap", {"login": login, "roles": missing, "municipality": WILDCARD}
        )
        for role in missing:
            store.insert_grant(
                s,
                login=login,
                role=role,
                municipality=WILDCARD,
                by=by.name,
                at=record_time(record),
                seq=record_seq(record),
            )
    app.sink.emit(record)
    return {"bootstrapped": True, "login": login, "roles": missing, "seq": record.seq}


def import_settings_roles(app: App) -> list[dict[str, Any]]:
    """Turn the old ``[roles]`` settings into logged grants, once: only while the database has no admin.

    ``roles.actors.<login>`` become grants to that login, ``roles.default_roles``
    grants to ``*`` (every login), so no officer of a running installation loses
    a right in the upgrade. The scheduler's ``system`` role is never granted.
    """
    pairs = sorted(
        {(WILDCARD, r) for r in app.settings.default_roles if r != SYSTEM}
        | {(login, r) for login, roles in app.settings.actors.items() for r in roles if SYSTEM not in (r, login)}
    )
    by = operator(app)
    records: list[LogRecord] = []
    with admin_write(app) as s:
        if store.any_admin(s):
            return []
        for login, role in pairs:
            if store.active_grant(s, login, role, WILDCARD) is not None:
                continue
            data = {**_grant_key(login, role, WILDCARD), "from": "settings"}
            record = admin_record(app, s, by, "admin:grant", data)
            store.insert_grant(
                s,
                login=login,
                role=role,
                municipality=WILDCARD,
                by=by.name,
                at=record_time(record),
                seq=record_seq(record),
            )
            records.append(record)
    for record in records:
        app.sink.emit(record)
    return [dict(r.data) for r in records]


def _grant_key(login: str, role: str, municipality: str) -> dict[str, Any]:
    """``municipality``: the stored code (or ``*``); shown as its name beside the code."""
    return {"login": login, "role": role, "municipality": name_of(municipality), "municipality_code": municipality}


def record_time(record: LogRecord) -> datetime:
    return datetime.fromisoformat(record.at.replace("Z", "+00:00"))


def record_seq(record: LogRecord) -> int:
    assert record.seq is not None  # a stored record always has one
    return record.seq


def oidc_actor(app: App, *, issuer: str, subject: str, login: str, source: str = "api") -> Actor:
    """The principal behind a verified OIDC token: its bound login and that login's grants.

    A login is bound, at its first sign-in, to the (issuer, subject) presenting it
    (logged). From then on grants and four-eyes follow the subject: the same
    subject keeps its login if the provider renames it, and another subject
    presenting that login is refused, so a reassigned display name inherits nothing.
    """
    with app.db.read() as s:
        mine = store.binding_of_subject(s, issuer, subject)
        taken = store.binding_of_login(s, login) if mine is None else None
    if mine is not None:
        name = str(mine["login"])
    elif taken is not None:
        raise NotAuthenticated(problem=f"the login {login!r} is bound to another subject of the identity provider")
    else:
        name = _bind(app, issuer=issuer, subject=subject, login=login, source=source)
    auth = Auth(method="oidc", issuer=issuer, subject=subject)
    with app.db.read() as s:
        held = store.grants_of(s, [name])
    return build_actor(name, held[name] | held[WILDCARD], source=source, auth=auth)


def _bind(app: App, *, issuer: str, subject: str, login: str, source: str) -> str:
    who = Actor(
        name=login,
        roles=frozenset(),
        source=source,
        auth=Auth(method="oidc", issuer=issuer, subject=subject),
        grants=(),
    )
    try:
        with admin_write(app) as s:
            if store.binding_of_login(s, login) is not None or store.binding_of_subject(s, issuer, subject):
                raise _Raced
            record = admin_record(
                app, s, who, "admin:bind_login", {"login": login, "issuer": issuer, "subject": subject}
            )
            store.insert_binding(
                s, login=login, issuer=issuer, subject=subject, at=record_time(record), seq=record_seq(record)
            )
    except (_Raced, sa_exc.IntegrityError):  # another request bound it first: read what it bound
        with app.db.read() as s:
            mine = store.binding_of_subject(s, issuer, subject)
        if mine is None:
            raise NotAuthenticated(problem=f"the login {login!r} is bound to another subject") from None
        return str(mine["login"])
    app.sink.emit(record)
    return login


class _Raced(Exception):
    """A concurrent first sign-in bound the login or subject first."""
