"""Rendering the yearly follow-up report as Markdown or CSV (pure: the report dict in, text out).

Headings are Swedish by default and English with ``lang="en"``; the CSV is one long table
(``section, key, detail, unit, value``) that a spreadsheet opens as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iop_workflow import formats, glossary
from iop_workflow.report.render import Column, csv_table, markdown_table

TEXT: dict[str, tuple[str, str]] = {
    "title": (
        "Årsuppföljning av idéburna offentliga partnerskap",
        "Annual follow-up of idea-based public partnerships",
    ),
    "all": ("alla kommuner", "all municipalities"),
    "period": ("Perioden", "Period"),
    "preliminary": (
        "Preliminär: året är inte slut, siffrorna gäller hittills.",
        "Preliminary: the year is not over, the figures are so far.",
    ),
    "states": ("Ärenden per status", "Cases by state"),
    "state": ("Status", "State"),
    "start": ("Vid årets början", "At the start of the year"),
    "end": ("Vid årets slut", "At the end of the year"),
    "year_events": ("Under året", "During the year"),
    "event": ("Händelse", "Event"),
    "count": ("Antal", "Number"),
    "opened": ("Nya initiativ", "Initiatives opened"),
    "signed": ("Undertecknade avtal", "Agreements signed"),
    "activated": ("Avtal som började gälla", "Agreements that took effect"),
    "renewed": ("Förnyade avtal", "Agreements renewed"),
    "ended": ("Avslutade ärenden", "Cases ended"),
    "end_reasons": ("Avslutade per orsak", "Ended by reason"),
    "reason": ("Orsak", "Reason"),
    "reviews": ("Uppföljningar", "Reviews"),
    "due": ("Inledda uppföljningar", "Reviews due (begun)"),
    "held": ("Genomförda uppföljningar", "Reviews held"),
    "report_received": ("varav med organisationens rapport", "of which with the organisation's report"),
    "overdue": ("Försenade uppföljningar", "Overdue reviews"),
    "contributions": ("Insatser per part och typ", "Contributions by party and kind"),
    "no_contributions": ("Inga insatser.", "No contributions."),
    "guidelines": ("Riktlinjer", "Guidelines"),
    "no_guidelines": ("Inga riktlinjer gällde under året.", "No guideline was in force during the year."),
    "monthly": ("Ärenden per status vid månadens slut", "Cases by state at the end of each month"),
    "month": ("Månad", "Month"),
    "cases": ("Årets ärenden", "The year's cases"),
    "no_cases": ("Inga ärenden.", "No cases."),
    "chart": (
        "Pågående ärenden per status vid varje månads slut (avslutade ärenden visas inte).",
        "Open cases by state at the end of each month (ended cases are not shown).",
    ),
}

GUIDELINE_COLUMNS: tuple[Column, ...] = (
    ("ref", "Riktlinje", "Guideline"),
    ("municipality", "Kommun", "Municipality"),
    ("title", "Titel", "Title"),
    ("valid_from", "Gäller från", "Valid from"),
    ("valid_until", "Gäller till och med", "Valid until"),
    ("status_label", "Status", "Status"),
)
CASE_COLUMNS: tuple[Column, ...] = (
    ("ref", "Ärende", "Case"),
    ("municipality", "Kommun", "Municipality"),
    ("organisation", "Organisation", "Organisation"),
    ("org_number", "Org.nr", "Org. no."),
    ("title", "Verksamhet", "Activity"),
    ("start_label", "Status vid årets början", "State at the start"),
    ("end_label", "Status vid årets slut", "State at the end"),
    ("reason_label", "Avslutsorsak", "End reason"),
    ("contact_name", "Kontaktperson", "Contact"),
    ("contact_email", "E-post", "E-mail"),
    ("contact_phone", "Telefon", "Phone"),
    ("address", "Adress", "Address"),
)
CONTRIBUTION_COLUMNS: tuple[Column, ...] = (
    ("party_label", "Part", "Party"),
    ("kind_label", "Insatstyp", "Kind"),
    ("unit", "Enhet", "Unit"),
    ("agreed", "Avtalat under året", "Agreed in the year"),
    ("running", "I löpande avtal", "In running agreements"),
)
EVENT_KEYS = ("opened", "signed", "activated", "renewed", "ended")
REVIEW_KEYS = ("due", "held", "report_received", "overdue")


def tr(key: str, lang: str) -> str:
    sv, en = TEXT[key]
    return en if lang == "en" else sv


def label(section: str, value: str | None, lang: str) -> str:
    """A code of ``section`` (the glossary's end reason, party, contribution kind) in ``lang``; none as empty."""
    return "" if value is None else glossary.label(section, value, lang)


def state_label(report: Mapping[str, Any], value: str | None, lang: str) -> str:
    for s in report["states"]:
        if s["state"] == value:
            return str(s["label_en"] if lang == "en" else s["label_sv"])
    return value or "–"


def title(report: Mapping[str, Any], lang: str) -> str:
    return f"{tr('title', lang)} {report['year']} – {report['municipality'] or tr('all', lang)}"


def guideline_view(report: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    return [{**g, "status_label": label("guideline_period", g["status"], lang)} for g in report["guidelines"]]


def case_view(report: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    return [
        {
            **c,
            "start_label": state_label(report, c["state_at_start"], lang) if c["state_at_start"] else "–",
            "end_label": state_label(report, c["state"], lang),
            "reason_label": label("end_reason", c["end_reason"], lang),
        }
        for c in report["cases"]
    ]


def _amount(value: Any, lang: str) -> str:
    """An amount in a report table (its unit has a column of its own): ``470 000`` in Swedish."""
    return str(value) if lang == "en" else formats.number(value, lang)


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    heading: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    empty: str | None = None  # the sentence shown instead of an empty table


def sections(report: Mapping[str, Any], lang: str) -> Iterator[Section]:
    """The report's tables in order. Markdown and HTML lay out the same tables."""
    states = [s["state"] for s in report["states"]]
    counts: tuple[Column, Column] = (("label", *TEXT["event"]), ("count", *TEXT["count"]))
    yield Section(
        "states",
        tr("states", lang),
        (("label", *TEXT["state"]), ("start", *TEXT["start"]), ("end", *TEXT["end"])),
        [
            {
                "label": state_label(report, s, lang),
                "start": report["at_year_start"][s],
                "end": report["at_year_end"][s],
            }
            for s in states
        ],
    )
    yield Section(
        "events",
        tr("year_events", lang),
        counts,
        [{"label": tr(k, lang), "count": report["events"][k]} for k in EVENT_KEYS],
    )
    yield Section(
        "end_reasons",
        tr("end_reasons", lang),
        (("label", *TEXT["reason"]), counts[1]),
        [{"label": label("end_reason", r, lang), "count": n} for r, n in report["end_reasons"].items()],
    )
    yield Section(
        "reviews",
        tr("reviews", lang),
        counts,
        [{"label": tr(k, lang), "count": report["reviews"][k]} for k in REVIEW_KEYS],
    )
    yield Section(
        "contributions",
        tr("contributions", lang),
        CONTRIBUTION_COLUMNS,
        [
            {
                **c,
                "party_label": label("party", c["party"], lang),
                "kind_label": label("contribution_kind", c["kind"], lang),
                "agreed": _amount(c["agreed"], lang),
                "running": _amount(c["running"], lang),
            }
            for c in report["contributions"]
        ],
        tr("no_contributions", lang),
    )
    yield Section(
        "guidelines", tr("guidelines", lang), GUIDELINE_COLUMNS, guideline_view(report, lang), tr("no_guidelines", lang)
    )
    months: list[Column] = [("month", *TEXT["month"])]
    months += [(s, state_label(report, s, "sv"), state_label(report, s, "en")) for s in states]
    yield Section(
        "monthly", tr("monthly", lang), months, [{"month": m["month"], **m["counts"]} for m in report["monthly"]]
    )
    yield Section("cases", tr("cases", lang), CASE_COLUMNS, case_view(report, lang), tr("no_cases", lang))


def annual_markdown(report: Mapping[str, Any], lang: str) -> str:
    out = [f"# {title(report, lang)}\n", f"{tr('period', lang)} {report['from']} – {report['to']}.\n"]
    if report["preliminary"]:
        out.append(f"**{tr('preliminary', lang)}**\n")
    for sec in sections(report, lang):
        out.append(f"## {sec.heading}\n")
        out.append(f"{sec.empty}\n" if not sec.rows and sec.empty else markdown_table(sec.columns, sec.rows, lang))
    return "\n".join(out)


CSV_COLUMNS: tuple[Column, ...] = tuple((k, k, k) for k in ("section", "key", "detail", "unit", "value"))


def annual_csv(report: Mapping[str, Any]) -> str:
    """One long table: every figure of the report a row, with stable machine keys (no labels)."""
    return csv_table(CSV_COLUMNS, list(_csv_rows(report)))


def _csv_rows(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    def row(section: str, key: Any, value: Any, detail: Any = "", unit: Any = "") -> dict[str, Any]:
        return {"section": section, "key": key, "detail": detail, "unit": unit, "value": value}

    for key in ("year", "municipality", "municipality_code", "from", "to", "preliminary", "include_protected"):
        yield row("report", key, report[key])
    for section in ("at_year_start", "at_year_end", "events", "end_reasons", "reviews"):
        yield from (row(section, k, v) for k, v in report[section].items())
    for m in report["monthly"]:
        yield from (row("monthly", s, n, detail=m["month"]) for s, n in m["counts"].items())
    for c in report["contributions"]:
        yield row("contributions_agreed", c["party"], c["agreed"], detail=c["kind"], unit=c["unit"])
        yield row("contributions_running", c["party"], c["running"], detail=c["kind"], unit=c["unit"])
    for g in report["guidelines"]:
        keys = ("municipality", "municipality_code", "title", "valid_from", "valid_until", "status")
        yield from (row("guideline", g["ref"], g[k], detail=k) for k in keys)
    for c in report["cases"]:
        yield from (row("case", c["ref"], v, detail=k) for k, v in c.items() if k != "ref")
