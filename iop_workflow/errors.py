"""The one error hierarchy of iop-workflow.

Every error is built from its attributes: the message (Swedish and English) is
formatted by the class from the facts it carries, never passed in as a
ready-made string by the caller. Each class has a stable ``code`` and the exit
status the CLI uses (see DESIGN.md, "Errors and exit codes").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        return f"{noun} {_short(self.key, 500)} finns inte."

    def _en(self) -> str:
        return f"No {self.kind} {_short(self.key, 500)} exists."


class TransitionNotAllowed(IopError):
    """The trigger cannot fire: wrong state, unmet guards or role. Lists every reason."""

    code = "transition_not_allowed"
    exit_status = EXIT_NOT_ALLOWED

    def __init__(self, *, case_ref: str, trigger: str, state: str, reasons: Sequence[Unmet]) -> None:
        super().__init__(case_ref, trigger, state)
        self.case_ref = case_ref
        self.trigger = trigger
        self.state = state
        self.reasons = tuple(reasons)

    def details(self) -> dict[str, Any]:
        return {
            "case_ref": self.case_ref,
            "trigger": self.trigger,
            "state": self.state,
            "reasons": [{"code": r.code, "sv": r.sv, "en": r.en} for r in self.reasons],
        }

    def _lines(self, lang: str) -> str:
        return "".join(f"\n  - {r.text(lang)}" for r in self.reasons)

    def _sv(self) -> str:
        from iop_workflow.glossary import label, record_label  # noqa: PLC0415 - the glossary reads its file

        if self.state in ("-", ""):
            return f"{self.case_ref}: Ärendet kan inte registreras:" + self._lines("sv")
        what, state = record_label(self.trigger, "sv"), label("state", self.state, "sv")
        if ":" in self.trigger:
            return f"{self.case_ref}: {what} kan inte registreras i status {state}:" + self._lines("sv")
        return f"{self.case_ref}: åtgärden «{what}» är inte möjlig i status {state}:" + self._lines("sv")

    def _en(self) -> str:
        return f"{self.case_ref}: '{self.trigger}' is not allowed in state '{self.state}':" + self._lines("en")


class ConcurrentUpdate(IopError):
    """Someone else changed the case first; nothing was written."""

    code = "concurrent_update"
    exit_status = EXIT_CONFLICT

    def __init__(self, *, case_ref: str, expected_version: int, found_version: int | None) -> None:
        super().__init__(case_ref, expected_version, found_version)
        self.case_ref = case_ref
        self.expected_version = expected_version
        self.found_version = found_version

    def details(self) -> dict[str, Any]:
        return {
            "case_ref": self.case_ref,
            "expected_version": self.expected_version,
            "found_version": self.found_version,
        }

    def _sv(self) -> str:
        return (
            f"{self.case_ref} ändrades av någon annan (version {self.expected_version} väntades, "
            f"{self.found_version} fanns). Ingenting skrevs; läs om ärendet och försök igen."
        )

    def _en(self) -> str:
        return (
            f"{self.case_ref} was changed by someone else (expected version "
            f"{self.expected_version}, found {self.found_version}). Nothing was written; "
            "reload the case and try again."
        )


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
        return {"field": self.field, "value": _short(self.value)}

    def _missing(self) -> bool:
        return self.value is None or self.value == ""

    def _sv(self) -> str:
        from iop_workflow.glossary import field_sv  # noqa: PLC0415 - the glossary reads its file

        if self._missing():  # never show a Python None or '' to a person
            return f"Värde saknas för {field_sv(self.field)}: {self.problem_sv}"
        return f"Ogiltigt värde för {field_sv(self.field)} ({_short(self.value)!r}): {self.problem_sv}"

    def _en(self) -> str:
        if self._missing():
            return f"Missing {self.field}: {self.problem_en}"
        return f"Invalid value for {self.field} ({_short(self.value)!r}): {self.problem_en}"


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


def _short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AccessDenied(IopError):
    """The actor lacks the role a read of protected data needs (e.g. ``--include-protected``)."""

    code = "access_denied"
    exit_status = EXIT_NOT_ALLOWED

    def __init__(self, *, actor: str, roles: Sequence[str], action: str, needs: str) -> None:
        super().__init__(actor, action)
        self.actor = actor
        self.roles = tuple(sorted(roles))
        self.action = action
        self.needs = needs

    def details(self) -> dict[str, Any]:
        return {"actor": self.actor, "roles": list(self.roles), "action": self.action, "needs": self.needs}

    def _sv(self) -> str:
        return (
            f"{self.actor} (roller: {', '.join(self.roles) or 'inga'}) får inte {self.action}; "
            f"det kräver rollen {self.needs}. Skyddade uppgifter visas maskerade utan flaggan."
        )

    def _en(self) -> str:
        return (
            f"{self.actor} (roles: {', '.join(self.roles) or 'none'}) may not {self.action}; "
            f"it needs the role {self.needs}. Without the flag, protected data is shown masked."
        )


class NotPermitted(IopError):
    """The actor lacks the role an action needs (administration, acting as another login)."""

    code = "not_permitted"
    exit_status = EXIT_NOT_ALLOWED

    def __init__(self, *, actor: str, roles: Sequence[str], action_sv: str, action_en: str, needs: str) -> None:
        super().__init__(actor, action_en)
        self.actor = actor
        self.roles = tuple(sorted(roles))
        self.action_sv = action_sv
        self.action_en = action_en
        self.needs = needs

    def details(self) -> dict[str, Any]:
        return {"actor": self.actor, "roles": list(self.roles), "action": self.action_en, "needs": self.needs}

    def _sv(self) -> str:
        return (
            f"{self.actor} (roller: {', '.join(self.roles) or 'inga'}) får inte {self.action_sv}; "
            f"det kräver rollen {self.needs}. En administratör ger roller med `iop role grant LOGIN {self.needs}`."
        )

    def _en(self) -> str:
        return (
            f"{self.actor} (roles: {', '.join(self.roles) or 'none'}) may not {self.action_en}; "
            f"it needs the role {self.needs}. An admin grants roles with `iop role grant LOGIN {self.needs}`."
        )


class NotAuthenticated(IopError):
    """No credential, or the credential was refused (expired, revoked, bad signature, wrong issuer ...)."""

    code = "not_authenticated"
    exit_status = EXIT_UNAUTHENTICATED

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem

    def details(self) -> dict[str, Any]:
        return {"problem": self.problem}

    def _sv(self) -> str:
        return f"Inte autentiserad: {self.problem}"

    def _en(self) -> str:
        return f"Not authenticated: {self.problem}"


class GuidelineNotAdopted(IopError):
    """Only an adopted guideline's decision can be confirmed: a proposal's adopted text is a new version."""

    code = "guideline_not_adopted"
    exit_status = EXIT_NOT_ALLOWED

    def __init__(self, *, ref: str, status: str, status_sv: str) -> None:
        super().__init__(ref, status)
        self.ref = ref
        self.status = status
        self.status_sv = status_sv

    def details(self) -> dict[str, Any]:
        return {"guideline_ref": self.ref, "status": self.status}

    def _sv(self) -> str:
        return (
            f"Riktlinjen {self.ref} har status {self.status_sv}, inte antagen, och kan därför inte bekräftas. "
            "Har kommunen antagit en riktlinje läses den in som en ny version (`iop guideline load FILE`)."
        )

    def _en(self) -> str:
        return (
            f"Guideline {self.ref} has the status {self.status}, not adopted, so it cannot be confirmed. "
            "If the municipality has adopted a guideline, load it as a new version (`iop guideline load FILE`)."
        )
