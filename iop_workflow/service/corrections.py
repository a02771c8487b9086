"""Correcting a recorded fact: never an edit, always a new logged correction or retraction.

The fact's row stays as it was; a ``corrections`` row and a ``record:correction``
log record (in the case's chain) say which field of which recorded fact now
reads what, who said so and why. Views, reports, the guards and the timers read
facts through them: a corrected agreement date moves the case's open deadlines.

A retraction (``retractions`` row and ``record:retraction`` record) withdraws a whole
fact, e.g. a contribution recorded twice: the rules, reports and views read the facts
without it, and the case's open deadlines are planned anew as for a correction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow import glossary
from iop_workflow.audit.chain import LogRecord, record_from_row
from iop_workflow.domain.timers import ANCHOR_READS, PlannedTimer, logged, plan
from iop_workflow.errors import IntegrityError, InvalidInput, TransitionNotAllowed, Unmet
from iop_workflow.service import correctable, validate
from iop_workflow.service.changes import record_fact
from iop_workflow.service.context import Actor, App, case_actor
from iop_workflow.service.records import decision_body
from iop_workflow.store import cases as repo
from iop_workflow.store import corrections as store
from iop_workflow.store import facts as fact_repo
from iop_workflow.store import retractions
from iop_workflow.store import timers as timer_repo


def correct(
    app: App, actor: Actor, ref: str, *, kind: str, entry: int | str, field: str, value: object, reason: str
) -> LogRecord:
    """Correct ``field`` of the fact recorded by log entry ``entry`` (its ``case_seq``) of case ``ref``.

    Raises InvalidInput (unknown kind or field, a bad value, the value it already has,
    an entry the case does not have or that recorded another kind), NotFound (the case) and
    TransitionNotAllowed (the actor may not record that kind of fact).
    """
    spec = correctable.spec(kind, field)
    new = spec.parse(field, value)
    reason = validate.text("reason", reason, max_len=4000)
    number = validate.whole("entry", entry, low=1, high=2_000_000_000)
    table = correctable.FACTS[kind][0]
    with app.db.write() as s:
        case = repo.case_row(s, ref)
        actor = case_actor(actor, case)
        _admit(app, actor, case, kind)
        if spec.in_case_time:
            correctable.in_case_time(
                field,
                spec.load(new),
                opened_on=case["opened_on"],
                today=app.clock.today(),
                history_from=case["history_from"],
            )
        target = _entry(s, ref, number, kind)
        fact = _fact_row(s, case, table, kind, target)
        _not_retracted(s, kind, number, fact)
        fixes = store.latest(s, kind, [fact["id"]]).get(fact["id"], {})
        current = fixes.get(field, correctable.as_json(fact[field]))
        if current == new:
            raise InvalidInput(
                field="value",
                value=value,
                problem_sv=f"{field} har redan det värdet",
                problem_en=f"{field} already has that value",
            )
        after = correctable.corrected(kind, fact, {**fixes, field: new})
        _consistent(kind, after)
        if kind == "decision" and field in {"body", "delegation_ref"}:  # still a body of the municipality
            body = decision_body(app, case["municipality"], after["body"], after["delegation_ref"])
            new = body if field == "body" else new
        moves = _deadline_moves(app, s, case, pending={(table, int(fact["id"])): {field: new}})
        data = {
            "correction": {
                "kind": kind,
                "entry": number,
                "entry_hash": target.hash,
                "fact_id": fact["id"],
                "field": field,
                "from": current,
                "to": new,
            },
            "timers": logged(moves.open_after),
        }
        record = record_fact(app, s, case, actor=actor, kind="correction", data=data, guideline_ref=None, reason=reason)
        store.insert(
            s,
            {
                "case_id": case["id"],
                "case_ref": ref,
                "fact_kind": kind,
                "fact_id": fact["id"],
                "corrects_case_seq": number,
                "field": field,
                "old_value": current,
                "new_value": new,
                "reason": reason,
                "log_seq": record.seq,
                "corrected_by": actor.name,
                "corrected_at": app.clock.now(),
            },
        )
        _move(s, case, moves, app.clock.now(), outcome="moved by a correction")
    app.sink.emit(record)
    return record


def retract(app: App, actor: Actor, ref: str, *, kind: str, entry: int | str, reason: str | None) -> LogRecord:
    """Withdraw the ``kind`` fact recorded by log entry ``entry`` (its ``case_seq``) of case ``ref``.

    The fact's row stays; a ``record:retraction`` record and a ``retractions`` row say that it no
    longer counts, who said so and why. Rules, reports and views read the facts without it from
    then on; what was decided before stays decided. Open deadlines are planned anew.
    Raises InvalidInput (unknown kind, no reason, an entry the case does not have or that
    recorded another kind, a fact already retracted), NotFound (the case) and
    TransitionNotAllowed (the actor may not record that kind of fact); nothing is written then.
    """
    table = correctable.table(kind)
    reason = validate.text("reason", reason, max_len=4000)
    number = validate.whole("entry", entry, low=1, high=2_000_000_000)
    with app.db.write() as s:
        case = repo.case_row(s, ref)
        actor = case_actor(actor, case)
        _admit(app, actor, case, kind, verb_sv="återta", verb_en="retract", trigger="record:retraction")
        target = _entry(s, ref, number, kind)
        fact = _fact_row(s, case, table, kind, target)
        _not_retracted(s, kind, number, fact)
        moves = _deadline_moves(app, s, case, pending={}, retracting=frozenset({(table, int(fact["id"]))}))
        data = {
            "retraction": {"kind": kind, "entry": number, "entry_hash": target.hash, "fact_id": fact["id"]},
            "timers": logged(moves.open_after),
        }
        record = record_fact(app, s, case, actor=actor, kind="retraction", data=data, guideline_ref=None, reason=reason)
        retractions.insert(
            s,
            {
                "case_id": case["id"],
                "case_ref": ref,
                "fact_kind": kind,
                "fact_id": fact["id"],
                "retracts_case_seq": number,
                "reason": reason,
                "log_seq": record.seq,
                "retracted_by": actor.name,
                "retracted_at": app.clock.now(),
            },
        )
        _move(s, case, moves, app.clock.now(), outcome="moved by a retraction")
    app.sink.emit(record)
    return record


def _not_retracted(s: Connection, kind: str, number: int, fact: sa.RowMapping) -> None:
    if int(fact["id"]) in retractions.retracted_ids(s, kind, [int(fact["id"])]):
        raise InvalidInput(
            field="entry",
            value=number,
            problem_sv=f"post #{number} ({glossary.label('fact_kind', kind, 'sv')}) är redan återtagen",
            problem_en=f"entry #{number} ({kind}) was already retracted",
        )


def _admit(
    app: App,
    actor: Actor,
    case: sa.RowMapping,
    kind: str,
    *,
    verb_sv: str = "rätta",
    verb_en: str = "correct",
    trigger: str = "record:correction",
) -> None:
    rule = app.definition.records.get(kind)
    roles = rule.roles if rule is not None else frozenset()  # admin administers; it corrects no fact
    if actor.roles & roles:
        return
    needs = ", ".join(sorted(roles))
    raise TransitionNotAllowed(
        case_ref=case["ref"],
        trigger=trigger,
        state=case["state"],
        reasons=[
            Unmet(
                code="role_not_allowed",
                sv=f"{actor.name} får inte {verb_sv} {glossary.label('fact_kind', kind, 'sv')}; det kräver "
                f"behörigheten {glossary.role_needed(roles, actor.name, 'sv')}",
                en=f"{actor.name} may not {verb_en} a {kind}; it needs one of: {needs}",
            ),
        ],
    )


def _entry(s: Connection, ref: str, number: int, kind: str) -> LogRecord:
    row = (
        s.execute(sa.select(repo.LOG).where(repo.LOG.c.case_ref == ref, repo.LOG.c.case_seq == number))
        .mappings()
        .first()
    )
    if row is None:  # the case exists (read first): the entry number is a bad argument, exit 6
        raise InvalidInput(
            field="entry",
            value=number,
            problem_sv=f"ärendet {ref} har ingen post #{number}",
            problem_en=f"case {ref} has no entry #{number}",
        )
    rec = record_from_row(row)
    if rec.trigger != f"record:{kind}":
        raise InvalidInput(
            field="entry",
            value=number,
            problem_sv=f"post #{number} är {rec.trigger}, inte record:{kind}",
            problem_en=f"entry #{number} is {rec.trigger}, not record:{kind}",
        )
    return rec


def _fact_row(s: Connection, case: sa.RowMapping, table: str, kind: str, target: LogRecord) -> sa.RowMapping:
    """The fact row a ``record:<kind>`` entry wrote: the row bound to it (``log_seq``)."""
    facts = repo.FACT_TABLES[table]
    row = s.execute(sa.select(facts).where(facts.c.log_seq == target.seq)).mappings().first()
    if row is None or row["case_id"] != case["id"]:
        problem = f"no {table} row is bound to this record:{kind} entry"
        raise IntegrityError(
            problems=[{"case_ref": case["ref"], "case_seq": target.case_seq, "field": "fact", "problem": problem}]
        )
    return row


def _consistent(kind: str, fact: dict[str, Any]) -> None:
    if kind == "agreement" and fact["end_on"] <= fact["start_on"]:
        start, end = fact["start_on"], fact["end_on"]
        raise InvalidInput(
            field="value",
            value=str(end),
            problem_sv=f"slutdatum {end} ligger inte efter startdatum {start}",
            problem_en=f"end date {end} is not after start date {start}",
        )


_RECORDED = (
    sa.select(repo.LOG.c.seq, repo.LOG.c.case_seq, repo.LOG.c.trigger, repo.LOG.c.at, repo.LOG.c.actor, repo.LOG.c.data)
    .where(repo.LOG.c.case_ref == sa.bindparam("ref"), repo.LOG.c.trigger.like("record:%"))
    .order_by(repo.LOG.c.case_seq)
)


def recorded_facts(s: Connection, ref: str) -> list[dict[str, Any]]:
    """The case's recorded facts as logged, with every correction applied and listed.

    Each fact has ``retracted`` (None, or who retracted it in which entry and why); each agreement
    ``status``: ``in_force`` (the latest not retracted of its period), ``superseded`` (by the next
    one of its period: ``superseded_by``, an entry) or ``retracted``.
    """
    rows = s.execute(_RECORDED, {"ref": ref}).mappings().all()
    entry_of = {r["seq"]: r["case_seq"] for r in rows}
    fixes: dict[int, dict[str, Any]] = {}
    for c in store.for_case(s, ref):
        fixes.setdefault(c["corrects_case_seq"], {})[c["field"]] = {
            "from": c["old_value"],
            "to": c["new_value"],
            "entry": entry_of.get(c["log_seq"]),
            "by": c["corrected_by"],
            "reason": c["reason"],
        }
    withdrawn = {
        r["retracts_case_seq"]: {"entry": entry_of.get(r["log_seq"]), "by": r["retracted_by"], "reason": r["reason"]}
        for r in retractions.for_case_ref(s, ref)
    }
    out = []
    for row in rows:
        kind = row["trigger"].removeprefix("record:")
        if kind in ("correction", "retraction"):
            continue
        body = json.loads(row["data"]).get(kind.replace("-", "_"), {})
        values = dict(body) if isinstance(body, dict) else {"value": body}
        mine = fixes.get(row["case_seq"], {})
        values.update({field: c["to"] for field, c in mine.items()})
        out.append(
            {
                "kind": kind,
                "entry": row["case_seq"],
                "at": row["at"],
                "actor": row["actor"],
                "values": values,
                "corrections": mine,
                "retracted": withdrawn.get(row["case_seq"]),
            }
        )
    _agreement_status(out)
    return out


def _agreement_status(facts: list[dict[str, Any]]) -> None:
    """Mark each agreement in force, superseded (by the next of its period) or retracted."""
    later: dict[Any, int] = {}  # period -> the entry of the next agreement not retracted
    for fact in reversed(facts):
        if fact["kind"] != "agreement":
            continue
        if fact["retracted"] is not None:
            fact.update(status="retracted", superseded_by=None)
            continue
        period = fact["values"].get("period")
        after = later.get(period)
        fact.update(status="in_force" if after is None else "superseded", superseded_by=after)
        later[period] = fact["entry"]


@dataclass(frozen=True, slots=True)
class _Moves:
    cancel: list[int]  # open timers whose deadline moved or no longer applies
    add: list[PlannedTimer]  # the moved ones, planned anew
    open_after: list[PlannedTimer]  # the case's open timers once the correction is written (its record says so)


def _deadline_moves(
    app: App,
    s: Connection,
    case: sa.RowMapping,
    *,
    pending: store.Fixes,
    retracting: retractions.Retracted = frozenset(),
) -> _Moves:
    """How the open timers of the case's state move on the corrected facts (``pending`` applied,
    ``retracting`` left out).

    A timer whose deadline moved is cancelled (outcome ``moved by a correction`` or ``by a
    retraction``) and planned anew; one that no longer applies is cancelled; fired timers stay.
    """
    rows = timer_repo.open_for_case(s, case["id"])
    kept = [PlannedTimer(kind=r["kind"], due_on=r["due_on"], action=r["action"]) for r in rows]
    state = app.definition.state(case["state"])
    if not state.timers:
        return _Moves(cancel=[], add=[], open_after=kept)
    kinds = frozenset().union(*(ANCHOR_READS[t.anchor] for t in state.timers))
    facts = fact_repo.build_facts(
        s,
        case,
        app.guidelines,
        kinds,
        preparing=app.definition.states_in("preparing"),
        pending=pending,
        retracting=retracting,
    )
    planned = {t.kind: t for t in plan(state, facts, app.settings.lead_times)}
    moves = _Moves(cancel=[], add=[], open_after=[])
    for row, timer in zip(rows, kept, strict=True):
        new = planned.get(row["kind"])
        if new is not None and new.due_on == row["due_on"]:
            moves.open_after.append(timer)
            continue
        moves.cancel.append(int(row["id"]))
        if new is not None:
            moves.add.append(new)
            moves.open_after.append(new)
    return moves


def _move(s: Connection, case: sa.RowMapping, moves: _Moves, now: datetime, *, outcome: str) -> None:
    for timer_id in moves.cancel:
        timer_repo.mark(s, timer_id, now, outcome=outcome, cancelled=True)
    repo.insert_timers(s, case["id"], case["state"], moves.add, now)
