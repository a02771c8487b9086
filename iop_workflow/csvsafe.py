"""One cell of any CSV the product writes, made safe to open in a spreadsheet (OWASP's CSV injection rule).

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return could be read as a
formula by Excel, LibreOffice or Google Sheets; it gets a leading ``'`` so that it is shown as text.
A cell that already begins with ``'`` gets one more, so the rule can be undone without doubt: strip
one leading ``'`` from every cell that begins with one.

Numbers stay numbers: ``int``, ``float`` and ``Decimal`` values pass untouched, and so does a string
that is exactly a plain decimal number (``-250000.00``, ``42``): amounts reach the writers as strings,
and a spreadsheet computes nothing from a bare number. Anything else beginning with ``-`` (``-1+2``,
``-A1``) is text and is neutralised.

A carriage return inside a cell is quoted like a line feed: Python's writer quotes only the characters of
its line terminator, so with ``"\n"`` a bare CR went out unquoted, and every reader (Python's, Calc) ended
the row there and began a new one with the rest of the cell (``a\r=1+2`` put ``=1+2`` first in a row).
:func:`csv_line` writes with ``"\r\n"`` (quoting both) and ends the line with ``"\n"`` as before.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

DANGEROUS_FIRST = frozenset("=+-@\t\r")
ESCAPE = "'"
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def safe_cell(value: Any) -> str:
    """``value`` as the text of one CSV cell: ``None`` is empty, numbers as they are, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):  # bool is an int: True/False, harmless
        return str(value)
    text = str(value)
    if not text or PLAIN_NUMBER.fullmatch(text):
        return text
    if text[0] in DANGEROUS_FIRST or text[0] == ESCAPE:
        return ESCAPE + text
    return text


def safe_row(values: Iterable[Any]) -> list[str]:
    """Every cell of one row through :func:`safe_cell`."""
    return [safe_cell(value) for value in values]


def csv_line(values: Iterable[Any]) -> str:
    """One CSV line (ending in ``"\n"``), every cell through :func:`safe_cell`, a cell holding ``\r`` quoted."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(safe_row(values))
    return buffer.getvalue()[:-2] + "\n"
