"""``iop guideline confirm``: a coordinator confirms a guideline's decision against its minutes.

The confirmation amends the guideline's current version in place (cases bound to that version
see it confirmed at once) and is a record of the guideline's chain ``@guideline:<ref>``,
``guideline:confirm``, holding the amended version's full content and its hash, like a load
record. The row then names that record, so ``audit verify`` holds the row to it.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from iop_workflow.domain.guidelines import Guideline, GuidelineStatus, Provenance
from iop_workflow.errors import GuidelineNotAdopted, InvalidInput, NotFound
from iop_workflow.glossary import label
from iop_workflow.service import validate
from iop_workflow.service.changes import append_chain_record, lock_chain
from iop_workflow.service.context import Actor, App
from iop_workflow.service.guidelines import CONFIRM, STATE, chain_of, require_coordinator
from iop_workflow.store import guidelines as store


def confirm(
    app: App,
    actor: Actor,
    ref: str,
    *,
    decided_on: object,
    decided_by: object,
    minutes_ref: object,
    valid_from: object = None,
    valid_until: object = None,
) -> dict[str, Any]:
    """Confirm guideline ``ref``'s decision; return what the record says (``seq``, ``in_force`` today).

    Exit 6 (InvalidInput) for a bad or future date or dates out of order, 4 for an unknown ref,
    3 for an actor who is not coordinator in the guideline's municipality or a guideline that
    is not adopted. Nothing is written then.
    """
    facts = {
        "decided_on": validate.day("decided_on", decided_on),
        "decided_by": validate.text("decided_by", decided_by, max_len=300),
        "minutes_ref": validate.text("minutes_ref", minutes_ref, max_len=300),
        "valid_from": validate.day("valid_from", valid_from) if valid_from not in (None, "") else None,
        "valid_until": validate.day("valid_until", valid_until) if valid_until not in (None, "") else None,
    }
    today = app.clock.today()
    _in_order(facts, today)
    with app.db.write() as s:
        lock_chain(s, chain_of(ref))  # before reading the current version (a load at the same time)
        row = store.latest(s, ref)
        if row is None:
            raise NotFound(kind="guideline", key=ref)
        g = store.from_row(s, row)
        require_coordinator(actor, g, verb_sv="bekräfta", verb_en="confirm")
        if g.status is not GuidelineStatus.ADOPTED:
            status_sv = label("guideline_status", g.status, "sv")
            raise GuidelineNotAdopted(ref=ref, status=g.status.value, status_sv=status_sv)
        amended = confirmed(g, facts, by=actor.name, on=today)
        _in_order({**facts, "valid_from": amended.valid_from, "valid_until": amended.valid_until}, today)
        content = store.content_of(amended)
        shown = {k: v.isoformat() if isinstance(v, date) else v for k, v in facts.items()}
        data = {
            "version": row["version"],
            "content_hash": store.digest_of(content),
            "guideline": content,
            "confirmed": shown,
        }
        rec = append_chain_record(
            app, s, chain_of(ref), actor=actor, trigger=CONFIRM, state=STATE, data=data, guideline_ref=ref
        )
        store.amend(s, int(row["id"]), amended, log_seq=int(rec.seq or 0))
    app.sink.emit(rec)
    return {
        "ref": ref,
        "version": row["version"],
        "seq": rec.seq,
        "confirmed": shown,
        "in_force": amended.in_force(today),
        "unverified": list(amended.unverified()),
    }


def confirmed(g: Guideline, facts: dict[str, Any], *, by: str, on: date) -> Guideline:
    """``g`` with the confirmed decision: status, decision and dates verified by ``by`` on ``on``."""
    source = f"iop guideline confirm: {by}, {on.isoformat()}"
    quote = f"{facts['decided_by']} {facts['minutes_ref']}, {facts['decided_on'].isoformat()}"
    proof = Provenance(source=source, quote=quote, verified=True)
    sources = dict(g.provenance)
    for name in ("status", "decided_on", "decided_by", "minutes_ref"):
        sources[name] = proof
    valid_from = facts["valid_from"]
    if valid_from is not None:
        sources["valid_from"] = proof
    elif g.valid_from is not None and "valid_from" not in g.unverified():
        valid_from = g.valid_from  # already verified: kept
    else:
        valid_from = facts["decided_on"]
        sources["valid_from"] = dataclasses.replace(
            proof, source=f"{source}; ingen egen giltighetsdag angavs, så beslutsdagen gäller"
        )
    valid_until = g.valid_until
    if facts["valid_until"] is not None:
        valid_until = facts["valid_until"]
        sources["valid_until"] = proof
    order = [name for name, _p in g.provenance] + [n for n in sources if n not in dict(g.provenance)]
    return dataclasses.replace(
        g,
        decided_on=facts["decided_on"],
        decided_by=facts["decided_by"],
        minutes_ref=facts["minutes_ref"],
        valid_from=valid_from,
        valid_until=valid_until,
        provenance=tuple((n, sources[n]) for n in order),
    )


def _in_order(facts: dict[str, Any], today: date) -> None:
    decided, start, end = facts["decided_on"], facts["valid_from"], facts["valid_until"]
    if decided > today:
        raise InvalidInput(
            field="decided_on",
            value=decided.isoformat(),
            problem_sv=f"ligger efter dagens datum {today}",
            problem_en=f"is after today {today}",
        )
    if start is not None and start < decided:
        raise InvalidInput(
            field="valid_from",
            value=start.isoformat(),
            problem_sv=f"ligger före beslutsdagen {decided}",
            problem_en=f"is before the decision date {decided}",
        )
    if end is not None and end < (start or decided):
        raise InvalidInput(
            field="valid_until",
            value=end.isoformat(),
            problem_sv=f"ligger före {start or decided}",
            problem_en=f"is before {start or decided}",
        )
