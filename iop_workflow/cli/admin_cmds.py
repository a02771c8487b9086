"""Set-up and audit commands: ``init``, ``guideline``, ``org``, ``audit``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from iop_workflow import formats
from iop_workflow.cli.context import State, emit_json, pass_state
from iop_workflow.cli.render import table, tr, yes_no
from iop_workflow.domain.values import LegalForm
from iop_workflow.glossary import label


@click.command()
@click.option("--admin", "admin", metavar="LOGIN", help="Who becomes admin of a database without one (default: you).")
@click.option(
    "--simulation",
    is_flag=True,
    help="A new database with a simulated clock (stored in it; `scheduler tick --at` moves it).",
)
@click.option(
    "--start", "start", metavar="YYYY-MM-DD", help="With --simulation: the clock's first date (default: today)."
)
@pass_state
def init(state: State, /, *, admin: str | None, simulation: bool, start: str | None) -> None:
    """Create/upgrade the schema; load the shipped guidelines; bootstrap the first admin."""
    result = state.iop.init(admin=admin, simulation=simulation, start=start)
    if state.json:
        emit_json(result)
        return
    click.echo(
        state.say(f"Databasschemat är på version {result['schema']}.", f"Schema at revision {result['schema']}.")
    )
    if result["clock"] == "simulated":
        today = result["today"]
        hint = "`iop scheduler tick --at`"
        click.echo(
            state.say(
                f"Klockan är simulerad: i dag är {today} ({hint} flyttar den).",
                f"The clock is simulated: today is {today} ({hint} moves it).",
            )
        )
    for ref, outcome in result["guidelines"].items():
        click.echo(f"  {ref}: {tr('load_' + outcome, state.lang)}")
    for name in result["guidelines_recorded"]:
        click.echo(
            state.say(
                f"  {name}: inläst före schema 0005, nu loggad som den ser ut i dag",
                f"  {name}: loaded before schema 0005, now logged as it stands",
            )
        )
    for g in result["grants_imported"]:
        click.echo(
            state.say(
                f"Roll från inställningarna, nu loggad: {g['login']} {g['role']}",
                f"Role from the settings, now a logged grant: {g['login']} {g['role']}",
            )
        )
    boot = result["bootstrap"]
    if boot["bootstrapped"]:
        roles = ", ".join(boot["roles"])
        click.echo(
            state.say(
                f"{boot['login']} är administratör ({roles}); se `iop role grant`.",
                f"{boot['login']} is admin ({roles}); see `iop role grant`.",
            )
        )


# -- guidelines -----------------------------------------------------------------
@click.group()
def guideline() -> None:
    """Municipal IOP guidelines (dated data)."""


@guideline.command("list")
@pass_state
def guideline_list(state: State) -> None:
    """Every guideline in the database, and whether it is in force today."""
    rows = state.iop.guideline_dicts()
    if state.json:
        emit_json(rows)
        return
    if not rows:
        click.echo(tr("no_guidelines", state.lang))
        return
    lang = state.lang
    headers = [
        state.say("Beteckning", "Ref"),
        tr("municipality", lang),
        tr("title", lang),
        tr("guideline_status", lang),
        tr("valid_from", lang),
        tr("valid_until", lang),
        tr("in_force", lang),
    ]
    table(
        headers,
        [
            (
                g["ref"],
                g["municipality"],
                g["title"],
                status_label(g["status"], lang),
                g["valid_from"] or unknown(lang),
                g["valid_until"] or state.say("tills vidare", "–"),
                yes_no(g["in_force"], lang),
            )
            for g in rows
        ],
    )


@guideline.command("show")
@click.argument("ref")
@pass_state
def guideline_show(state: State, /, *, ref: str) -> None:
    """A guideline with its criteria."""
    found = state.iop.guideline_dicts(criteria=True, ref=ref)[0]  # NotFound (exit 4) names the ref
    if state.json:
        emit_json(found)
        return
    lang = state.lang
    click.echo(f"{found['ref']}  {found['title']} ({found['municipality']})")
    unk = unknown(lang)
    decided = f"{found['decided_on'] or unk}: {found['decided_by'] or unk} {found['minutes_ref'] or ''}".rstrip()
    click.echo(f"  {tr('guideline_status', lang)}: {status_label(found['status'], lang)}")
    click.echo(f"  {state.say('Beslutad', 'Decided')} {decided}")
    version, by, at = found["version"], found["loaded_by"], found["loaded_at"]
    click.echo(
        state.say(
            f"  Riktlinjeversion {version}, inläst av {by} {formats.local_time(at, state.settings.tz)}",
            f"  Version {version}, loaded by {by} {at}",
        )
    )
    until = (
        f"{tr('valid_until', lang).lower()} {found['valid_until']}"
        if found["valid_until"]
        else state.say("gäller tills vidare", f"{tr('valid_until', lang).lower()} –")
    )
    click.echo(
        f"  {tr('valid_from', lang)} {found['valid_from'] or unk}, "
        f"{until}; "
        f"{tr('in_force', lang).lower()}: {yes_no(found['in_force'], lang)}"
    )
    if found["guideline_review_months"]:
        months = found["guideline_review_months"]
        click.echo(
            state.say(
                f"  Riktlinjen följs upp var {months}:e månad", f"  The guideline is reviewed every {months} months"
            )
        )
    click.echo(f"  {state.say('Dokumentansvarig', 'Owner')}: {found['owner']}")
    for name, p in found["provenance"].items():
        mark = state.say("bekräftat", "verified") if p["verified"] else state.say("ej bekräftat", "not verified")
        quote = f" «{p['quote']}»" if p["quote"] else ""
        click.echo(f"    {field_label(name, lang)} [{mark}]: {p['source']}{quote}")
    table(
        [state.say("Kriterium", "Criterion"), tr("kind", lang), state.say("Text", "Text")],
        [
            (
                c["code"] if lang == "en" else f"`{c['code']}`",
                c["kind"] if lang == "en" else label("criterion_kind", c["kind"], lang),
                (c["text_en"] if lang == "en" else "") or c["text_sv"],
            )
            for c in found["criteria"]
        ],
    )


@guideline.command("confirm")
@click.argument("ref")
@click.option("--decided-on", required=True, metavar="YYYY-MM-DD", help="The decision's date, as in the minutes.")
@click.option("--decided-by", required=True, metavar="BODY", help="The deciding body (kommunstyrelsen, a nämnd).")
@click.option("--minutes-ref", required=True, metavar="REF", help="The minutes paragraph, e.g. 'KS § 227/2017'.")
@click.option("--valid-from", metavar="YYYY-MM-DD", help="In force from (default: the decision date).")
@click.option("--valid-until", metavar="YYYY-MM-DD", help="In force until and including (default: unchanged).")
@pass_state
def guideline_confirm(
    state: State,
    /,
    *,
    ref: str,
    decided_on: str,
    decided_by: str,
    minutes_ref: str,
    valid_from: str | None,
    valid_until: str | None,
) -> None:
    """Confirm a guideline's decision against its minutes (role coordinator): a logged record."""
    result = state.iop.confirm_guideline(
        ref,
        decided_on=decided_on,
        decided_by=decided_by,
        minutes_ref=minutes_ref,
        valid_from=valid_from,
        valid_until=valid_until,
        actor=state.actor,
    )
    if state.json:
        emit_json(result)
        return
    lang = state.lang
    what = f"{decided_by} {minutes_ref}, {decided_on}"
    click.echo(
        state.say(
            f"{ref}: beslutet bekräftat ({what}), post {result['seq']}",
            f"{ref}: decision confirmed ({what}), record {result['seq']}",
        )
    )
    left = ", ".join(field_label(name, lang) for name in result["unverified"])
    if left:
        click.echo(state.say(f"  Fortfarande obekräftat: {left}", f"  Still not verified: {left}"))
    click.echo(f"  {tr('in_force', lang).lower()}: {yes_no(result['in_force'], lang)}")


