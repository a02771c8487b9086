"""The annual report in each of its formats (the CLI and the HTTP API render through this one function)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

ANNUAL_FORMATS = ("md", "csv", "html", "json")
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
}


def render_annual(report: Mapping[str, Any], fmt: str, lang: str) -> str:
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2) + "\n"  # JSON types only: dates, amounts as text
    if fmt == "html":
        from iop_workflow.report.annual_html import annual_html  # noqa: PLC0415

        return annual_html(report, lang)
    from iop_workflow.report.annual_render import annual_csv, annual_markdown  # noqa: PLC0415

    return annual_csv(report) if fmt == "csv" else annual_markdown(report, lang)
