"""Rendering report rows as Markdown or CSV (pure: rows in, text out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iop_workflow.csvsafe import csv_line

Column = tuple[str, str, str]  # (key, Swedish heading, English heading)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def markdown_table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], lang: str) -> str:
    heads = [en if lang == "en" else sv for _, sv, en in columns]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in rows:
        cells = [_cell(row.get(key)).replace("|", "\\|").replace("\n", " ") for key, _, _ in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> str:
    """Every cell safe for a spreadsheet (iop_workflow.csvsafe)."""
    lines = [csv_line(key for key, _, _ in columns)]
    lines += [csv_line(row.get(key) for key, _, _ in columns) for row in rows]
    return "".join(lines)


REGISTER_COLUMNS: tuple[Column, ...] = (
    ("municipality", "Kommun", "Municipality"),
    ("municipality_code", "Kommunkod", "Municipality code"),
    ("organisation", "Organisation", "Organisation"),
    ("org_number", "Org.nr", "Org. no."),
    ("title", "Verksamhet", "Activity"),
    ("committee", "Ansvarig nämnd", "Responsible committee"),
    ("unit", "Förvaltning", "Unit"),
    ("start_on", "Från", "From"),
    ("end_on", "Till", "To"),
    ("municipal_money_sek", "Kommunens insats (kr)", "Municipal contribution (SEK)"),
    ("state", "Läge", "State"),
    ("idea_based_registered_on", "Registrerad idéburen (2022:900)", "Registered idea-based (2022:900)"),
    ("idea_based_removed_on", "Avregistrerad", "Removed from the register"),
    ("contact_name", "Kontaktperson", "Contact"),
    ("contact_email", "E-post", "E-mail"),
    ("contact_phone", "Telefon", "Phone"),
    ("address", "Adress", "Address"),
    ("ref", "Ärende", "Case"),
)


def register_markdown(rows: Sequence[Mapping[str, Any]], lang: str) -> str:
    title = "Förteckning över idéburna offentliga partnerskap"
    if lang == "en":
        title = "Public register of IOP partnerships"
    if not rows:
        empty = "No partnerships." if lang == "en" else "Inga partnerskap."
        return f"# {title}\n\n{empty}\n"
    return f"# {title}\n\n" + markdown_table(REGISTER_COLUMNS, rows, lang)


def register_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    return csv_table(REGISTER_COLUMNS, rows)
