"""One cell of any CSV the product writes, made safe to open in a spreadsheet (OWASP's CSV injection rule).

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return could be read as a
formula by Excel, LibreOffice or Google Sheets; it gets a leading ``'`` so that it is shown as text.
A cell that already begins with ``'`` gets one more, so the rule can be undone without doubt: strip
one leading ``'`` from every cell that begins with one.

Numbers stay numbers: ``int``, ``float`` and ``Decimal`` values pass untouched, and so does a string
that is exactly a plain decimal number (``-250000.00``, ``42``): amounts reach the writers as strings,
and a spreadsheet computes nothing from a bare number. Anything else beginning with ``-`` (``-1+2``,
``-A1``) is text and is neutralised.
"""

from __future__ import annotations

import re
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


def safe_row(values: Any) -> list[str]:
    """Every cell of one row through :func:`safe_cell`."""
    return [safe_cell(value) for value in values]
