"""The refusals: an action not allowed (state, guards, role), a lost race, a missing credential.

Each with its exit status (3 not allowed, 5 conflict, 9 not authenticated; docs/cli.md).
Re-exported by :mod:`iop_workflow.errors`, where every error is imported from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iop_workflow.errors_base import EXIT_CONFLICT, EXIT_NOT_ALLOWED, EXIT_UNAUTHENTICATED, IopError, Unmet


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
