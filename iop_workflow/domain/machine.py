"""The engine: one shared ``transitions.Machine`` per definition, plus our guards.

transitions' conditions answer only True/False, so guards are evaluated here,
all of them, and a refusal lists every unmet one. The machine itself carries no
conditions: it is the single authority on which trigger leads where.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from transitions import Machine, MachineError

from iop_workflow.domain.definition import TransitionSpec, WorkflowDefinition
from iop_workflow.domain.facts import CaseFacts, GuardContext
from iop_workflow.domain.guards import GUARDS, role_allowed
from iop_workflow.domain.reads import facts_needed
from iop_workflow.errors import TransitionNotAllowed, Unmet, UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One trigger of the current state: allowed, or every reason it is blocked."""

    spec: TransitionSpec
    reasons: tuple[Unmet, ...]

    @property
    def allowed(self) -> bool:
        return not self.reasons


class _Token:
    """The throw-away model transitions moves; a database row never is one."""

    state: str


class Engine:
    """Evaluates and applies transitions of one :class:`WorkflowDefinition`."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self._lock = threading.Lock()
        self._results: dict[tuple[str, str], str] = {}
        self._reads = {t: facts_needed(definition, t) for t in definition.transitions}
        self._triggers = definition.triggers()
        self._machine = Machine(
            model=None,
            states=list(definition.states),
            initial=None,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        for t in definition.transitions:
            if t.sources:
                self._machine.add_transition(t.trigger, list(t.sources), t.dest)

    def check(self, facts: CaseFacts, ctx: GuardContext, spec: TransitionSpec) -> tuple[Unmet, ...]:
        """Every reason ``spec`` cannot fire now (empty when it can)."""
        reasons = role_allowed(spec.roles, ctx, spec.trigger, spec.label_sv)
        for name in spec.guards:
            reasons.extend(GUARDS[name](facts, ctx))
        return tuple(reasons)

    def reads(self, spec: TransitionSpec) -> frozenset[str]:
        """The fact kinds firing ``spec`` needs (see domain/reads.py)."""
        found = self._reads.get(spec)
        return found if found is not None else facts_needed(self.definition, spec)

    def options(self, facts: CaseFacts, ctx: GuardContext) -> tuple[Option, ...]:
        return tuple(
            Option(spec=spec, reasons=self.check(facts, ctx, spec))
            for spec in self.definition.triggers_from(facts.state)
        )

    def resolve(self, trigger: str, state: str, case_ref: str) -> TransitionSpec:
        """The transition ``trigger`` names from ``state``; refuses unknown or invalid ones."""
        if trigger not in self._triggers:
            known = ", ".join(sorted(self._triggers))
            raise UsageError(problem=f"unknown trigger {trigger!r} (known: {known})")
        spec = self.definition.transition(trigger, state)
        if spec is None:
            label = self.definition.state(state)
            valid = [t.trigger for t in self.definition.triggers_from(state)]
            valid_text = ", ".join(valid) or "none"
            valid_sv = ", ".join(t.label_sv for t in self.definition.triggers_from(state)) or "inga"
            raise TransitionNotAllowed(
                case_ref=case_ref,
                trigger=trigger,
                state=state,
                reasons=[
                    Unmet(
                        code="wrong_state",
                        sv=f"Ärendet har status {label.label_sv}; möjliga åtgärder där: {valid_sv}",
                        en=f"The case is in state {label.label_en}; valid triggers there: {valid_text}",
                    )
                ],
            )
        return spec

    def apply(self, state: str, trigger: str) -> str:
        """Run ``trigger`` on the shared machine from ``state``; return the new state.

        The machine is deterministic, so each (state, trigger) is run on it once
        and remembered: the hot path pays for transitions' model bookkeeping once.
        """
        key = (state, trigger)
        if key not in self._results:
            self._results[key] = self._run(state, trigger)
        return self._results[key]

    def _run(self, state: str, trigger: str) -> str:
        token = _Token()
        with self._lock:
            self._machine.add_model(token, initial=state)
            try:
                token.trigger(trigger)  # type: ignore[attr-defined]
            except MachineError as exc:  # pragma: no cover - resolve() refuses these first
                raise TransitionNotAllowed(
                    case_ref="?",
                    trigger=trigger,
                    state=state,
                    reasons=[Unmet(code="machine_refused", sv=str(exc.value), en=str(exc.value))],
                ) from exc
            finally:
                self._machine.remove_model(token)
        return token.state

    def model_count(self) -> int:
        """How many models the shared machine holds (always 0 between calls)."""
        return len(self._machine.models)


def inputs_missing(spec: TransitionSpec, given: Mapping[str, object]) -> list[str]:
    return [name for name in sorted(spec.inputs) if not given.get(name)]
