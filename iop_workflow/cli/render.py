"""Human output: short sentences, and rich tables (rich is imported only here, lazily)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

_TEXT: dict[str, tuple[str, str]] = {
    "state": ("Läge", "State"),
    "organisation": ("Organisation", "Organisation"),
    "municipality": ("Kommun", "Municipality"),
    "title": ("Titel", "Title"),
    "challenge": ("Samhällsutmaning", "Societal challenge"),
    "guideline": ("Riktlinje", "Guideline"),
    "none": ("ingen", "none"),
    "version": ("Version", "Version"),
    "officer": ("Handläggare", "Officer"),
    "assigned": ("Tilldelade handläggare", "Assigned officers"),
    "contact": ("Kontaktuppgifter", "Contact details"),
    "period": ("Period", "Period"),
    "opened": ("Öppnat", "Opened"),
    "imported": ("Importerat med historik från", "Imported with its history from"),
    "since": ("sedan", "since"),
    "timers": ("Bevakningar", "Timers"),
    "no_timers": ("Inga öppna bevakningar.", "No open timers."),
    "facts": ("Registrerade uppgifter", "Recorded facts"),
    "no_facts": ("Inga registrerade uppgifter ännu.", "No facts recorded yet."),
    "agreement_in_force": ("gäller", "in force"),
    "superseded": ("ersatt av", "superseded by"),
    "retracted": ("återtagen", "retracted"),
    "retracted_in": ("återtagen i", "retracted in"),
    "next": ("Vad som kan hända härnäst", "What may happen next"),
    "allowed": ("tillåten", "allowed"),
    "blocked": ("blockerad", "blocked"),
    "needs": ("kräver", "needs"),
    "nothing_next": ("Inget: ärendet är avslutat.", "Nothing: the case has ended."),
    "protected": ("skyddad", "protected"),
    "yes": ("ja", "yes"),
    "no": ("nej", "no"),
    "ref": ("Ärende", "Case"),
    "valid_from": ("Gäller från", "Valid from"),
    "valid_until": ("Gäller till och med", "Valid until"),
    "guideline_status": ("Status", "Status"),
    "in_force": ("Gäller nu", "In force"),
    "due": ("Förfaller", "Due"),
    "kind": ("Typ", "Kind"),
    "action": ("Åtgärd", "Action"),
    "when": ("När (UTC)", "When (UTC)"),
    "actor": ("Vem", "Who"),
    "event": ("Händelse", "Event"),
    "change": ("Ändring", "Change"),
    "note": ("Anteckning", "Note"),
    "name": ("Namn", "Name"),
    "org_number": ("Org.nr", "Org. no."),
    "legal_form": ("Juridisk form", "Legal form"),
    "no_cases": ("Inga ärenden.", "No cases."),
    "no_orgs": ("Inga organisationer.", "No organisations."),
    "no_guidelines": ("Inga riktlinjer. Kör `iop init`.", "No guidelines. Run `iop init`."),
    # what loading a guideline did (service/guidelines.load)
    "load_added": ("inläst", "added"),
    "load_updated": ("ny version inläst", "new version loaded"),
    "load_unchanged": ("oförändrad", "unchanged"),
    "load_skipped": ("behålls: en lokalt inläst version gäller", "kept: a locally loaded version is current"),
}


def tr(key: str, lang: str) -> str:
    sv, en = _TEXT[key]
    return en if lang == "en" else sv


def yes_no(value: bool, lang: str) -> str:
    return tr("yes" if value else "no", lang)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """Print a table; cells wrap rather than being cut, so nothing is lost when piped."""
    from rich.console import Console  # noqa: PLC0415 - rich only for commands that print tables
    from rich.table import Table  # noqa: PLC0415

    grid = Table(title=title, show_lines=False, title_justify="left")
    for i, header in enumerate(headers):
        grid.add_column(header, overflow="fold", no_wrap=i == 0)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(soft_wrap=False, width=_width()).print(grid)


def _width() -> int | None:
    import shutil  # noqa: PLC0415

    columns = shutil.get_terminal_size(fallback=(120, 24)).columns
    return max(columns, 100)


def action_text(action: str, lang: str) -> str:
    verb, _, arg = action.partition(":")
    if verb == "fire":
        return f"{'händelse' if lang != 'en' else 'trigger'} {arg}"
    return f"{'larm' if lang != 'en' else 'alert'} {arg}"


def case_summary(case: Mapping[str, Any], lang: str) -> None:
    org = case["organisation"]
    guideline = case.get("guideline")
    protected = f" ({tr('protected', lang)})" if org.get("protected") else ""
    state = case["state_label"] + (f" ({case['end_reason']})" if case.get("end_reason") else "")
    since = f", {tr('since', lang)} {case['state_since']}" if case.get("state_since") else ""
    lines = [
        f"{case['ref']}  {case['title']}",
        f"  {tr('state', lang)}: {state} [{case['state']}]{since}",
        f"  {tr('organisation', lang)}: {org['name']} {org['org_number']}{protected}",
        f"  {tr('municipality', lang)}: {case['municipality']}",
    ]
    contact = [str(org[k]) for k in ("contact_name", "contact_email", "contact_phone", "address") if org.get(k)]
    if contact:
        lines.append(f"  {tr('contact', lang)}: {', '.join(dict.fromkeys(contact))}")
    if case.get("challenge"):
        lines.append(f"  {tr('challenge', lang)}: {case['challenge']}")
    if guideline:
        until = guideline.get("valid_until") or "–"
        until_text = f"{tr('valid_until', lang).lower()} {until}"
        lines.append(f"  {tr('guideline', lang)}: {guideline['ref']} ({until_text})")
    else:
        lines.append(f"  {tr('guideline', lang)}: {tr('none', lang)}")
    extra = [f"{tr('version', lang)} {case['version']}"]
    if case.get("period") is not None:
        extra.append(f"{tr('period', lang).lower()} {case['period']}")
    if case.get("officer"):
        extra.append(f"{tr('officer', lang).lower()} {case['officer']}")
    if case.get("opened_on"):
        extra.append(f"{tr('opened', lang).lower()} {case['opened_on']}")
    lines.append("  " + ", ".join(extra))
    if case.get("assigned_officers"):
        lines.append(f"  {tr('assigned', lang)}: {', '.join(case['assigned_officers'])}")
    if imported := case.get("imported"):
        lines.append(f"  {tr('imported', lang)} {imported['history_from']} (SHA-256 {imported['sha256']})")
    click.echo("\n".join(lines))


def timers_block(timers: Sequence[Mapping[str, Any]], lang: str) -> None:
    click.echo(f"\n{tr('timers', lang)}:")
    if not timers:
        click.echo(f"  {tr('no_timers', lang)}")
    for timer in timers:
        click.echo(f"  {timer['due_on']}  {timer['kind']:<16} {action_text(timer['action'], lang)}")


def options_block(options: Sequence[Mapping[str, Any]], lang: str, *, heading: bool = True) -> None:
    """Each trigger as allowed or blocked, with EVERY reason it is blocked."""
    if heading:
        click.echo(f"\n{tr('next', lang)}:")
    if not options:
        click.echo(f"  {tr('nothing_next', lang)}")
    for opt in options:
        mark = "+" if opt["allowed"] else "-"
        verdict = tr("allowed", lang) if opt["allowed"] else tr("blocked", lang)
        dest = f" -> {opt['to_state']}" if opt.get("to_state") else ""
        label = f" ({opt['label']})" if opt.get("label") else ""
        click.echo(f"  {mark} {opt['trigger']}{label}{dest}: {verdict}")
        needs = [f"{i['option']} {'|'.join(i['choices'])}" if i["choices"] else f"{i['option']} TEXT"
                 for i in opt.get("inputs", ())]  # fmt: skip
        if needs:
            click.echo(f"      {tr('needs', lang)}: {', '.join(needs)}")
        for reason in opt["reasons"]:
            click.echo(f"      - {reason['message']}  [{reason['code']}]")


def fact_details(record: Mapping[str, Any]) -> str:
    """The data of a recorded fact (a ``record:<kind>`` log record) as ``key=value`` text."""
    kind = str(record["trigger"]).removeprefix("record:")
    data = record.get("data") or {}
    body: Any = data.get(kind.replace("-", "_")) or next(iter(data.values()), {})
    if not isinstance(body, Mapping):
        body = {"value": body}
    return ", ".join(f"{k}={v}" for k, v in body.items() if v not in (None, ""))


def facts_block(facts: Sequence[Mapping[str, Any]], lang: str) -> None:
    """The recorded facts of ``case show`` (its ``facts``), corrected values marked with what they replaced,
    retracted facts with who withdrew them, each agreement with whether it is in force."""
    click.echo(f"\n{tr('facts', lang)}:")
    if not facts:
        click.echo(f"  {tr('no_facts', lang)}")
    for fact in facts:
        values = ", ".join(f"{k}={v}" for k, v in fact["values"].items() if v not in (None, ""))
        line = f"  #{fact['entry']:<3} {str(fact['at'])[:10]}  {fact['kind']:<13} {values}  ({fact['actor']})"
        click.echo(line + _status(fact, lang))
        for field, fix in fact.get("corrections", {}).items():
            word = "rättad" if lang != "en" else "corrected"
            who = f"#{fix['entry']}, {fix['by']}: {fix['reason']}"
            click.echo(f"        {field}: {word} {fix['from']} -> {fix['to']} ({who})")
        gone = fact.get("retracted")
        if gone:
            click.echo(f"        {tr('retracted_in', lang)} #{gone['entry']} ({gone['by']}): {gone['reason']}")


def _status(fact: Mapping[str, Any], lang: str) -> str:
    """`` [in force]``, `` [superseded by #N]`` or `` [retracted]`` for an agreement (or a retracted fact)."""
    status = fact.get("status") or ("retracted" if fact.get("retracted") else None)
    if status is None:
        return ""
    if status == "superseded":
        return f"  [{tr('superseded', lang)} #{fact['superseded_by']}]"
    return f"  [{tr('agreement_in_force' if status == 'in_force' else status, lang)}]"


def history_table(records: Sequence[Mapping[str, Any]], lang: str, labels: Mapping[str, str]) -> None:
    def change(r: Mapping[str, Any]) -> str:
        to = labels.get(r["to_state"], r["to_state"])
        if r["from_state"] is None:
            return f"-> {to}"
        if r["from_state"] == r["to_state"]:
            return ""
        return f"{labels.get(r['from_state'], r['from_state'])} -> {to}"

    def note(r: Mapping[str, Any]) -> str:
        if str(r["trigger"]).startswith("record:"):
            return fact_details(r)
        return str(r.get("reason") or "")

    rows = [
        (r["case_seq"], str(r["at"])[:19].replace("T", " "), r["actor"], r["trigger"], change(r), note(r))
        for r in records
    ]
    headers = ["#", tr("when", lang), tr("actor", lang), tr("event", lang), tr("change", lang), tr("note", lang)]
    table(headers, rows)
