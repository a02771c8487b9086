"""Each record legal under the workflow definition it names: ``audit verify``'s rule check.

A perfectly chained record can still be one the product never writes: a trigger the
definition does not have, a move between states no transition makes, an actor whose
recorded roles could not fire it. While the chains stream past, :class:`Watcher` checks
each record against the definition version it names (read from ``workflow_versions``,
whose content must still hash to that version) and the recording rules:

- a case's ``open``: no from-state, the definition's initial state, a role that may open;
- a transition: the definition has it from the record's from-state to its to-state, and
  the record's roles include one of the transition's;
- ``record:<kind>``: the state is kept, the kind exists and may be recorded in that state,
  by one of the recorded roles (``record:correction`` and ``record:retraction``: by a role
  that may record the kind; ``record:assignment``: an open case, by a coordinator or an officer);
- ``@admin``, ``@guideline:<ref>`` and ``@org:<org number>`` records: a trigger those chains have,
  by a role that may write it.

Records written before the database's cut-over record (``admin:checks_from``, written by
``iop init``) that break a rule are reported as warnings naming the cut-over, not as
problems: they were written before the product checked this.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain.definition import RecordSpec, WorkflowDefinition
from iop_workflow.domain.definition_parse import parse_definition
from iop_workflow.domain.guards import GUARDS
from iop_workflow.domain.timers import ANCHORS
from iop_workflow.errors import DefinitionError
from iop_workflow.service import registration
from iop_workflow.service.assignments import KIND as ASSIGNMENT
from iop_workflow.service.assignments import ROLES as ASSIGNMENT_ROLES
from iop_workflow.service.context import IMPORTER, Actor, App
from iop_workflow.service.guidelines import CHAIN_PREFIX as GUIDELINE_CHAIN
from iop_workflow.service.guidelines import CONFIRM, LOAD, LOADER, SYSTEM
from iop_workflow.store import cases as repo

CUTOVER = "admin:checks_from"
CHECK = "records_legal"
ADMIN_TRIGGERS = frozenset(
    {
        "admin:bootstrap",
        "admin:grant",
        "admin:revoke",
        "admin:bind_login",
        "admin:token_create",
        "admin:token_revoke",
        CUTOVER,
    }
)
_VERSIONS = sa.text("SELECT version, content FROM workflow_versions")

# History, not a rule of the current definition: the state names of the workflow versions written
# before ``[records]`` existed, which LEGACY_RECORDS describes. A renamed state in a new definition
# does not change what those old versions allowed, so these names stay as they were.
_OPEN = ("initiative", "dialogue", "assessment", "signed", "active", "review", "renewed")


def _legacy(kind: str, states: tuple[str, ...], *roles: str) -> RecordSpec:
    return RecordSpec(kind=kind, states=states, roles=frozenset(roles), guards=())


# The recording rules of the workflow versions written before the definition held them
# (``[records]``, schema 0010): those versions' records are held to these.
LEGACY_RECORDS: dict[str, RecordSpec] = {
    "meeting": _legacy("meeting", _OPEN, "officer", "coordinator"),
    "assessment": _legacy("assessment", ("assessment", "review"), "officer", "legal", "coordinator"),
    "legal-check": _legacy("legal-check", ("assessment", "review"), "legal", "officer"),
    "agreement": _legacy("agreement", ("dialogue", "assessment", "review"), "officer"),
    "contribution": _legacy("contribution", ("dialogue", "assessment", "review"), "officer"),
    "decision": _legacy("decision", ("assessment", "review"), "signatory", "registrar", "officer"),
    "review": _legacy("review", ("review",), "officer", "coordinator"),
}


def record_rules(d: WorkflowDefinition) -> Mapping[str, RecordSpec]:
    """The definition's recording rules (or the legacy ones for a definition without ``[records]``),
    and the assignment of officers: in any state that is not terminal, by a coordinator or an officer."""
    open_states = tuple(name for name, state in d.states.items() if not state.terminal)
    assignment = RecordSpec(kind=ASSIGNMENT, states=open_states, roles=ASSIGNMENT_ROLES, guards=())
    return {**(d.records or LEGACY_RECORDS), ASSIGNMENT: assignment}


def mark_cutover(app: App, actor: Actor) -> int | None:
    """Write the cut-over record once (``iop init``); its seq, or None when there already is one."""
    from iop_workflow.service.identity import ADMIN_CHAIN, admin_record  # noqa: PLC0415

    with app.db.write() as s:
        if cutover_seq(s) is not None:
            return None
        rec = admin_record(app, s, actor, CUTOVER, {"check": CHECK})
        assert rec.seq is not None and rec.case_ref == ADMIN_CHAIN
    app.sink.emit(rec)
    return rec.seq


def cutover_seq(s: Connection) -> int | None:
    query = sa.select(sa.func.min(repo.LOG.c.seq)).where(repo.LOG.c.trigger == CUTOVER)
    found = s.execute(query).scalar()
    return None if found is None else int(found)


class Watcher:
    """Check records as they stream past; ``problems`` and ``warnings`` hold what broke a rule."""

    def __init__(self, s: Connection) -> None:
        self._s = s
        self._definitions: dict[str, WorkflowDefinition | str] = {}
        self.cutover = cutover_seq(s)
        self.problems: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []

    def watch(self, records: Iterable[LogRecord]) -> Iterator[LogRecord]:
        for rec in records:
            broken = self.check(rec)
            if broken is not None:
                where = {
                    "case_ref": rec.case_ref,
                    "case_seq": rec.case_seq,
                    "seq": rec.seq,
                    "field": "rule",
                    "problem": "record_not_legal",
                    "detail": broken,
                }
                if self.cutover is None or (rec.seq is not None and rec.seq < self.cutover):
                    cut = f"record {self.cutover}" if self.cutover is not None else "none yet: run `iop init`"
                    self.warnings.append({**where, "detail": f"{broken} (written before the cut-over: {cut})"})
                else:
                    self.problems.append(where)
            yield rec

    def check(self, rec: LogRecord) -> str | None:
        """Why ``rec`` breaks a rule, or None."""
        if rec.case_ref.startswith("@"):
            return _outside_cases(rec)
        definition = self._definition(rec.workflow_version)
        if isinstance(definition, str):
            return definition
        if rec.trigger.startswith("record:"):
            return _recorded(record_rules(definition), rec)
        return _fired(definition, rec)

    def _definition(self, version: str | None) -> WorkflowDefinition | str:
        if not self._definitions:
            for found, content in self._s.execute(_VERSIONS):
                self._definitions[found] = _parsed(found, content)
        key = version or ""
        return self._definitions.get(key, f"the workflow version {key or '(none)'} is not in workflow_versions")


def _parsed(version: str, content: str) -> WorkflowDefinition | str:
    try:
        definition = parse_definition(content, file=f"workflow_versions[{version}]", guards=GUARDS, anchors=ANCHORS)
    except DefinitionError as exc:
        return f"the workflow version {version} does not parse: {exc}"
    if definition.version != version:
        return f"the stored workflow version {version} no longer hashes to its version ({definition.version})"
    return definition


def _outside_cases(rec: LogRecord) -> str | None:
    if rec.case_ref == "@admin":
        return None if rec.trigger in ADMIN_TRIGGERS else f"the administration chain has no trigger {rec.trigger}"
    if rec.case_ref.startswith(registration.CHAIN_PREFIX):
        return _organisation_record(rec)
    if rec.case_ref.startswith(GUIDELINE_CHAIN):
        return _guideline_record(rec)
    return f"no chain {rec.case_ref} exists"


def _organisation_record(rec: LogRecord) -> str | None:
    if rec.trigger != registration.TRIGGER:
        return f"an organisation's chain has no trigger {rec.trigger}"
    return None if registration.RECORDER in rec.roles else f"roles {_roles(rec)} may not record a registration"


def _guideline_record(rec: LogRecord) -> str | None:
    if rec.trigger == CONFIRM:  # only a coordinator confirms (the scheduler and `iop init` never do)
        return None if LOADER in rec.roles else f"roles {_roles(rec)} may not confirm a guideline"
    if rec.trigger != LOAD:
        return f"a guideline's chain has no trigger {rec.trigger}"
    return None if {SYSTEM, LOADER} & set(rec.roles) else f"roles {_roles(rec)} may not load a guideline"


def _roles(rec: LogRecord) -> str:
    return ", ".join(rec.roles) or "(none)"


def _fired(d: WorkflowDefinition, rec: LogRecord) -> str | None:
    if rec.trigger not in d.triggers():
        return f"the workflow has no trigger {rec.trigger}"
    if rec.from_state is None:
        t = d.creation if rec.trigger == d.creation.trigger else None
    else:
        t = d.transition(rec.trigger, rec.from_state)
    if t is None:
        return f"{rec.trigger} does not leave {rec.from_state or '(no state)'}"
    if rec.to_state != t.dest:
        return f"{rec.trigger} from {rec.from_state or '(no state)'} leads to {t.dest}, not {rec.to_state}"
    if not t.roles & _acting(rec):
        return f"roles {_roles(rec)} may not fire {rec.trigger} (it needs one of: {', '.join(sorted(t.roles))})"
    return None


def _acting(rec: LogRecord) -> set[str]:
    """The roles a record's step was taken in: its actor's, or for a step of an imported history
    (``data.history``, written by an importer, service/case_import.py) the roles the file declares."""
    history = rec.data.get("history")
    if isinstance(history, dict) and IMPORTER in rec.roles and isinstance(history.get("roles"), list):
        return {str(r) for r in history["roles"]}
    return set(rec.roles)


def _recorded(rules: Mapping[str, RecordSpec], rec: LogRecord) -> str | None:
    kind = rec.trigger.removeprefix("record:")
    if rec.from_state != rec.to_state:
        return f"{rec.trigger} changed the state from {rec.from_state} to {rec.to_state}"
    if kind in ("correction", "retraction"):
        return _correction(rules, rec, kind)
    rule = rules.get(kind)
    if rule is None:
        return f"no fact of kind {kind} can be recorded"
    if rec.from_state not in rule.states:
        return f"a {kind} cannot be recorded in state {rec.from_state}"
    if not rule.roles & _acting(rec):
        return f"roles {_roles(rec)} may not record a {kind} (it needs one of: {', '.join(sorted(rule.roles))})"
    return None


def _correction(rules: Mapping[str, RecordSpec], rec: LogRecord, what: str) -> str | None:
    """A correction or a retraction: by a role that may record the kind of fact it corrects."""
    corrected = rec.data.get(what)
    kind = str(corrected.get("kind")) if isinstance(corrected, dict) else ""
    rule = rules.get(kind)
    if rule is None:
        return f"a {what} of an unknown kind {kind or '(none)'}"
    verb = "correct" if what == "correction" else "retract"
    return None if rule.roles & set(rec.roles) else f"roles {_roles(rec)} may not {verb} a {kind}"
