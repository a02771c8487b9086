"""``iop demo``: sample cases from the seed municipalities, walked through the life cycle.

Runs on a fresh database of its own (``demo.db`` in the data directory, recreated
each run) or on an EMPTY database named by ``--db``; never on the configured
working database. Its database is simulated (``iop init --simulation``): the stored
clock starts in October 2023 and moves forward as the cases do, as ``iop scheduler
tick --at`` moves it; timers due on a date are fired as the scheduler would (actor
``system``). Each case is a generator that yields the next date it acts on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from iop_workflow.cli.context import State, emit_json, pass_state
from iop_workflow.cli.demo_walks import COORDINATOR, DEMO_ROLES, OFFICER, Demo, run_walks
from iop_workflow.cli.render import state_text
from iop_workflow.errors import EXIT_INTEGRITY, InvalidInput
from iop_workflow.glossary import inline, label

if TYPE_CHECKING:
    from iop_workflow.api import Iop
    from iop_workflow.settings import Settings


ORGS: tuple[dict[str, Any], ...] = (
    {
        "name": "Kvinnojouren i Stenungsund",
        "org_number": "802479-1322",
        "legal_form": "ideell_forening",
        "protected": True,
        "address": "Skyddad adress",
        "contact_email": "kontakt@example.org",
    },
    {
        "name": "Svenska kyrkan, Stenungsunds församling (Pelikanen)",
        "org_number": "252002-3348",
        "legal_form": "trossamfund",
    },
    {"name": "Hela Människan Jönköping", "org_number": "802014-5671", "legal_form": "ideell_forening"},
    {"name": "Läxhjälpen i Kungälv", "org_number": "802500-1119", "legal_form": "ideell_forening"},
    {"name": "Föreningen Fritid i Mark", "org_number": "802010-0908", "legal_form": "ideell_forening"},
    {"name": "Vinst & Co AB", "org_number": "556036-0793", "legal_form": "aktiebolag", "non_profit": False},
)


START = date(2023, 10, 2)  # the simulated clock's first day


def demo_db_path() -> Path:
    import platformdirs  # noqa: PLC0415

    return Path(platformdirs.user_data_dir("iop-workflow", appauthor=False)) / "demo.db"


def _same_database(a: str, b: str) -> bool:
    from iop_workflow.store.engine import normalise_url  # noqa: PLC0415

    a, b = normalise_url(a), normalise_url(b)
    prefix = "sqlite:///"
    if a.startswith(prefix) and b.startswith(prefix):
        return Path(a[len(prefix) :]).expanduser().resolve() == Path(b[len(prefix) :]).expanduser().resolve()
    return a == b


def _target(state: State) -> tuple[str, Path | None]:
    """The demo's database URL and its audit file; the default demo file is removed first."""
    from iop_workflow.api import resolve_url  # noqa: PLC0415

    if state.db is None:
        path = demo_db_path()
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        path.with_suffix(".audit.jsonl").unlink(missing_ok=True)
        return f"sqlite:///{path}", path.with_suffix(".audit.jsonl")
    if _same_database(state.db, resolve_url(None, state.settings)):
        raise InvalidInput(
            field="--db",
            value=state.db,
            problem_sv="det är den konfigurerade arbetsdatabasen; demon skriver aldrig i den",
            problem_en="it is the configured working database; the demo never writes into it",
        )
    if state.db.startswith("sqlite:///") and not state.db.endswith(":memory:"):
        return state.db, Path(state.db[len("sqlite:///") :]).expanduser().with_suffix(".audit.jsonl")
    return state.db, None


def _refuse_if_used(iop: Iop, url: str) -> None:
    from iop_workflow.store.migrate import current_revision  # noqa: PLC0415

    if current_revision(iop.app.db) is None:
        return
    cases, orgs = len(iop.cases()), len(iop.organisations())
    if cases or orgs:
        raise InvalidInput(
            field="--db",
            value=url,
            problem_sv=f"databasen innehåller redan {cases} ärenden och {orgs} organisationer; "
            "demon behöver en tom databas (utelämna --db för demons egen fil)",
            problem_en=f"the database already holds {cases} case(s) and {orgs} organisation(s); "
            "the demo needs an empty one (leave out --db for its own file)",
        )