def status_label(status: str, lang: str) -> str:
    return status if lang == "en" else label("guideline_status", status, lang)


def field_label(name: str, lang: str) -> str:
    return name if lang == "en" else label("field", name, lang)


def unknown(lang: str) -> str:
    return "unknown" if lang == "en" else "okänt"


@guideline.command("load")
@click.argument("file", metavar="FILE")
@pass_state
def guideline_load(state: State, /, *, file: str) -> None:
    """Load (add or update) a guideline from a TOML file."""
    result = state.iop.load_guideline_file(Path(file), actor=state.actor)
    if state.json:
        emit_json(result)
        return
    for ref, outcome in result.items():
        click.echo(f"{ref}: {tr('load_' + outcome, state.lang)}")


# -- organisations --------------------------------------------------------------
@click.group()
def org() -> None:
    """Organisations (idea-based, or refused)."""


@org.command("add")
@click.option("--name", required=True)
@click.option("--org-number", required=True, metavar="NNNNNN-NNNN")
@click.option("--legal-form", required=True, type=click.Choice([f.value for f in LegalForm]))
@click.option("--protected", is_flag=True, help="Mask contact and address in every export (e.g. a women's shelter).")
@click.option("--profit-motive", is_flag=True, help="The organisation has a profit motive (an IOP is then refused).")
@click.option("--contact-name")
@click.option("--contact-email")
@click.option("--contact-phone")
@click.option("--address")
@pass_state
def org_add(state: State, /, *, profit_motive: bool, **fields: Any) -> None:
    """Register an organisation; its organisation number is checked."""
    added = state.iop.add_organisation(actor=state.actor, non_profit=not profit_motive, **fields)
    if state.json:
        emit_json(added)
        return
    click.echo(
        state.say(
            f"Registrerad: {added['name']} ({added['org_number']}).",
            f"Registered: {added['name']} ({added['org_number']}).",
        )
    )


