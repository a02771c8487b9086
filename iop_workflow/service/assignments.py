"""Assigning officers to a case (``iop case assign REF LOGIN``): who else has a need to know.

An assignment (or its removal) is a ``record:assignment`` record in the case's chain:
``data.assignment = {"login", "removed"}``, the state kept, the case's version bumped,
one transaction. The case's assigned officers are the fold of those records
(``need_to_know.assigned``); nothing else stores them, so the chain is the only truth.

Who may assign: a coordinator of the case's municipality, or the officer who opened the
case (an assigned officer may not pass the case on). The assignee must hold the role
``officer`` in the case's municipality. Only open cases (not in a terminal state).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from iop_workflow.errors import InvalidInput, NotFound, TransitionNotAllowed, Unmet
from iop_workflow.municipalities import name_of
from iop_workflow.service import identity
from iop_workflow.service.changes import record_fact
from iop_workflow.service.context import WILDCARD, Actor, App, case_actor
from iop_workflow.service.need_to_know import OFFICER, assigned
from iop_workflow.store import cases as repo
from iop_workflow.store import identity as grants

KIND = "assignment"
COORDINATOR = "coordinator"
PRINCIPAL_OF_TOKEN = "token:"  # noqa: S105 - not a secret: how an API token's principal name starts (service/tokens.py)
# Not a fact (nothing to correct, no fact table): any state that is not terminal, by these roles;
# ``audit verify`` holds the records to the same (service/legality.record_rules).
ROLES = frozenset({COORDINATOR, OFFICER})


def assign(app: App, actor: Actor, ref: str, login: str, *, remove: bool = False) -> dict[str, Any]:
    """Assign ``login`` to case ``ref`` (``remove``: take the assignment back); what changed.

    Raises NotFound (the case; with ``remove``, an assignment that does not exist),
    TransitionNotAllowed (a closed case, or an actor who is neither a coordinator nor the
    case's own officer: exit 3) and InvalidInput (a login that does not hold the role
    officer in the case's municipality: exit 6). Assigning someone already assigned writes
    nothing (``changed: false``). A refusal writes nothing.
    """
    login = identity.login_name(login)
    with app.db.write() as s:
        case = repo.case_row(s, ref)
        actor = case_actor(actor, case)
        _admit(app, actor, case, login, remove=remove)
        current = assigned(s, ref)
        if not remove:
            _officer(app, s, login, str(case["municipality"]))
            if login in current:
                return _result(ref, login, remove=remove, changed=False, current=current)
        elif login not in current:
            raise NotFound(kind="assignment", key=f"{login} ({ref})")
        record = record_fact(
            app, s, case, actor=actor, kind=KIND, data={KIND: {"login": login, "removed": remove}}, guideline_ref=None
        )
        after = assigned(s, ref)
    app.sink.emit(record)
    return {**_result(ref, login, remove=remove, changed=True, current=after), "seq": record.seq}


def _result(ref: str, login: str, *, remove: bool, changed: bool, current: list[str]) -> dict[str, Any]:
    return {
        "case_ref": ref,
        "login": login,
        "assigned": not remove,
        "changed": changed,
        "assigned_officers": list(current),
    }


def _admit(app: App, actor: Actor, case: sa.RowMapping, login: str, *, remove: bool) -> None:
    reasons = []
    state = app.definition.state(case["state"])
    if state.terminal:
        reasons.append(
            Unmet(
                code="case_closed",
                sv=f"ärendet är {state.label_sv.lower()}: handläggare kan bara tilldelas ett pågående ärende",
                en=f"the case is {state.label_en.lower()}: officers are assigned only to an open case",
            )
        )
    own = OFFICER in actor.roles and case["officer"] == actor.name
    if COORDINATOR not in actor.roles and not own:
        what_sv, what_en = ("ta bort", "remove") if remove else ("tilldela", "assign")
        place = name_of(case["municipality"])
        reasons.append(
            Unmet(
                code="role_not_allowed",
                sv=f"{actor.name} får inte {what_sv} handläggare i {case['ref']}; det får en IOP-samordnare "
                f"i {place} eller ärendets egen handläggare ({case['officer']})",
                en=f"{actor.name} may not {what_en} officers on {case['ref']}; a coordinator of {place} "
                f"or the case's own officer ({case['officer']}) may",
            )
        )
    if reasons:
        trigger = f"record:{KIND}"
        raise TransitionNotAllowed(case_ref=case["ref"], trigger=trigger, state=case["state"], reasons=reasons)


def _officer(app: App, s: sa.Connection, login: str, municipality: str) -> None:
    """Refuse (InvalidInput) a ``login`` that does not hold the role officer in ``municipality``.

    A login's roles are its grants; an API token's principal (``token:NAME``) holds its token's roles.
    """
    held = grants.grants_of(s, [login])
    pairs = held[login] | held[WILDCARD]
    if login.startswith(PRINCIPAL_OF_TOKEN):
        pairs = grants.token_grants(s, login.removeprefix(PRINCIPAL_OF_TOKEN), app.clock.today())
    place = municipality.casefold()
    if any(role == OFFICER and (m == WILDCARD or m.casefold() == place) for role, m in pairs):
        return
    name = name_of(municipality)
    raise InvalidInput(
        field="login",
        value=login,
        problem_sv=f"har inte rollen officer (handläggare) i {name}; ge den först: `iop role grant {login} "
        f"officer --municipality {name}`",
        problem_en=f"does not hold the role officer in {name}; grant it first: `iop role grant {login} "
        f"officer --municipality {name}`",
    )