def _settings(base: Settings) -> Settings:
    return dataclasses.replace(base, actors={**base.actors, **DEMO_ROLES}, audit_log="")


@click.command()
@pass_state
def demo(state: State) -> None:
    """Walk sample cases through the whole life cycle (own database)."""
    from iop_workflow.api import Iop  # noqa: PLC0415

    url, audit_file = _target(state)
    settings = _settings(state.settings)
    iop = Iop.connect(url, settings=settings, audit_log=audit_file or False, source="cli")
    state._closers.append(iop.close)
    if state.db is not None:
        _refuse_if_used(iop, url)
    init = iop.init(simulation=True, start=START)
    if not state.json:
        click.echo(state.say(f"Demodatabas: {url}", f"Demo database: {url}"))
        click.echo(
            state.say(
                f"Riktlinjer inlästa: {', '.join(init['guidelines'])}",
                f"Guidelines loaded: {', '.join(init['guidelines'])}",
            )
        )
        held: dict[str, list[str]] = {}
        for g in init["grants_imported"]:
            held.setdefault(g["login"], []).append(g["role"])
        named = {
            login: sorted(roles if state.lang == "en" else (inline(label("role", r, "sv")) for r in roles))
            for login, roles in held.items()
        }
        people = "; ".join(f"{login} {', '.join(roles)}" for login, roles in sorted(named.items()))
        click.echo(
            state.say(
                f"Roller givna i demodatabasen (loggade): {people}",
                f"Roles granted in the demo database (logged): {people}",
            )
        )
    _confirm_guidelines(iop, state)
    for fields in ORGS:
        iop.add_organisation(actor=OFFICER, **fields)
    d = Demo(iop, state)
    run_walks(d)
    report = iop.verify().as_dict()
    cases = iop.cases(lang=state.lang)
    if state.json:
        emit_json({"database": url, "steps": d.steps, "cases": cases, "audit": report})
    else:
        _summary(state, url, cases, report)
    if not report["ok"]:
        raise click.exceptions.Exit(EXIT_INTEGRITY)


# The shipped Stenungsund, Mark and Jönköping guidelines give no decision: the demo's coordinator
# confirms each inside the demo database, with fictitious minutes, so that its cases can be signed.
_DECISION = {"decided_on": "2023-06-12", "decided_by": "Kommunstyrelsen", "minutes_ref": "KS § 99/2023 (demo)"}
DEMO_DECISIONS = {ref: _DECISION for ref in ("Jönköping-IOP", "Marks-IOP", "Stenungsund-IOP")}


def _confirm_guidelines(iop: Iop, state: State) -> None:
    for ref, decision in DEMO_DECISIONS.items():
        done = iop.confirm_guideline(ref, actor=COORDINATOR, **decision)
        if not state.json:
            what = f"{decision['decided_by']} {decision['minutes_ref']}, {decision['decided_on']}"
            click.echo(
                state.say(
                    f"{COORDINATOR} bekräftar riktlinjen {ref} i demodatabasen (påhittat beslut: {what}), "
                    f"post {done['seq']}",
                    f"{COORDINATOR} confirms guideline {ref} in the demo database (fictitious decision: {what}), "
                    f"record {done['seq']}",
                )
            )


def _summary(state: State, url: str, cases: Sequence[Mapping[str, Any]], report: Mapping[str, Any]) -> None:
    click.echo("\n" + state.say("Ärendena nu:", "The cases now:"))
    shown = [state_text(c, state.lang) for c in cases]
    width = max((len(s) for s in shown), default=0)
    for c, text in zip(cases, shown, strict=True):
        click.echo(f"  {c['ref']}  {text:<{width}} {c['municipality']:<12} {c['organisation']['name']}")
    verdict = state.say("intakt", "intact") if report["ok"] else state.say("INTE intakt", "NOT intact")
    click.echo(
        "\n"
        + state.say(
            f"audit verify: granskningsloggen är {verdict}: {report['cases']} ärenden, {report['records']} poster.",
            f"audit verify: the audit log is {verdict}: {report['cases']} cases, {report['records']} records.",
        )
    )
    click.echo(
        state.say(
            f"Utforska: iop --db {url} case show {cases[0]['ref']}",
            f"Explore: iop --db {url} case show {cases[0]['ref']}",
        )
    )
