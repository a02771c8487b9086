"""``iop role grant|revoke|list|bootstrap`` and ``iop token create|list|revoke``: administration, logged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from iop_workflow.cli.context import State, emit_json, pass_state


@click.group()
def role() -> None:
    """Role grants (admin): data in the database, each change a record of the administration chain."""


@role.command("grant")
@click.argument("login")
@click.argument("role_name", metavar="ROLE")
@click.option("--municipality", metavar="M", help="Only in this municipality (default: everywhere).")
@pass_state
def role_grant(state: State, /, *, login: str, role_name: str, municipality: str | None) -> None:
    """Grant ROLE to LOGIN (LOGIN '*': every login)."""
    result = state.iop.grant(login, role_name, municipality=municipality, actor=state.actor)
    _done(state, result, ("Rollen gavs", "Granted"), ("Rollen fanns redan", "Already granted"))


@role.command("revoke")
@click.argument("login")
@click.argument("role_name", metavar="ROLE")
@click.option("--municipality", metavar="M", help="The municipality the grant was limited to.")
@pass_state
def role_revoke(state: State, /, *, login: str, role_name: str, municipality: str | None) -> None:
    """Take ROLE back from LOGIN."""
    result = state.iop.revoke(login, role_name, municipality=municipality, actor=state.actor)
    _done(state, result, ("Rollen togs tillbaka", "Revoked"), ("", ""))


@role.command("list")
@click.argument("login", required=False)
@pass_state
def role_list(state: State, /, *, login: str | None) -> None:
    """Active grants (of LOGIN, or everybody's)."""
    rows = state.iop.grants(login)
    if state.json:
        emit_json(rows)
        return
    if not rows:
        click.echo(state.say("Inga roller är givna.", "No roles are granted."))
    for r in rows:
        place = state.say("överallt", "everywhere") if r["municipality"] == "*" else r["municipality"]
        click.echo(f"{r['login']}\t{r['role']}\t{place}\t{r['granted_by']}\t{r['granted_at']:%Y-%m-%d}")


@role.command("bootstrap")
@click.option("--admin", "admin", metavar="LOGIN", help="Who becomes admin (default: your OS login).")
@pass_state
def role_bootstrap(state: State, /, *, admin: str | None) -> None:
    """Make LOGIN admin, registrar, officer and coordinator (local mode: whoever holds the database). Logged."""
    result = state.iop.bootstrap(admin=admin)
    if state.json:
        emit_json(result)
        return
    roles = ", ".join(result["roles"]) or state.say("(hade dem redan)", "(had them already)")
    click.echo(state.say(f"{result['login']} är administratör: {roles}", f"{result['login']} is admin: {roles}"))


def _done(state: State, result: Mapping[str, Any], done: tuple[str, str], same: tuple[str, str]) -> None:
    if state.json:
        emit_json(result)
        return
    place = result["municipality"] if result["municipality"] != "*" else state.say("överallt", "everywhere")
    what = state.say(*done) if result["changed"] else state.say(*same)
    click.echo(f"{what}: {result['login']} {result['role']} ({place})")


@click.group()
def token() -> None:
    """API tokens for systems (admin); the token is shown once, only its hash is kept."""


@token.command("create")
@click.option("--name", required=True, help="The token's name; it acts as token:NAME.")
@click.option("--roles", required=True, metavar="R,R", help="Comma-separated roles the token holds.")
@click.option("--municipality", "municipalities", multiple=True, metavar="M", help="Limit to M (repeatable).")
@click.option("--expires", metavar="YYYY-MM-DD", help="Last day the token is valid.")
@pass_state
def token_create(
    state: State, /, *, name: str, roles: str, municipalities: tuple[str, ...], expires: str | None
) -> None:
    """Create a token and print it once."""
    result = state.iop.create_token(
        name=name,
        roles=[r.strip() for r in roles.split(",") if r.strip()],
        municipalities=list(municipalities),
        expires=expires,
        actor=state.actor,
    )
    if state.json:
        emit_json(result)
        return
    click.echo(result["token"])
    click.echo(
        state.say(
            "Nyckeln visas bara nu: spara den på ett säkert ställe.", "The token is shown only now: store it safely."
        ),
        err=True,
    )


@token.command("list")
@pass_state
def token_list(state: State) -> None:
    """Every token: id, name, roles, expiry, revoked, last use (never the token)."""
    rows = state.iop.tokens()
    if state.json:
        emit_json(rows)
        return
    for r in rows:
        status = state.say("återkallad", "revoked") if r["revoked"] else state.say("aktiv", "active")
        click.echo(
            f"{r['id']}\t{r['name']}\t{','.join(r['roles'])}\t{r['expires'] or '-'}\t{status}\t{r['last_used'] or '-'}"
        )


@token.command("revoke")
@click.argument("token_id", metavar="ID")
@pass_state
def token_revoke(state: State, /, *, token_id: str) -> None:
    """Revoke token ID: refused at once from then on."""
    result = state.iop.revoke_token(token_id, actor=state.actor)
    if state.json:
        emit_json(result)
        return
    click.echo(
        state.say(
            f"Nyckel {result['id']} ({result['name']}) är återkallad.",
            f"Token {result['id']} ({result['name']}) is revoked.",
        )
    )
