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
  by one of the recorded roles (``record:correction``: by a role that may record the kind);
- ``@admin`` and ``@guideline:<ref>`` records: a trigger those chains have.

Records written before the database's cut-over record (``admin:checks_from``, written by
``iop init``) that break a rule are reported as warnings naming the cut-over, not as
problems: they were written before the product checked this.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord
from iop_workflow.domain.definition import WorkflowDefinition, parse_definition
from iop_workflow.domain.guards import GUARDS
from iop_workflow.domain.timers import ANCHORS
from iop_workflow.errors import DefinitionError
from iop_workflow.service.context import Actor, App
from iop_workflow.service.guidelines import CHAIN_PREFIX as GUIDELINE_CHAIN
from iop_workflow.service.guidelines import CONFIRM, LOAD, LOADER, SYSTEM
from iop_workflow.service.records import RULES
from iop_workflow.store import cases as repo

CUTOVER = "admin:checks_from"
CHECK = "records_legal"
ADMIN_TRIGGERS = frozenset({
    "admin:bootstrap", "admin:grant", "admin:revoke", "admin:bind_login", "admin:token_create",
    "admin:token_revoke", CUTOVER,
})  # fmt: skip
_VERSIONS = sa.text("SELECT version, content FROM workflow_versions")


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
                where = {"case_ref": rec.case_ref, "case_seq": rec.case_seq, "seq": rec.seq, "field": "rule",
                         "problem": "record_not_legal", "detail": broken}  # fmt: skip
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
            return _recorded(rec)
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
    if not rec.case_ref.startswith(GUIDELINE_CHAIN):
        return f"no chain {rec.case_ref} exists"
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
    if not t.roles & set(rec.roles):
        return f"roles {_roles(rec)} may not fire {rec.trigger} (it needs one of: {', '.join(sorted(t.roles))})"
    return None


def _recorded(rec: LogRecord) -> str | None:
    kind = rec.trigger.removeprefix("record:")
    if rec.from_state != rec.to_state:
        return f"{rec.trigger} changed the state from {rec.from_state} to {rec.to_state}"
    if kind == "correction":
        return _correction(rec)
    rule = RULES.get(kind)
    if rule is None:
        return f"no fact of kind {kind} can be recorded"
    if rec.from_state not in rule.states:
        return f"a {kind} cannot be recorded in state {rec.from_state}"
    if not rule.roles & set(rec.roles):
        return f"roles {_roles(rec)} may not record a {kind} (it needs one of: {', '.join(sorted(rule.roles))})"
    return None


def _correction(rec: LogRecord) -> str | None:
    corrected = rec.data.get("correction")
    kind = str(corrected.get("kind")) if isinstance(corrected, dict) else ""
    rule = RULES.get(kind)
    if rule is None:
        return f"a correction of an unknown kind {kind or '(none)'}"
    return None if rule.roles & set(rec.roles) else f"roles {_roles(rec)} may not correct a {kind}"
