"""The base of the error hierarchy: the exit statuses, an unmet condition, :class:`IopError`.

Every error is built from its attributes: the message (Swedish and English) is formatted by the
class from the facts it carries. :mod:`iop_workflow.errors` is where every error is imported from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NOT_ALLOWED = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_INVALID = 6
EXIT_INTEGRITY = 7
EXIT_UNAVAILABLE = 8
EXIT_UNAUTHENTICATED = 9


@dataclass(frozen=True, slots=True, kw_only=True)
class Unmet:
    """One unmet condition or refusal reason: a stable code and sv/en text."""

    code: str
    sv: str
    en: str

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.sv


class IopError(Exception):
    """Base of every error the product raises on purpose."""

    code: ClassVar[str] = "error"
    exit_status: ClassVar[int] = EXIT_INTERNAL
    # Where in an input file the error arose (an import file's entry, e.g. ``decision``): the message
    # starts with it and ``all_details()`` names it.
    entry: str | None = None

    def message(self, lang: str = "sv") -> str:
        text = self._en() if lang == "en" else self._sv()
        return f"{self.entry}: {text}" if self.entry else text

    def details(self) -> dict[str, Any]:
        return {}

    def all_details(self) -> dict[str, Any]:
        """``details()``, with the input file's ``entry`` when the error names one."""
        return {**self.details(), "entry": self.entry} if self.entry else self.details()

    def _sv(self) -> str:  # pragma: no cover - every subclass overrides
        return "Ett fel inträffade."

    def _en(self) -> str:  # pragma: no cover - every subclass overrides
        return "An error occurred."

    def __str__(self) -> str:
        return self._en()


def short(value: object, limit: int = 80) -> str:
    """``value`` as text, cut to ``limit`` characters with an ellipsis (a message never quotes a whole input)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
