"""Which kinds of facts one transition needs, from what its rules declare.

Before the guards run, the store reads the case row and only the fact kinds
(``facts.FACT_KINDS``) that the transition's guards, effects and log snapshot
and the destination state's timer anchors declare; the rest stay "not loaded"
and raise :class:`~iop_workflow.domain.facts.FactNotLoaded` when touched, so a
rule that reads an undeclared kind fails loudly instead of deciding on missing
facts. Guards and anchors declare their reads where they are registered
(``guards.GUARD_READS``, ``timers.ANCHOR_READS``); the effects and the snapshot,
applied by the service, declare theirs here. ``tests/test_reads.py`` runs every
rule on facts that hold only what it declares.
"""

from __future__ import annotations

from iop_workflow.domain.definition import TransitionSpec, WorkflowDefinition
from iop_workflow.domain.guards import GUARD_READS
from iop_workflow.domain.timers import ANCHOR_READS

# service.decide._effects: binding looks up the guideline in force among the municipality's;
# rebinding also compares it with the bound one. The review and period counters are case columns.
EFFECT_READS: dict[str, frozenset[str]] = {
    "bind_guideline": frozenset({"municipal_guidelines"}),
    "rebind_guideline": frozenset({"municipal_guidelines", "guideline"}),
    "next_review_round": frozenset(),
    "next_period": frozenset(),
    "give_notice": frozenset({"agreements"}),  # the notice period is the running agreement's
}

# service.decide._snapshot, by the guard that makes the log record carry the fact.
SNAPSHOT_READS: dict[str, frozenset[str]] = {
    "decision_recorded": frozenset({"decisions"}),
    "criteria_met": frozenset({"guideline", "assessments"}),
    "agreement_valid": frozenset({"agreements"}),
    "ending_decided": frozenset({"decisions"}),
    "ending_due_or_decided": frozenset({"decisions"}),
}


def facts_needed(definition: WorkflowDefinition, spec: TransitionSpec) -> frozenset[str]:
    """The fact kinds firing ``spec`` reads: guards, effects, snapshot, the new state's timers."""
    kinds: set[str] = set()
    for name in spec.guards:
        kinds |= GUARD_READS[name] | SNAPSHOT_READS.get(name, frozenset())
    for effect in spec.effects:
        kinds |= EFFECT_READS[effect]
    for timer in definition.state(spec.dest).timers:
        kinds |= ANCHOR_READS[timer.anchor]
    return frozenset(kinds)
