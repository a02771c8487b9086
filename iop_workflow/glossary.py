"""The one lookup of what people read for a code: :func:`label` (``config/glossary.toml``).

States and transitions are labelled by the workflow definition, which owns them
(``states/partnership.toml``); every other code the program shows (roles, end reasons,
verdicts, fact and record kinds, parties, contribution kinds, legal forms, guideline
statuses, fields, alerts, timers, sources, outcomes, reason codes) is labelled in the
glossary. :func:`label` answers for both, so callers never hold a dict of labels of
their own. :func:`check` is run when a definition is loaded: a code it or the program
uses without a Swedish or an English label is a :class:`DefinitionError`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING

from iop_workflow.errors import DefinitionError

if TYPE_CHECKING:
    from iop_workflow.domain.definition import WorkflowDefinition

FILE = "glossary.toml"
DEFINITION_SECTIONS = ("state", "trigger")


@lru_cache(maxsize=1)
def entries() -> Mapping[str, Mapping[str, tuple[str, str]]]:
    """Section -> code -> (sv, en), as shipped; read once."""
    from iop_workflow.resources import config_dir, read_text  # noqa: PLC0415 - resources imports the domain

    path = config_dir() / FILE
    return parse(tomllib.loads(read_text(path)), file=str(path))


def parse(data: Mapping[str, object], *, file: str) -> dict[str, dict[str, tuple[str, str]]]:
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for section, codes in data.items():
        if not isinstance(codes, Mapping):
            raise DefinitionError(file=file, key=section, problem="expected a table of codes")
        table: dict[str, tuple[str, str]] = {}
        for code, pair in codes.items():
            key = f"{section}.{code}"
            if not isinstance(pair, Mapping) or set(pair) != {"sv", "en"}:
                raise DefinitionError(file=file, key=key, problem="needs exactly `sv` and `en`")
            sv, en = pair["sv"], pair["en"]
            if not (isinstance(sv, str) and isinstance(en, str) and sv.strip() and en.strip()):
                raise DefinitionError(file=file, key=key, problem="`sv` and `en` must be non-empty text")
            table[str(code)] = (sv, en)
        out[section] = table
    return out


def label(section: str, code: str | StrEnum, lang: str, *, definition: WorkflowDefinition | None = None) -> str:
    """What people read for ``code`` of ``section`` in ``lang`` (``en``, else Swedish).

    ``state`` and ``trigger`` come from ``definition`` (the shipped one when not given); an
    unknown code is shown as it is (the loader's :func:`check` keeps the program's own codes known).
    """
    value = str(code)
    if section in DEFINITION_SECTIONS:
        return _from_definition(section, value, lang, definition)
    pair = entries().get(section, {}).get(value)
    if pair is None:
        return value
    return pair[1] if lang == "en" else pair[0]


def _from_definition(section: str, code: str, lang: str, definition: WorkflowDefinition | None) -> str:
    if definition is None:
        from iop_workflow.resources import shipped_definition  # noqa: PLC0415

        definition = shipped_definition()
    if section == "state":
        spec = definition.states.get(code)
        return spec.label(lang) if spec is not None else code
    for t in definition.transitions:
        if t.trigger == code:
            return t.label(lang) or code
    return code


def sv(section: str, code: str | StrEnum) -> str:
    return label(section, code, "sv")


def inline(text: str) -> str:
    """A label inside a sentence: first letter lower-cased, unless it starts an acronym (``IOP-samordnare``)."""
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def field_sv(name: str) -> str:
    """A field in Swedish text: its label when the glossary has one, an option as command syntax (``--db``)."""
    known = entries()["field"].get(name)
    if known is not None:
        return inline(known[0])
    return f"`{name}`" if name.startswith("-") else name


def record_label(trigger: str, lang: str, *, definition: WorkflowDefinition | None = None) -> str:
    """A log record's kind as people read it: a transition's label, a recorded fact's kind, or the record kind."""
    if trigger.startswith("record:") and trigger.removeprefix("record:") in entries()["fact_kind"]:
        return label("fact_kind", trigger.removeprefix("record:"), lang).capitalize()
    if trigger in entries()["record_kind"]:
        return label("record_kind", trigger, lang)
    return label("trigger", trigger, lang, definition=definition)


def role_needed(roles: Iterable[str], login: str, lang: str) -> str:
    """The roles that may act, each by its label beside the command that grants it (in backticks); the
    scheduler's own role, which no one is granted, by its label alone."""
    from iop_workflow.domain.values import GRANTABLE_ROLES  # noqa: PLC0415

    word = " eller " if lang != "en" else " or "
    return word.join(
        f"{label('role', r, lang)} (`iop role grant {login} {r}`)" if r in GRANTABLE_ROLES else label("role", r, lang)
        for r in sorted(roles)
    )


def program_codes() -> dict[str, tuple[str, ...]]:
    """The codes the program itself shows, by glossary section (the enums and registries it defines)."""
    from iop_workflow.domain import values  # noqa: PLC0415
    from iop_workflow.domain.guidelines import SOURCED, GuidelineStatus  # noqa: PLC0415
    from iop_workflow.service.correctable import FACTS  # noqa: PLC0415

    enums: dict[str, type[StrEnum]] = {
        "verdict": values.Verdict,
        "party": values.Party,
        "contribution_kind": values.ContributionKind,
        "legal_form": values.LegalForm,
        "criterion_kind": values.CriterionKind,
        "state_aid_basis": values.StateAidBasis,
        "initiator": values.Initiator,
        "guideline_status": GuidelineStatus,
        "decision_subject": values.DecisionSubject,
    }
    out = {section: tuple(e.value for e in enum) for section, enum in enums.items()}
    out["fact_kind"] = tuple(FACTS)
    out["recorded"] = tuple(FACTS)
    out["field"] = tuple(dict.fromkeys([*(f for _, fields in FACTS.values() for f in fields), *SOURCED]))
    return out


def definition_codes(definition: WorkflowDefinition) -> dict[str, tuple[str, ...]]:
    """The codes the definition uses that the glossary labels: roles, end reasons, alerts, timers."""
    roles = {r for t in definition.transitions for r in t.roles}
    roles |= {r for spec in definition.records.values() for r in spec.roles}
    reasons = {r for s in definition.states.values() for r in s.end_reasons}
    timers = [t for s in definition.states.values() for t in s.timers]
    alerts = {t.action.partition(":")[2] for t in timers if t.action.startswith("alert:")}
    return {
        "role": tuple(sorted(roles)),
        "end_reason": tuple(sorted(reasons)),
        "alert": tuple(sorted(alerts)),
        "timer": tuple(sorted({t.kind for t in timers})),
    }


def check(definition: WorkflowDefinition) -> None:
    """Every code the definition and the program use has a Swedish and an English label."""
    known = entries()
    missing = [
        f"{section}.{code}"
        for codes in (definition_codes(definition), program_codes())
        for section, values in codes.items()
        for code in values
        if code not in known.get(section, {})
    ]
    if missing:
        raise DefinitionError(file=FILE, key=missing[0], problem=f"no sv/en label for: {', '.join(missing)}")
