"""Human output: short sentences, and rich tables (rich is imported only here, lazily)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import click

from iop_workflow import formats
from iop_workflow.glossary import entries, inline, label, record_label

_TEXT: dict[str, tuple[str, str]] = {
    "state": ("Status", "State"),
    "organisation": ("Organisation", "Organisation"),
    "municipality": ("Kommun", "Municipality"),
    "title": ("Titel", "Title"),
    "challenge": ("Samhällsutmaning", "Societal challenge"),
    "guideline": ("Riktlinje", "Guideline"),
    "none": ("ingen", "none"),
    "version": ("Ärendeversion", "Version"),
    "officer": ("Handläggare", "Officer"),
    "assigned": ("Tilldelade handläggare", "Assigned officers"),
    "contact": ("Kontaktuppgifter", "Contact details"),
    "period": ("Avtalsperiod", "Period"),
    "opened": ("Registrerat", "Opened"),
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
    "next": ("Möjliga åtgärder", "What may happen next"),
    "allowed": ("möjlig", "allowed"),
    "blocked": ("inte möjlig", "blocked"),
    "needs": ("kräver", "needs"),
    "nothing_next": ("Inget: ärendet är avslutat.", "Nothing: the case has ended."),
    "protected": ("skyddad", "protected"),
    "yes": ("ja", "yes"),
    "no": ("nej", "no"),
    "ref": ("Ärende", "Case"),
    "until_further": ("gäller tills vidare", "valid until –"),
    "valid_from": ("Gäller från", "Valid from"),
    "valid_until": ("Gäller till och med", "Valid until"),
    "guideline_status": ("Status", "Status"),
    "in_force": ("Gäller nu", "In force"),
    "due": ("Förfaller", "Due"),
    "kind": ("Typ", "Kind"),
    "action": ("Åtgärd", "Action"),
    "when": ("Tidpunkt (svensk tid)", "When (UTC)"),
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


def state_text(case: Mapping[str, Any], lang: str) -> str:
    """A case's state label and, once ended, why: ``Avslutat (återkallat av organisationen)``."""
    reason = case.get("end_reason")
    if not reason:
        return str(case["state_label"])
    return f"{case['state_label']} ({reason if lang == 'en' else label('end_reason', reason, lang).lower()})"


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
    if lang == "en":
        return f"{'trigger' if verb == 'fire' else 'alert'} {arg}"
    if verb == "fire":
        return f"händelse: {label('trigger', arg, lang)}"
    return f"påminnelse: {label('alert', arg, lang)}"


def deadline_kind(kind: str, lang: str) -> str:
    """A timer's or an alert's kind as people read it (the code in English)."""
    if lang == "en":
        return kind
    return label("timer", kind, lang) if kind in entries()["timer"] else label("alert", kind, lang)


def outcome_text(outcome: str, lang: str) -> str:
    """What the scheduler did with a due item (``fired``, ``refused: …``) in ``lang``."""
    word, sep, rest = outcome.partition(":")
    return outcome if lang == "en" else label("outcome", word, lang) + sep + rest


def fact_values(values: Mapping[str, Any], lang: str) -> str:
    """A fact's values as people read them: ``key=value`` in English; in Swedish each field by its
    label, codes (party, kind, verdict, state aid basis) by theirs, amounts and dates formatted."""
    shown = {k: v for k, v in values.items() if v not in (None, "")}
    if lang == "en":
        return ", ".join(f"{k}={v}" for k, v in shown.items())
    parts = []
    for key, value in shown.items():
        if key == "unit" and "amount" in shown:
            continue
        section = "criterion_kind" if key == "kind" and "criterion" in shown else _CODED.get(key)
        parts.append(f"{label('field', key, lang)}: {_value_sv(key, value, shown, section)}")
    return "; ".join(parts)


_CODED = {"party": "party", "kind": "contribution_kind", "verdict": "verdict", "state_aid_basis": "state_aid_basis"}


def _value_sv(key: str, value: Any, values: Mapping[str, Any], section: str | None) -> str:
    if isinstance(value, bool) or value in ("True", "False", "true", "false"):
        return yes_no(str(value).lower() == "true", "sv")
    if key == "criterion":  # a guideline's code, as `iop case assess` takes it
        return f"`{value}`"
    if section is not None:
        return inline(label(section, str(value), "sv"))
    if key in ("amount", "state_aid_amount_sek"):
        return formats.amount(value, str(values.get("unit") or "SEK"), "sv")
    return str(value)


def case_summary(case: Mapping[str, Any], lang: str) -> None:
    org = case["organisation"]
    guideline = case.get("guideline")
    protected = f" ({tr('protected', lang)})" if org.get("protected") else ""
    state = state_text(case, lang)
    code = f" [{case['state']}]" if lang == "en" else ""
    since = f", {tr('since', lang)} {case['state_since']}" if case.get("state_since") else ""
    lines = [
        f"{case['ref']}  {case['title']}",
        f"  {tr('state', lang)}: {state}{code}{since}",
        f"  {tr('organisation', lang)}: {org['name']} {org['org_number']}{protected}",
        f"  {tr('municipality', lang)}: {case['municipality']}",
    ]
    contact = [str(org[k]) for k in ("contact_name", "contact_email", "contact_phone", "address") if org.get(k)]
    if contact:
        lines.append(f"  {tr('contact', lang)}: {', '.join(dict.fromkeys(contact))}")
    if case.get("challenge"):
        lines.append(f"  {tr('challenge', lang)}: {case['challenge']}")
    if guideline:
        until = guideline.get("valid_until")
        until_text = f"{tr('valid_until', lang).lower()} {until}" if until else tr("until_further", lang)
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
        kind = deadline_kind(timer["kind"], lang)
        click.echo(f"  {timer['due_on']}  {kind:<16} {action_text(timer['action'], lang)}")


