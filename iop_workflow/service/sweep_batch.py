"""The sweep's batch path: a batch's transitions decided one by one, written together.

The per-timer path (``sweep._run_timer``) runs about ten statements for each
timer. Here a batch of due ``fire:`` timers reads its cases and their facts with
one query per table, decides each transition with the same pure rules
(``workflow.decide``), and writes the marks, the case updates, the log records and
the new timers with one statement each, inside one SAVEPOINT. What this path does
not take goes the per-timer way, which reports it: a timer whose case has moved
on, a refused transition, a later timer of a case already in the batch (it must
see the first one's effects), an alert. If a set-wise write touches other rows
than expected, the SAVEPOINT rolls back and the whole batch goes the per-timer
way: the batch path only ever adds speed, never a different outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord, content_hash
from iop_workflow.domain.definition import TransitionSpec
from iop_workflow.domain.facts import CaseFacts
from iop_workflow.errors import IopError
from iop_workflow.service.changes import record_content, sealed
from iop_workflow.service.context import Actor, App
from iop_workflow.service.workflow import Step, decide
from iop_workflow.store import bulk
from iop_workflow.store.cases import timer_rows

Planned = tuple[sa.RowMapping, sa.RowMapping, Step]  # (timer, case, step)


def fire_batch(
    app: App, s: Connection, actor: Actor, timers: Sequence[sa.RowMapping], now: datetime
) -> tuple[set[int], list[LogRecord]]:
    """Fire what the batch path can take; return the ids of the timers fired and their records."""
    firsts = _first_fire_per_case(timers)
    if not firsts:
        return set(), []
    cases = bulk.cases_by_id(s, {row["case_id"] for row in firsts})
    resolved: list[tuple[sa.RowMapping, sa.RowMapping, TransitionSpec]] = []
    for row in firsts:
        case = cases[row["case_id"]]
        if case["state"] != row["state"]:
            continue
        try:
            spec = app.engine.resolve(row["action"].partition(":")[2], case["state"], case["ref"])
        except IopError:
            continue
        resolved.append((row, case, spec))
    kinds = frozenset().union(*(app.engine.reads(spec) for _, _, spec in resolved))
    try:
        facts = bulk.build_facts_many(s, [case for _, case, _ in resolved], app.guidelines, kinds)
    except Exception:  # one case's bad row: the per-timer path isolates and reports it
        return set(), []
    planned = _decided(app, s, actor, resolved, facts)
    if not planned:
        return set(), []
    savepoint = s.begin_nested()
    try:
        records = _write(app, s, actor, planned, now)
    except sa.exc.OperationalError:
        raise  # the database itself is failing: the sweep stops, the next one retries
    except Exception:  # whatever broke, the per-timer path fires (or isolates) each one
        savepoint.rollback()
        return set(), []
    savepoint.commit()
    return {row["id"] for row, _, _ in planned}, records


def _decided(
    app: App, s: Connection, actor: Actor, resolved: Sequence[tuple[sa.RowMapping, sa.RowMapping, TransitionSpec]],
    facts: Mapping[int, CaseFacts],
) -> list[Planned]:
    """The timers whose transition is decided; the rest (refused, invalid, broken) go the per-timer way,
    which records why and alerts a person."""
    planned: list[Planned] = []
    for row, case, spec in resolved:
        try:
            planned.append((row, case, decide(app, s, actor, case, spec=spec, facts=facts[case["id"]])))
        except Exception:  # noqa: S112 - the per-timer path reports it, timer by timer
            continue
    return planned


def _first_fire_per_case(timers: Sequence[sa.RowMapping]) -> list[sa.RowMapping]:
    """Each case's first timer in the batch, when it fires a trigger."""
    seen: set[int] = set()
    out = []
    for row in timers:
        if row["case_id"] in seen:
            continue
        seen.add(row["case_id"])
        if row["action"].startswith("fire:"):
            out.append(row)
    return out


def _write(app: App, s: Connection, actor: Actor, planned: Sequence[Planned], now: datetime) -> list[LogRecord]:
    """The batch's writes, in the order one transition makes them (``workflow.fire_on``)."""
    bulk.mark_fired(s, [row["id"] for row, _, _ in planned], now)
    bulk.update_cases(s, [(case, {**step.values, "updated_at": now}) for _, case, step in planned])
    heads = bulk.chain_heads(s, [case["ref"] for _, case, _ in planned])
    contents = []
    for _, case, step in planned:
        last_seq, prev_hash = heads[case["ref"]]
        content = record_content(
            app, case_ref=case["ref"], case_seq=last_seq + 1, prev_hash=prev_hash, actor=actor,
            trigger=step.spec.trigger, from_state=case["state"], to_state=step.dest, reason=None,
            data=step.data, guideline_ref=step.guideline_ref, now=now,
        )  # fmt: skip
        contents.append((content, content_hash(content)))
    seqs = bulk.insert_logs(s, contents)
    new_timers = [row for _, case, step in planned for row in timer_rows(case["id"], step.dest, step.timers, now)]
    bulk.replace_timers(s, [case["id"] for _, case, _ in planned], new_timers, now)
    return [sealed(content, digest, seq) for (content, digest), seq in zip(contents, seqs, strict=True)]
