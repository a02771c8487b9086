"""The one error hierarchy of iop-workflow.

Every error is built from its attributes: the message (Swedish and English) is
formatted by the class from the facts it carries, never passed in as a
ready-made string by the caller. Each class has a stable ``code`` and the exit
status the CLI uses (see DESIGN.md, "Errors and exit codes").

Every error is importable from here. This module holds the errors of input, lookup, files and the
database; the base (exit statuses, :class:`Unmet`, :class:`IopError`) is in
:mod:`iop_workflow.errors_base`, the refusals (not allowed, conflict, not authenticated) in
:mod:`iop_workflow.errors_refusals`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from iop_workflow.errors_base import (
    EXIT_CONFLICT,
    EXIT_INTEGRITY,
    EXIT_INTERNAL,
    EXIT_INVALID,
    EXIT_NOT_ALLOWED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNAUTHENTICATED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    IopError,
    Unmet,
    short,
)
from iop_workflow.errors_refusals import (
    AccessDenied,
    ConcurrentUpdate,
    GuidelineNotAdopted,
    NotAuthenticated,
    NotPermitted,
    TransitionNotAllowed,
)

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_INTEGRITY",
    "EXIT_INTERNAL",
    "EXIT_INVALID",
    "EXIT_NOT_ALLOWED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_UNAUTHENTICATED",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "AccessDenied",
    "ConcurrentUpdate",
    "DatabaseUnavailable",
    "DefinitionError",
    "GuidelineNotAdopted",
    "IntegrityError",
    "InternalError",
    "InvalidInput",
    "IopError",
    "NotAuthenticated",
    "NotFound",
    "NotPermitted",
    "TransitionNotAllowed",
    "Unmet",
    "UsageError",
]


class InternalError(IopError):
    """A bug: the message says so, the traceback goes to the log."""

    code = "internal_error"
    exit_status = EXIT_INTERNAL

    def __init__(self, *, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def details(self) -> dict[str, Any]:
        return {"detail": self.detail}

    def _sv(self) -> str:
        return f"Internt fel (en bugg, inte ditt fel): {self.detail}. Detaljerna finns i loggen."

    def _en(self) -> str:
        return f"Internal error (a bug, not your fault): {self.detail}. The details are in the log."


class UsageError(IopError):
    code = "usage_error"
    exit_status = EXIT_USAGE

    def __init__(self, *, problem: str, problem_sv: str | None = None) -> None:
        """``problem`` in English; ``problem_sv`` the Swedish text where the caller has one (else ``problem``)."""
        super().__init__(problem)
        self.problem = problem
        self.problem_sv = problem_sv or problem

    def details(self) -> dict[str, Any]:
        return {"problem": self.problem}

    def _sv(self) -> str:
        return f"Felaktig användning: {self.problem_sv}"

    def _en(self) -> str:
        return f"Usage error: {self.problem}"


class NotFound(IopError):
    """A case, organisation, guideline, criterion or alert does not exist."""

    code = "not_found"
    exit_status = EXIT_NOT_FOUND

    _KINDS_SV: ClassVar[Mapping[str, str]] = {
        "case": "Ärendet",
        "organisation": "Organisationen",
        "guideline": "Riktlinjen",
        "criterion": "Kriteriet",
        "alert": "Larmet",
        "timer": "Bevakningen",
        "record": "Loggposten",
        "municipality": "Kommunen",
    }

    def __init__(self, *, kind: str, key: str) -> None:
        super().__init__(kind, key)
        self.kind = kind
        self.key = key

    def details(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key}

    def _sv(self) -> str:
        noun = self._KINDS_SV.get(self.kind, self.kind)
        return f"{noun} {short(self.key, 500)} finns inte."

    def _en(self) -> str:
        return f"No {self.kind} {short(self.key, 500)} exists."


class InvalidInput(IopError):
    """A value given by the user is malformed or out of range."""

    code = "invalid_input"
    exit_status = EXIT_INVALID

    def __init__(self, *, field: str, value: object, problem_sv: str, problem_en: str) -> None:
        super().__init__(field, value)
        self.field = field
        self.value = value
        self.problem_sv = problem_sv
        self.problem_en = problem_en

    def details(self) -> dict[str, Any]:
        return {"field": self.field, "value": short(self.value)}

    def _missing(self) -> bool:
        return self.value is None or self.value == ""

    def _sv(self) -> str:
        from iop_workflow.glossary import field_sv  # noqa: PLC0415 - the glossary reads its file

        if self._missing():  # never show a Python None or '' to a person
            return f"Värde saknas för {field_sv(self.field)}: {self.problem_sv}"
        return f"Ogiltigt värde för {field_sv(self.field)} ({short(self.value)!r}): {self.problem_sv}"

    def _en(self) -> str:
        if self._missing():
            return f"Missing {self.field}: {self.problem_en}"
        return f"Invalid value for {self.field} ({short(self.value)!r}): {self.problem_en}"


class DefinitionError(IopError):
    """A workflow definition, guideline or config file is malformed; names file and key."""

    code = "invalid_definition"
    exit_status = EXIT_INVALID

    def __init__(self, *, file: str, key: str, problem: str) -> None:
        super().__init__(file, key, problem)
        self.file = file
        self.key = key
        self.problem = problem

    def details(self) -> dict[str, Any]:
        return {"file": self.file, "key": self.key, "problem": self.problem}

    def _sv(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"

    def _en(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"


class IntegrityError(IopError):
    """The transition log failed verification."""

    code = "integrity_failure"
    exit_status = EXIT_INTEGRITY

    def __init__(self, *, problems: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(len(problems))
        self.problems = [dict(p) for p in problems]

    def details(self) -> dict[str, Any]:
        return {"problems": self.problems}

    def _sv(self) -> str:
        return f"Granskningsloggen är inte intakt: {len(self.problems)} fel."

    def _en(self) -> str:
        return f"The audit log is not intact: {len(self.problems)} problem(s)."


class DatabaseUnavailable(IopError):
    """The database cannot be reached, is read-only, full or locked."""

    code = "database_unavailable"
    exit_status = EXIT_UNAVAILABLE

    def __init__(self, *, url: str, problem: str) -> None:
        super().__init__(url, problem)
        self.url = url
        self.problem = problem

    def details(self) -> dict[str, Any]:
        return {"url": self.url, "problem": self.problem}

    def _sv(self) -> str:
        return f"Databasen {self.url} går inte att använda: {self.problem}"

    def _en(self) -> str:
        return f"The database {self.url} cannot be used: {self.problem}"
