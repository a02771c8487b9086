"""The yearly follow-up report as one self-contained HTML page (pure: the report dict in, text out).

No JavaScript and no external resources (a Content-Security-Policy says so to the browser): the
chart of open cases by state at each month's end is an inline SVG of stacked bars, every text is
escaped, and the page prints as it shows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from iop_workflow.report.annual_render import Section, sections, title, tr

# The open states' colours in the chart, taken in the definition's order of states (so a renamed or
# added state needs no change here); past the end of the palette they repeat.
PALETTE = (
    "#8e6cc7",
    "#1f9bb5",
    "#e0a100",
    "#3f6fd8",
    "#2e9d4f",
    "#e4572e",
    "#b0307f",
    "#7a5c2e",
    "#0f7f7f",
    "#c2185b",
    "#5d6d1e",
)
AXIS = "#333333"
GRID = "#d9d9d9"
MONTHS = {
    "sv": ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
# Chart geometry, in CSS pixels.
LEFT, TOP, SLOT, BAR, PLOT_H, LEGEND_ROW = 48, 16, 56, 36, 240, 22
WIDTH = LEFT + 12 * SLOT + 16
_AMOUNT = re.compile(r"-?\d+\.\d+")  # amounts are text: "340000.00"

CSS = """
body { font-family: system-ui, sans-serif; color: #222; background: #fff; margin: 24px; max-width: 1100px; }
h1 { font-size: 1.5em; margin: 0 0 4px; } h2 { font-size: 1.15em; margin: 28px 0 8px; }
table { border-collapse: collapse; font-size: 0.9em; } th, td { border: 1px solid #bbb; padding: 3px 8px; }
th { background: #f2f2f2; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 16px 0; } figcaption { font-size: 0.9em; color: #444; }
.preliminary { font-weight: bold; }
"""


def colours(series: Sequence[str]) -> dict[str, str]:
    """Each state of ``series`` (the definition's open states, in its order) its colour."""
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}


def annual_html(report: Mapping[str, Any], lang: str, *, chart: bool = True) -> str:
    """The whole page; ``chart=False`` leaves the chart out (the month-by-month table stays)."""
    heading = escape(title(report, lang))
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"en" if lang == "en" else "sv"}">',
        "<head>",
        '<meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{heading}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{heading}</h1>",
        f"<p>{escape(tr('period', lang))} {escape(report['from'])} – {escape(report['to'])}.</p>",
    ]
    if report["preliminary"]:
        parts.append(f'<p class="preliminary">{escape(tr("preliminary", lang))}</p>')
    if chart:
        parts.append(
            f'<figure id="chart">{chart_svg(report, lang)}<figcaption>{escape(tr("chart", lang))}</figcaption></figure>'
        )
    parts.extend(_section(sec, lang) for sec in sections(report, lang))
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _section(sec: Section, lang: str) -> str:
    head = f'<h2 id="{escape(sec.key)}">{escape(sec.heading)}</h2>'
    if not sec.rows and sec.empty:
        return f"{head}\n<p>{escape(sec.empty)}</p>"
    cells = "".join(f"<th>{escape(en if lang == 'en' else sv)}</th>" for _, sv, en in sec.columns)
    lines = [head, "<table>", f"<tr>{cells}</tr>"]
    for row in sec.rows:
        tds = "".join(_td(row.get(key)) for key, _, _ in sec.columns)
        lines.append(f"<tr>{tds}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _td(value: Any) -> str:
    if value is None:
        return "<td></td>"
    text = escape(str(value))
    numeric = (isinstance(value, int) and not isinstance(value, bool)) or _AMOUNT.fullmatch(text) is not None
    return f'<td class="n">{text}</td>' if numeric else f"<td>{text}</td>"


def _scale_top(highest: int) -> tuple[int, int]:
    """The y axis: (top value, step between grid lines)."""
    if highest <= 10:
        return max(highest, 1), 1
    rough = highest / 5
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return math.ceil(highest / step) * step, step


def chart_svg(report: Mapping[str, Any], lang: str) -> str:
    """Stacked bars: for each month, the open cases (non-terminal states) at its end, one colour a state."""
    series = [s["state"] for s in report["states"] if not s["terminal"]]
    labels = {s["state"]: s["label_en"] if lang == "en" else s["label_sv"] for s in report["states"]}
    fill = colours(series)
    months = report["monthly"]
    top, step = _scale_top(max((sum(m["counts"][s] for s in series) for m in months), default=0))
    base = TOP + PLOT_H
    per_row = 4
    height = base + 30 + LEGEND_ROW * math.ceil(len(series) / per_row) + 8
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(tr("chart", lang))}" '
        'font-family="system-ui, sans-serif" font-size="12" shape-rendering="crispEdges">'
    ]
    for value in range(0, top + 1, step):
        y = round(base - value * PLOT_H / top)
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + 12 * SLOT}" y2="{y}" stroke="{GRID}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end" fill="{AXIS}">{value}</text>')
    names = MONTHS["en" if lang == "en" else "sv"]
    for i, month in enumerate(months):
        x = LEFT + i * SLOT + (SLOT - BAR) // 2
        out.extend(_bar(x, base=base, top=top, month=month, series=series, fill=fill, labels=labels))
        out.append(f'<text x="{x + BAR // 2}" y="{base + 18}" text-anchor="middle" fill="{AXIS}">{names[i]}</text>')
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + 12 * SLOT}" y2="{base}" stroke="{AXIS}" stroke-width="2"/>')
    for n, s in enumerate(series):
        x, y = LEFT + (n % per_row) * 180, base + 30 + (n // per_row) * LEGEND_ROW
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{fill[s]}"/>')
        out.append(f'<text x="{x + 18}" y="{y + 11}" fill="{AXIS}">{escape(labels[s])}</text>')
    out.append("</svg>")
    return "".join(out)


def _bar(
    x: int,
    *,
    base: int,
    top: int,
    month: Mapping[str, Any],
    series: Sequence[str],
    fill: Mapping[str, str],
    labels: Mapping[str, str],
) -> list[str]:
    out, below = [], 0
    for s in series:
        n = int(month["counts"][s])
        if n <= 0:
            continue
        y_low, y_high = round(base - below * PLOT_H / top), round(base - (below + n) * PLOT_H / top)
        tip = escape(f"{labels[s]} {month['month']}: {n}")
        out.append(
            f'<rect x="{x}" y="{y_high}" width="{BAR}" height="{y_low - y_high}" fill="{fill[s]}">'
            f"<title>{tip}</title></rect>"
        )
        below += n
    return out
