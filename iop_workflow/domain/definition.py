"""The workflow definition: ``states/*.toml`` parsed into frozen, validated values.

This module holds the values (:class:`WorkflowDefinition` and its state, transition, timer and
record specs) and the fixed vocabulary a definition is checked against (the creation trigger,
inputs, effects, kinds of records, named groups). :mod:`iop_workflow.domain.definition_parse`
parses and validates a file into them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CREATE_TRIGGER = "open"
INPUTS = frozenset({"reason", "end_reason", "notice_on"})
EFFECTS = frozenset({"bind_guideline", "rebind_guideline", "next_review_round", "next_period", "give_notice"})
# The kinds of facts `iop case record KIND` records -> the table of their rows: the one list of them
# (the CLI's choices, corrections, retractions and the fact proof read it; service/records.py builds each).
RECORD_TABLES: Mapping[str, str] = {
    "meeting": "meetings",
    "assessment": "assessments",
    "legal-check": "legal_checks",
    "agreement": "agreements",
    "contribution": "contributions",
    "decision": "decisions",
    "review": "reviews",
}
RECORD_KINDS = frozenset(RECORD_TABLES)
# The named groups of states (``[groups]``) the services read instead of naming states in code:
# the group -> what it means (docs/architecture.md, "The workflow definition").
GROUPS: Mapping[str, str] = {
    "preparing": "facts gathered here are for the first agreement period (later ones prepare a renewal)",
    "partnership": "a partnership: in the public register; a decision to end it may be recorded",
    "running": "the agreement is in force (the annual report's running contributions)",
    "review": "a review round is open (the annual report's overdue reviews)",
    "agreement_decision": "a decision to enter or renew an agreement may be recorded",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerSpec:
    kind: str
    anchor: str
    action: str  # "fire:<trigger>" or "alert:<kind>"
    working_day: bool

    @property
    def fires(self) -> str | None:
        verb, _, arg = self.action.partition(":")
        return arg if verb == "fire" else None

    @property
    def alert(self) -> str | None:
        verb, _, arg = self.action.partition(":")
        return arg if verb == "alert" else None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSpec:
    value: str
    label_sv: str
    label_en: str
    description_sv: str
    terminal: bool
    end_reasons: tuple[str, ...]
    timers: tuple[TimerSpec, ...]

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_sv


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitionSpec:
    trigger: str
    sources: tuple[str, ...]
    dest: str
    guards: tuple[str, ...]
    roles: frozenset[str]
    inputs: frozenset[str]
    effects: tuple[str, ...]
    end_reason: str | None
    end_reason_choices: tuple[str, ...]
    label_sv: str
    label_en: str

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_sv


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSpec:
    """Who may record a kind of fact, in which states, under which guards (``[records.KIND]``)."""

    kind: str
    states: tuple[str, ...]
    roles: frozenset[str]
    guards: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowDefinition:
    name: str
    title_sv: str
    title_en: str
    file: str
    version: str
    content: str  # the file's text, kept with the version for the auditors
    states: Mapping[str, StateSpec]
    transitions: tuple[TransitionSpec, ...]
    records: Mapping[str, RecordSpec]
    # ``[groups]``: group name (one of GROUPS) -> its states, in the order of ``states``. A definition
    # version written before the groups (kept in workflow_versions for ``audit verify``) has none.
    groups: Mapping[str, tuple[str, ...]]

    def states_in(self, group: str) -> tuple[str, ...]:
        """The states of a named group (``[groups]``); KeyError for a name that is not in GROUPS."""
        if group not in GROUPS:
            raise KeyError(group)
        return self.groups.get(group, ())

    @property
    def initial(self) -> str:
        return self.creation.dest

    @property
    def creation(self) -> TransitionSpec:
        return next(t for t in self.transitions if not t.sources)

    def state(self, value: str) -> StateSpec:
        return self.states[value]

    def triggers_from(self, state: str) -> tuple[TransitionSpec, ...]:
        return tuple(t for t in self.transitions if state in t.sources)

    def transition(self, trigger: str, state: str) -> TransitionSpec | None:
        for t in self.transitions:
            if t.trigger == trigger and state in t.sources:
                return t
        return None

    def triggers(self) -> frozenset[str]:
        return frozenset(t.trigger for t in self.transitions)