@org.command("registration")
@click.argument("org_number", metavar="ORGNR")
@click.option(
    "--registered-on",
    required=True,
    metavar="YYYY-MM-DD",
    help="The day Kammarkollegiet registered it under Lag (2022:900).",
)
@click.option("--removed-on", metavar="YYYY-MM-DD", help="The day it was removed from the register, if it was.")
@pass_state
def org_registration(state: State, /, *, org_number: str, registered_on: str, removed_on: str | None) -> None:
    """Record the organisation's registration as idea-based (Lag 2022:900); role registrar, logged."""
    found = state.iop.record_registration(
        org_number, registered_on=registered_on, removed_on=removed_on, actor=state.actor
    )
    if state.json:
        emit_json(found)
        return
    until = found["idea_based_removed_on"]
    click.echo(
        state.say(
            f"{found['name']} ({found['org_number']}): registrerad som idéburen organisation (lag 2022:900) "
            f"{found['idea_based_registered_on']}" + (f", avregistrerad {until}." if until else "."),
            f"{found['name']} ({found['org_number']}): registered as an idea-based organisation (Act 2022:900) "
            f"on {found['idea_based_registered_on']}" + (f", removed on {until}." if until else "."),
        )
    )


@org.command("list")
@pass_state
def org_list(state: State) -> None:
    """Every registered organisation (protected contact data masked)."""
    rows = state.iop.organisations()
    if state.json:
        emit_json(rows)
        return
    if not rows:
        click.echo(tr("no_orgs", state.lang))
        return
    lang = state.lang
    table(
        [tr("name", lang), tr("org_number", lang), tr("legal_form", lang), tr("protected", lang).capitalize()],
        [
            (
                o["name"],
                o["org_number"],
                o["legal_form"] if lang == "en" else label("legal_form", o["legal_form"], lang),
                yes_no(o["protected"], lang),
            )
            for o in rows
        ],
    )


@org.command("show")
@click.argument("org_number", metavar="ORGNR")
@pass_state
def org_show(state: State, /, *, org_number: str) -> None:
    """One organisation; a protected one's contact data only with a need to know (logged)."""
    found = state.iop.organisation(org_number, actor=state.actor)
    if state.json:
        emit_json(found)
        return
    for key, value in found.items():
        if state.lang == "en":
            click.echo(f"{key}: {'' if value is None else value}")
        else:  # each field by its label, the legal form and yes/no in words
            shown = (
                label("legal_form", str(value), "sv")
                if key == "legal_form"
                else yes_no(value, "sv")
                if isinstance(value, bool)
                else ""
                if value is None
                else value
            )
            click.echo(f"{label('field', key, 'sv')}: {shown}")
