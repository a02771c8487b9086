"""Reading an import file (``iop case import FILE``): TOML or JSON, its keys checked, its SHA-256 taken.

The file describes one existing partnership and its history (docs/import.md). This module
only reads and checks its shape: every key known (an unknown one names the nearest known
key), every entry an object, every person who did a step declared under ``[people]`` with
the roles they held then. Values are checked by the same service functions a live case uses
(service/case_import.py runs them), so no rule is written twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iop_workflow.domain import tomldoc
from iop_workflow.domain.values import ROLES
from iop_workflow.errors import DefinitionError, InvalidInput
from iop_workflow.resources import MAX_INPUT_BYTES, read_bytes

# A step's person and business day; each entry's own keys are those of its record command
# (service/records.py, `iop case record KIND`), so a file reads like the commands it replaces.
_STEP = ("by", "on")
ORGANISATION = (
    "org_number",
    "name",
    "legal_form",
    "non_profit",
    "protected",
    "contact_name",
    "contact_email",
    "contact_phone",
    "address",
)
MEETING = ("held_on", "joint_challenge", "participants", "notes", "by")
CRITERION = ("criterion", "verdict", "note", *_STEP)
LEGAL_CHECK = (
    "competence",
    "procurement_not_required",
    "no_competition_distortion",
    "state_aid_basis",
    "state_aid_amount_sek",
    "rationale",
    *_STEP,
)
AGREEMENT = ("start_on", "end_on", "notice_months", "purpose", *_STEP)
CONTRIBUTION = ("party", "kind", "amount", "unit", "description", *_STEP)
DECISION = ("body", "decided_on", "minutes_ref", "delegation_ref", "by")
REVIEW = ("started_on", "started_by", "held_on", "report_received", "summary", "by", "continued_on", "continued_by")
SECTIONS: Mapping[str, tuple[str, ...]] = {
    "initiative": _STEP,
    "dialogue": (*_STEP, "meetings"),
    "assessment": (*_STEP, "criteria"),
    "legal_check": LEGAL_CHECK,
    "agreement": AGREEMENT,
    "decision": DECISION,
    "signing": _STEP,
}
LISTS: Mapping[str, tuple[str, ...]] = {"contributions": CONTRIBUTION, "reviews": REVIEW}
TOP = (
    "history_from",
    "organisation",
    "municipality",
    "title",
    "challenge",
    "unit",
    "initiated_by",
    "people",
    *SECTIONS,
    *LISTS,
)
REQUIRED = ("history_from", "organisation", "municipality", "title", "challenge", "people", "initiative")
# Roles a file may declare for the people who did its steps: the workflow's roles of people.
PEOPLE_ROLES = frozenset(ROLES - {"admin", "system", "auditor"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportFile:
    """A checked import file: its name, its SHA-256 (of the bytes read) and its content."""

    file: str
    sha256: str
    content: dict[str, Any]
    people: dict[str, frozenset[str]]


def read(path: Path) -> ImportFile:
    """The file at ``path`` (a regular file within the size limit), parsed by its suffix and checked."""
    return from_bytes(str(path), read_bytes(path, field="FILE"))


def from_text(name: str, content: str) -> ImportFile:
    """A file's content sent as text (``POST /v1/cases/imports``): its UTF-8 bytes are the file's,
    so it has the digest the same file has on disk; the size limit is the loaders'."""
    raw = content.encode("utf-8", errors="replace")
    if len(raw) > MAX_INPUT_BYTES:
        raise InvalidInput(
            field="content",
            value=name,
            problem_sv=f"är större än {MAX_INPUT_BYTES} byte; större filer läses inte",
            problem_en=f"is larger than {MAX_INPUT_BYTES} bytes; larger files are not read",
        )
    return from_bytes(name, raw)


def from_bytes(file: str, raw: bytes) -> ImportFile:
    """The file ``file``'s bytes, parsed by its suffix (``.toml``, ``.json``) and checked."""
    digest = hashlib.sha256(raw).hexdigest()
    suffix = Path(file).suffix.lower()
    if suffix not in {".toml", ".json"}:
        raise DefinitionError(file=file, key="(suffix)", problem="an import file is .toml or .json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError(file=file, key="(encoding)", problem=f"not UTF-8 (byte {exc.start})") from exc
    return parse(file, text, digest, as_json=suffix == ".json")


def parse(file: str, text: str, digest: str, *, as_json: bool) -> ImportFile:
    content = _json(file, text) if as_json else tomldoc.parse(text, file=file)
    check(file, content)
    return ImportFile(file=file, sha256=digest, content=content, people=_people(file, content["people"]))


def _json(file: str, text: str) -> dict[str, Any]:
    try:
        content = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise DefinitionError(file=file, key="(syntax)", problem=f"not valid JSON: {exc}") from None
    except RecursionError:
        raise DefinitionError(file=file, key="(syntax)", problem="not valid JSON: nested too deeply") from None
    if not isinstance(content, dict):
        raise DefinitionError(file=file, key="(content)", problem="must be a JSON object")
    return content


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def check(file: str, content: Mapping[str, Any]) -> None:
    """Every key known, every required one there, every entry an object (DefinitionError naming the key)."""
    tomldoc.check_keys(content, file=file, key="", allowed=TOP, required=REQUIRED)
    organisation = content["organisation"]
    if isinstance(organisation, str):
        organisation = {"org_number": organisation}
    tomldoc.check_keys(_table(file, "organisation", organisation), file=file, key="organisation", allowed=ORGANISATION)
    for name, keys in SECTIONS.items():
        if name in content:
            tomldoc.check_keys(_table(file, name, content[name]), file=file, key=name, allowed=keys)
    for name, entries in (
        ("dialogue.meetings", _nested(content, "dialogue", "meetings")),
        ("assessment.criteria", _nested(content, "assessment", "criteria")),
        *((n, content.get(n, [])) for n in LISTS),
    ):
        keys = {"dialogue.meetings": MEETING, "assessment.criteria": CRITERION}.get(name) or LISTS[name]
        if not isinstance(entries, list):
            raise DefinitionError(file=file, key=name, problem="must be a list of entries")
        for number, entry in enumerate(entries, start=1):
            where = f"{name}[{number}]"
            tomldoc.check_keys(_table(file, where, entry), file=file, key=where, allowed=keys)


def _nested(content: Mapping[str, Any], section: str, key: str) -> Any:
    found = content.get(section)
    return found.get(key, []) if isinstance(found, dict) else []


def _table(file: str, key: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise DefinitionError(file=file, key=key, problem="must be a table (an object) of keys")
    return value


def _people(file: str, value: object) -> dict[str, frozenset[str]]:
    """``[people]``: each login who did a step, with the roles they held then."""
    table = _table(file, "people", value)
    out: dict[str, frozenset[str]] = {}
    for login, roles in table.items():
        where = f"people.{login}"
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            raise DefinitionError(file=file, key=where, problem='a list of roles, e.g. ["officer"]')
        for role in roles:
            if role not in PEOPLE_ROLES:
                raise tomldoc.unknown(file, f"{where}.{role}", sorted(PEOPLE_ROLES), "not a role a person holds")
        out[login] = frozenset(roles)
    return out
