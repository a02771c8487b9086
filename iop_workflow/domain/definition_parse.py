"""Parsing a workflow definition: TOML text -> plain dict -> a validated :class:`WorkflowDefinition`.

Pipeline (after python-statemachine's io/). Guard, anchor and effect names are kept as strings
and resolved against registries; nothing in the file is executed. Every problem raises
:class:`DefinitionError` naming the file and the key. The values and the vocabulary they are
checked against live in :mod:`iop_workflow.domain.definition`.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from iop_workflow.domain import tomldoc
from iop_workflow.domain.definition import (
    CREATE_TRIGGER,
    EFFECTS,
    GROUPS,
    INPUTS,
    RECORD_KINDS,
    RecordSpec,
    StateSpec,
    TimerSpec,
    TransitionSpec,
    WorkflowDefinition,
)
from iop_workflow.domain.values import END_REASONS, ROLES
from iop_workflow.errors import DefinitionError


def canonical_version(data: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the parsed definition (comments and order ignored)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_definition(
    text: str,
    *,
    file: str,
    guards: Iterable[str],
    anchors: Iterable[str],
) -> WorkflowDefinition:
    """Parse and validate a workflow definition; raise DefinitionError naming file and key."""
    data = tomldoc.parse(text, file=file)
    built = _Validator(file, frozenset(guards), frozenset(anchors)).build(data)
    return replace(built, content=text)


class _Validator:
    def __init__(self, file: str, guards: frozenset[str], anchors: frozenset[str]) -> None:
        self.file = file
        self.guards = guards
        self.anchors = anchors

    def fail(self, key: str, problem: str) -> DefinitionError:
        return DefinitionError(file=self.file, key=key, problem=problem)

    # -- generic field readers ------------------------------------------------
    def keys(self, table: Mapping[str, Any], key: str, allowed: set[str], required: set[str]) -> None:
        tomldoc.check_keys(table, file=self.file, key=key, allowed=allowed, required=required)

    def text(self, table: Mapping[str, Any], key: str, name: str, default: str | None = None) -> str:
        value = table.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key}.{name}", "must be a non-empty string")
        return value

    def optional(self, table: Mapping[str, Any], key: str, name: str, default: str) -> str:
        value = table.get(name, default)
        if not isinstance(value, str):
            raise self.fail(f"{key}.{name}", "must be a string")
        return value

    def strings(self, table: Mapping[str, Any], key: str, name: str) -> tuple[str, ...]:
        value = table.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{key}.{name}", "must be a list of strings")
        if len(set(value)) != len(value):
            raise self.fail(f"{key}.{name}", "lists an entry twice")
        return tuple(value)

    def table(self, data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = data.get(name)
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table")
        return value

    # -- the definition -------------------------------------------------------
    def build(self, data: Mapping[str, Any]) -> WorkflowDefinition:
        self.keys(
            data, "", {"workflow", "states", "transitions", "records", "groups"}, {"workflow", "states", "transitions"}
        )
        head = self.table(data, "workflow")
        self.keys(head, "workflow", {"name", "title_sv", "title_en"}, {"name"})
        raw_states = self.table(data, "states")
        states = {value: self.state(value, spec) for value, spec in raw_states.items()}
        raw_transitions = data["transitions"]
        if not isinstance(raw_transitions, list) or not raw_transitions:
            raise self.fail("transitions", "must be a non-empty array of tables")
        transitions = tuple(
            self.transition(f"transitions[{i}]", spec, states) for i, spec in enumerate(raw_transitions)
        )
        self.check_graph(states, transitions)
        for value, state in states.items():
            self.check_timers(value, state, transitions)
        raw_records = data.get("records", {})
        if not isinstance(raw_records, dict):
            raise self.fail("records", "must be a table")
        records = {kind: self.record(kind, spec, states) for kind, spec in raw_records.items()}
        groups = self.groups(data, states)
        return WorkflowDefinition(
            name=self.text(head, "workflow", "name"),
            title_sv=self.optional(head, "workflow", "title_sv", self.text(head, "workflow", "name")),
            title_en=self.optional(head, "workflow", "title_en", self.text(head, "workflow", "name")),
            file=self.file,
            version=canonical_version(data),
            content="",
            states=states,
            transitions=transitions,
            records=records,
            groups=groups,
        )

    def groups(self, data: Mapping[str, Any], states: Mapping[str, StateSpec]) -> dict[str, tuple[str, ...]]:
        """``[groups]``: every name in GROUPS, each a list of known states (kept in the states' order)."""
        if "groups" not in data:
            return {}
        raw = self.table(data, "groups")
        self.keys(raw, "groups", set(GROUPS), set(GROUPS))
        groups: dict[str, tuple[str, ...]] = {}
        for name in GROUPS:
            members = self.strings(raw, "groups", name)
            for i, s in enumerate(members):
                if s not in states:
                    raise self.fail(f"groups.{name}[{i}]", f"unknown state {s!r}")
                if states[s].terminal:
                    raise self.fail(f"groups.{name}[{i}]", f"the terminal state {s!r} belongs to no group")
            if not members:
                raise self.fail(f"groups.{name}", "names no state")
            groups[name] = tuple(v for v in states if v in members)
        return groups

    def record(self, kind: str, spec: Any, states: Mapping[str, StateSpec]) -> RecordSpec:
        key = f"records.{kind}"
        if kind not in RECORD_KINDS:
            raise self.fail(key, f"unknown kind of record (known: {', '.join(sorted(RECORD_KINDS))})")
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        self.keys(spec, key, {"states", "roles", "guards"}, {"states", "roles"})
        in_states = self.strings(spec, key, "states")
        for i, s in enumerate(in_states):
            if s not in states:
                raise self.fail(f"{key}.states[{i}]", f"unknown state {s!r}")
        roles = self.strings(spec, key, "roles")
        self.check_names(key, "roles", roles, ROLES, "role")
        if not roles or not in_states:
            raise self.fail(key, "needs at least one state and one role")
        guards = self.strings(spec, key, "guards")
        self.check_names(key, "guards", guards, self.guards, "guard")
        return RecordSpec(kind=kind, states=in_states, roles=frozenset(roles), guards=guards)

    def state(self, value: str, spec: Any) -> StateSpec:
        key = f"states.{value}"
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        if not value.isidentifier() or not value.islower():
            raise self.fail(key, "a state value must be a lower-case identifier")
        allowed = {"label_sv", "label_en", "description_sv", "terminal", "timers", "end_reasons"}
        self.keys(spec, key, allowed, {"label_sv", "label_en"})
        terminal = spec.get("terminal", False)
        if not isinstance(terminal, bool):
            raise self.fail(f"{key}.terminal", "must be true or false")
        end_reasons = self.strings(spec, key, "end_reasons")
        for i, reason in enumerate(end_reasons):
            if reason not in END_REASONS:
                raise self.fail(f"{key}.end_reasons[{i}]", f"unknown end reason {reason!r}")
        if end_reasons and not terminal:
            raise self.fail(f"{key}.end_reasons", "only a terminal state carries end reasons")
        timers_raw = spec.get("timers", [])
        if not isinstance(timers_raw, list):
            raise self.fail(f"{key}.timers", "must be an array of tables")
        timers = tuple(self.timer(f"{key}.timers[{i}]", t) for i, t in enumerate(timers_raw))
        if terminal and timers:
            raise self.fail(f"{key}.timers", "a terminal state plans no timers")
        kinds = [t.kind for t in timers]
        if len(set(kinds)) != len(kinds):
            raise self.fail(f"{key}.timers", "two timers of one kind")
        return StateSpec(
            value=value,
            label_sv=self.text(spec, key, "label_sv"),
            label_en=self.text(spec, key, "label_en"),
            description_sv=self.optional(spec, key, "description_sv", ""),
            terminal=terminal,
            end_reasons=end_reasons,
            timers=timers,
        )

    def timer(self, key: str, spec: Any) -> TimerSpec:
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        self.keys(spec, key, {"kind", "anchor", "action", "working_day"}, {"kind", "anchor", "action"})
        anchor = self.text(spec, key, "anchor")
        if anchor not in self.anchors:
            raise self.fail(f"{key}.anchor", f"unknown anchor {anchor!r}")
        action = self.text(spec, key, "action")
        verb, _, arg = action.partition(":")
        if verb not in {"fire", "alert"} or not arg:
            raise self.fail(f"{key}.action", "must be 'fire:<trigger>' or 'alert:<kind>'")
        working_day = spec.get("working_day", True)
        if not isinstance(working_day, bool):
            raise self.fail(f"{key}.working_day", "must be true or false")
        return TimerSpec(kind=self.text(spec, key, "kind"), anchor=anchor, action=action, working_day=working_day)

    def transition(self, key: str, spec: Any, states: Mapping[str, StateSpec]) -> TransitionSpec:
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table")
        allowed = {
            "trigger",
            "source",
            "dest",
            "guards",
            "roles",
            "inputs",
            "effects",
            "end_reason",
            "end_reason_choices",
            "label_sv",
            "label_en",
        }
        self.keys(spec, key, allowed, {"trigger", "source", "dest", "roles"})
        trigger = self.text(spec, key, "trigger")
        if not trigger.isidentifier():
            raise self.fail(f"{key}.trigger", "must be an identifier")
        sources = self.strings(spec, key, "source")
        for i, s in enumerate(sources):
            if s not in states:
                raise self.fail(f"{key}.source[{i}]", f"unknown state {s!r}")
            if states[s].terminal:
                raise self.fail(f"{key}.source[{i}]", f"leaves the terminal state {s!r}")
        dest = self.text(spec, key, "dest")
        if dest not in states:
            raise self.fail(f"{key}.dest", f"unknown state {dest!r}")
        self.check_names(key, "guards", self.strings(spec, key, "guards"), self.guards, "guard")
        roles = self.strings(spec, key, "roles")
        self.check_names(key, "roles", roles, ROLES, "role")
        if not roles:
            raise self.fail(f"{key}.roles", "no role may fire it")
        inputs = self.strings(spec, key, "inputs")
        self.check_names(key, "inputs", inputs, INPUTS, "input")
        effects = self.strings(spec, key, "effects")
        self.check_names(key, "effects", effects, EFFECTS, "effect")
        end_reason, choices = self.end_reason(key, spec, states[dest])
        if choices and "end_reason" not in inputs:
            raise self.fail(f"{key}.inputs", "end_reason_choices needs the input 'end_reason'")
        return TransitionSpec(
            trigger=trigger,
            sources=sources,
            dest=dest,
            guards=self.strings(spec, key, "guards"),
            roles=frozenset(roles),
            inputs=frozenset(inputs),
            effects=effects,
            end_reason=end_reason,
            end_reason_choices=choices,
            label_sv=self.optional(spec, key, "label_sv", trigger),
            label_en=self.optional(spec, key, "label_en", trigger),
        )

    def check_names(self, key: str, field: str, names: Iterable[str], known: frozenset[str], what: str) -> None:
        for i, name in enumerate(names):
            if name not in known:
                raise self.fail(f"{key}.{field}[{i}]", f"unknown {what} {name!r}")

    def end_reason(self, key: str, spec: Mapping[str, Any], dest: StateSpec) -> tuple[str | None, tuple[str, ...]]:
        reason = spec.get("end_reason")
        choices = self.strings(spec, key, "end_reason_choices")
        if not dest.terminal:
            if reason is not None or choices:
                raise self.fail(f"{key}.end_reason", "only a transition into a terminal state has one")
            return None, ()
        if (reason is None) == (not choices):
            raise self.fail(
                f"{key}.end_reason", "a transition into a terminal state needs end_reason or end_reason_choices"
            )
        for i, r in enumerate([reason] if reason is not None else choices):
            if r not in dest.end_reasons:
                where = f"{key}.end_reason" if reason is not None else f"{key}.end_reason_choices[{i}]"
                raise self.fail(where, f"{r!r} is not an end reason of {dest.value!r}")
        return (str(reason) if reason is not None else None), choices

    # -- whole-graph checks ---------------------------------------------------
    def check_graph(self, states: Mapping[str, StateSpec], transitions: tuple[TransitionSpec, ...]) -> None:
        creations = [i for i, t in enumerate(transitions) if not t.sources]
        if len(creations) != 1:
            raise self.fail("transitions", "exactly one transition must have source = [] (the creation)")
        if transitions[creations[0]].trigger != CREATE_TRIGGER:
            raise self.fail(f"transitions[{creations[0]}].trigger", f"the creation must be {CREATE_TRIGGER!r}")
        self.check_unique(transitions)
        reached = self.reachable(transitions[creations[0]].dest, transitions)
        for value in states:
            if value not in reached:
                raise self.fail(f"states.{value}", "unreachable: no transition leads to it")
        for value, state in states.items():
            if not state.terminal and not any(value in t.sources for t in transitions):
                raise self.fail(f"states.{value}", "not terminal, yet no transition leaves it")

    def check_unique(self, transitions: tuple[TransitionSpec, ...]) -> None:
        seen: dict[tuple[str, str], int] = {}
        for i, t in enumerate(transitions):
            for s in t.sources:
                if (t.trigger, s) in seen:
                    raise self.fail(
                        f"transitions[{i}]",
                        f"trigger {t.trigger!r} from {s!r} is already defined in transitions[{seen[(t.trigger, s)]}]",
                    )
                seen[(t.trigger, s)] = i
            if t.sources and t.trigger == CREATE_TRIGGER:
                raise self.fail(f"transitions[{i}].trigger", f"{CREATE_TRIGGER!r} only creates cases")

    @staticmethod
    def reachable(start: str, transitions: tuple[TransitionSpec, ...]) -> set[str]:
        reached = {start}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            for t in transitions:
                if here in t.sources and t.dest not in reached:
                    reached.add(t.dest)
                    queue.append(t.dest)
        return reached

    def check_timers(self, value: str, state: StateSpec, transitions: tuple[TransitionSpec, ...]) -> None:
        for i, timer in enumerate(state.timers):
            trigger = timer.fires
            if trigger is not None and not any(t.trigger == trigger and value in t.sources for t in transitions):
                raise self.fail(
                    f"states.{value}.timers[{i}].action",
                    f"fires {trigger!r}, which is not valid in state {value!r}",
                )