def options_block(options: Sequence[Mapping[str, Any]], lang: str, *, heading: bool = True) -> None:
    """Each trigger as allowed or blocked, with EVERY reason it is blocked."""
    if heading:
        click.echo(f"\n{tr('next', lang)}:")
    if not options:
        click.echo(f"  {tr('nothing_next', lang)}")
    for opt in options:
        mark = "+" if opt["allowed"] else "-"
        verdict = tr("allowed", lang) if opt["allowed"] else tr("blocked", lang)
        if lang == "en":
            dest = f" -> {opt['to_state']}" if opt.get("to_state") else ""
            named = f" ({opt['label']})" if opt.get("label") else ""
            click.echo(f"  {mark} {opt['trigger']}{named}{dest}: {verdict}")
        else:  # the trigger as the command that fires it
            dest = f" -> {label('state', opt['to_state'], lang)}" if opt.get("to_state") else ""
            named = opt.get("label") or opt["trigger"]
            click.echo(f"  {mark} {named}{dest} (`iop case fire REF {opt['trigger']}`): {verdict}")
        needs = [
            f"{i['option']} {'|'.join(i['choices'])}" if i["choices"] else f"{i['option']} TEXT"
            for i in opt.get("inputs", ())
        ]
        if needs:
            shown = ", ".join(needs) if lang == "en" else ", ".join(f"`{n}`" for n in needs)
            click.echo(f"      {tr('needs', lang)}: {shown}")
        for reason in opt["reasons"]:
            code = f"  [{reason['code']}]" if lang == "en" else ""
            click.echo(f"      - {reason['message']}{code}")


def fact_details(record: Mapping[str, Any], lang: str = "en") -> str:
    """The data of a recorded fact (a ``record:<kind>`` log record) as text (see :func:`fact_values`)."""
    kind = str(record["trigger"]).removeprefix("record:")
    data = record.get("data") or {}
    body: Any = data.get(kind.replace("-", "_")) or next(iter(data.values()), {})
    if not isinstance(body, Mapping):
        body = {"value": body}
    return fact_values(body, lang)


def facts_block(facts: Sequence[Mapping[str, Any]], lang: str) -> None:
    """The recorded facts of ``case show`` (its ``facts``), corrected values marked with what they replaced,
    retracted facts with who withdrew them, each agreement with whether it is in force."""
    click.echo(f"\n{tr('facts', lang)}:")
    if not facts:
        click.echo(f"  {tr('no_facts', lang)}")
    for fact in facts:
        values = fact_values(fact["values"], lang)
        kind = fact["kind"] if lang == "en" else label("fact_kind", fact["kind"], lang)
        line = f"  #{fact['entry']:<3} {str(fact['at'])[:10]}  {kind:<13} {values}  ({fact['actor']})"
        click.echo(line + _status(fact, lang))
        for field, fix in fact.get("corrections", {}).items():
            word = "rättad" if lang != "en" else "corrected"
            who = f"#{fix['entry']}, {fix['by']}: {fix['reason']}"
            name = field if lang == "en" else label("field", field, lang)
            click.echo(f"        {name}: {word} {fix['from']} -> {fix['to']} ({who})")
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


def history_table(
    records: Sequence[Mapping[str, Any]], lang: str, labels: Mapping[str, str], tz: ZoneInfo = formats.STOCKHOLM
) -> None:
    """The log of a case: UTC as stored in English, local time (``tz``) and labels in Swedish."""

    def change(r: Mapping[str, Any]) -> str:
        to = labels.get(r["to_state"], r["to_state"])
        if r["from_state"] is None:
            return f"-> {to}"
        if r["from_state"] == r["to_state"]:
            return ""
        return f"{labels.get(r['from_state'], r['from_state'])} -> {to}"

    def note(r: Mapping[str, Any]) -> str:
        if str(r["trigger"]).startswith("record:"):
            return fact_details(r, lang)
        return str(r.get("reason") or "")

    def when(r: Mapping[str, Any]) -> str:
        return str(r["at"])[:19].replace("T", " ") if lang == "en" else formats.local_time(r["at"], tz)

    def event(r: Mapping[str, Any]) -> str:
        return str(r["trigger"]) if lang == "en" else record_label(str(r["trigger"]), lang)

    rows = [(r["case_seq"], when(r), r["actor"], event(r), change(r), note(r)) for r in records]
    headers = ["#", tr("when", lang), tr("actor", lang), tr("event", lang), tr("change", lang), tr("note", lang)]
    table(headers, rows)
