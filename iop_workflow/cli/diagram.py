"""The workflow as a diagram: Mermaid through transitions' own diagram support, DOT by hand.

transitions 0.9.3 draws Mermaid without graphviz (``graph_engine="mermaid"``);
its DOT output needs the ``graphviz`` package, which the project does not ship,
so DOT is written here from the same definition. Labels are in the chosen language.
"""

from __future__ import annotations

from typing import Any

from iop_workflow.domain.definition import WorkflowDefinition


def mermaid(definition: WorkflowDefinition, lang: str) -> str:
    from transitions import State as _State  # noqa: PLC0415 - only this command pays for the diagram code
    from transitions.extensions.diagrams import GraphMachine  # noqa: PLC0415

    class LabelledState(_State):
        def __init__(self, *args: Any, label: str | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.label = label

    class Machine(GraphMachine):
        state_cls = LabelledState

    title = definition.title_en if lang == "en" else definition.title_sv
    machine = Machine(
        model=None,
        states=[{"name": v, "label": s.label(lang)} for v, s in definition.states.items()],
        initial=definition.initial,
        auto_transitions=False,
        graph_engine="mermaid",
        title=title,
    )
    for t in definition.transitions:
        if t.sources:
            machine.add_transition(t.trigger, list(t.sources), t.dest, label=t.label(lang))

    class _Token:
        pass

    token = _Token()
    machine.add_model(token)
    graph = machine.model_graphs[id(token)]
    graph.reset_styling()  # no "current state": this is the definition, not a case
    source = str(getattr(graph.get_graph(title=title), "source", ""))
    # Drop transitions' highlight styles (they mark a model's current state, and
    # "Class" is not the keyword every Mermaid version accepts); label the start.
    start = f"[*] --> {definition.initial}"
    lines = [
        f"{line}: {definition.creation.label(lang)}" if line.strip() == start else line.rstrip()
        for line in source.splitlines()
        if not line.strip().startswith(("classDef ", "Class "))
    ]
    ends = [f"  {v} --> [*]" for v, s in definition.states.items() if s.terminal]
    return "\n".join([*lines, *ends]) + "\n"


def _dot_id(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(definition: WorkflowDefinition, lang: str) -> str:
    """Graphviz DOT text; render it with ``dot -Tsvg`` where graphviz is installed."""
    title = definition.title_en if lang == "en" else definition.title_sv
    lines = [
        f"digraph {_dot_id(definition.name)} {{",
        f"  label={_dot_id(title)};",
        "  labelloc=t;",
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  "__start__" [shape=point, label=""];',
    ]
    for value, state in definition.states.items():
        shape = ", peripheries=2" if state.terminal else ""
        lines.append(f"  {_dot_id(value)} [label={_dot_id(state.label(lang))}{shape}];")
    creation = definition.creation
    lines.append(f'  "__start__" -> {_dot_id(creation.dest)} [label={_dot_id(creation.label(lang))}];')
    edges: dict[tuple[str, str], list[str]] = {}
    for t in definition.transitions:
        for source in t.sources:
            edges.setdefault((source, t.dest), []).append(t.label(lang))
    for (source, dest), labels in edges.items():
        lines.append(f"  {_dot_id(source)} -> {_dot_id(dest)} [label={_dot_id(' | '.join(labels))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
