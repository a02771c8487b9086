"""What must hold after every kill, checked with raw SQL (one snapshot) and the verify service.

Each check returns a list of problems, one sentence each; an empty list means it holds.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.reliability import world as w
from tests.reliability.runner import Before, Run

# Anchors that always give a date for this harness's cases (every signed, active or review case has an
# agreement): entering a state with one of these plans that timer, every time.
ALWAYS_PLANNED = frozenset({"idle_deadline", "agreement_start", "agreement_expiry", "review_overdue"})
FACT_TABLES = {
    "meetings": "meeting",
    "assessments": "assessment",
    "legal_checks": "legal-check",
    "agreements": "agreement",
    "contributions": "contribution",
    "decisions": "decision",
    "reviews": "review",
}
_OPEN = "t.fired_at IS NULL AND t.cancelled_at IS NULL"
_TIMERS = "FROM timers t JOIN cases c ON c.id = t.case_id"


def database(world: w.World) -> list[str]:
    """Every invariant of the stored data (raw SQL), then the verify service."""
    with world.raw.snapshot() as q:
        problems = [*_states(q), *_ref_counters(world, q), *_facts(q), *_timers(world, q), *_pages(world, q)]
    report = world.iop.verify()
    problems += [f"verify: {p}" for p in report.problems]
    return problems


def _states(q: w.Query) -> list[str]:
    out = []
    rows = q(
        "SELECT c.ref, c.state, c.version, c.end_reason, n.cnt, n.top, l.to_state, l.data FROM cases c "
        "LEFT JOIN (SELECT case_ref, count(*) AS cnt, max(case_seq) AS top FROM transition_log GROUP BY case_ref) n "
        "ON n.case_ref = c.ref LEFT JOIN transition_log l ON l.case_ref = c.ref AND l.case_seq = n.top"
    )
    for ref, state, version, end_reason, count, top, last_state, data in rows:
        if count is None:
            out.append(f"{ref}: a case without any log record")
            continue
        if last_state != state:
            out.append(f"{ref}: state {state!r} but its last log record ends in {last_state!r}")
        if version != count:
            out.append(f"{ref}: version {version} but {count} log records (a change without its record or back)")
        if top != count:
            out.append(f"{ref}: case_seq runs to {top} over {count} records")
        logged = json.loads(data).get("end_reason") if state == "ended" else None
        if state == "ended" and logged != end_reason:
            out.append(f"{ref}: end_reason {end_reason!r} but the log says {logged!r}")
    for (ref,) in q(
        "SELECT DISTINCT case_ref FROM transition_log WHERE case_ref NOT IN (SELECT ref FROM cases) "
        "AND case_ref NOT LIKE '@%'"
    ):
        out.append(f"{ref}: log records for a case that does not exist")
    return out


def _ref_counters(world: w.World, q: w.Query) -> list[str]:
    settings = world.iop.app.settings
    expected = {
        settings.case_ref(int(year), n)
        for year, last in q("SELECT year, last FROM case_ref_counters")
        for n in range(1, int(last) + 1)
    }
    refs = {str(r[0]) for r in q("SELECT ref FROM cases")}
    return (
        [f"case refs {sorted(refs ^ expected)[:5]} differ from the counters (an open half done)"]
        if (refs != expected)
        else []
    )


def _facts(q: w.Query) -> list[str]:
    logged = Counter(
        {
            (ref, trig): int(n)
            for ref, trig, n in q(
                'SELECT case_ref, "trigger", count(*) FROM transition_log WHERE "trigger" LIKE ? GROUP BY case_ref, "trigger"',
                ["record:%"],
            )
        }
    )
    out = []
    for table, kind in FACT_TABLES.items():
        stored = {
            str(ref): int(n)
            for ref, n in q(f"SELECT c.ref, count(*) FROM {table} f JOIN cases c ON c.id = f.case_id GROUP BY c.ref")
        }
        refs = stored.keys() | {ref for ref, trig in logged if trig == f"record:{kind}"}
        for ref in sorted(refs):
            if stored.get(ref, 0) != logged[(ref, f"record:{kind}")]:
                out.append(
                    f"{ref}: {stored.get(ref, 0)} {table} rows but {logged[(ref, f'record:{kind}')]} "
                    f"record:{kind} log records"
                )
    return out


def _timers(world: w.World, q: w.Query) -> list[str]:
    out = [
        f"{ref}: open {kind} timer of state {t_state} while the case is in {c_state}"
        for ref, kind, t_state, c_state in q(
            f"SELECT c.ref, t.kind, t.state, c.state {_TIMERS} WHERE {_OPEN} AND t.state <> c.state"
        )
    ]
    out += [
        f"{ref}: {n} open {kind} timers"
        for ref, kind, n in q(
            f"SELECT c.ref, t.kind, count(*) {_TIMERS} WHERE {_OPEN} GROUP BY c.ref, t.kind HAVING count(*) > 1"
        )
    ]
    out += [
        f"{ref}: {kind} timer failed: {outcome}"
        for ref, kind, outcome in q(
            f"SELECT c.ref, t.kind, t.outcome {_TIMERS} WHERE {_OPEN} AND t.outcome IS NOT NULL"
        )
    ]
    out += _planned(world, q)
    out += _fired(world, q)
    return out


def _planned(world: w.World, q: w.Query) -> list[str]:
    """Timers planned vs transitions into their state: never more; for always-planned kinds, as many."""
    planned = Counter(
        {
            (r, s, k): int(n)
            for r, s, k, n in q(f"SELECT c.ref, t.state, t.kind, count(*) {_TIMERS} GROUP BY c.ref, t.state, t.kind")
        }
    )
    entries = Counter(
        {
            (r, s): int(n)
            for r, s, n in q(
                'SELECT case_ref, to_state, count(*) FROM transition_log WHERE "trigger" NOT LIKE ? '
                "GROUP BY case_ref, to_state",
                ["record:%"],
            )
        }
    )
    out = [
        f"{r}: {n} {k} timers planned in {s} but {entries[(r, s)]} transitions into it (a timer without its transition)"
        for (r, s, k), n in planned.items()
        if n > entries[(r, s)]
    ]
    states = world.iop.app.definition.states
    always = {name: [t.kind for t in spec.timers if t.anchor in ALWAYS_PLANNED] for name, spec in states.items()}
    for (ref, state), n in entries.items():
        for kind in always.get(state, []):
            if planned[(ref, state, kind)] != n:
                out.append(f"{ref}: {n} transitions into {state} but {planned[(ref, state, kind)]} {kind} timers")
    return out


def _fired(world: w.World, q: w.Query) -> list[str]:
    """Each fired ``fire:`` timer has its scheduler transition; each ``alert:`` timer its alert; each refusal too."""
    fired = Counter(
        {
            (r, s, a): int(n)
            for r, s, a, n in q(
                f"SELECT c.ref, t.state, t.action, count(*) {_TIMERS} WHERE t.fired_at IS NOT NULL AND t.outcome = t.action "
                "GROUP BY c.ref, t.state, t.action"
            )
        }
    )
    swept = Counter(
        {
            (r, s, f"fire:{t}"): int(n)
            for r, s, t, n in q(
                'SELECT case_ref, from_state, "trigger", count(*) FROM transition_log WHERE source = ? '
                'GROUP BY case_ref, from_state, "trigger"',
                ["scheduler"],
            )
        }
    )
    fires = Counter({key: n for key, n in fired.items() if key[2].startswith("fire:")})
    out = [
        f"{r}: {fires[(r, s, a)]} fired {a} timers in {s} but {swept[(r, s, a)]} scheduler transitions"
        for r, s, a in sorted(fires.keys() | swept.keys())
        if fires[(r, s, a)] != swept[(r, s, a)]
    ]
    by_alert: Counter[tuple[str, str]] = Counter()
    for (ref, _state, action), n in fired.items():
        if action.startswith("alert:"):
            by_alert[(ref, action[len("alert:") :])] += n
    for ref, n in q(
        f"SELECT c.ref, count(*) {_TIMERS} WHERE t.fired_at IS NOT NULL AND t.outcome LIKE ? GROUP BY c.ref",
        ["refused:%"],
    ):
        by_alert[(ref, "timer_refused")] += int(n)
    kinds = (
        {k for _, k in by_alert}
        | {
            a.action.partition(":")[2]
            for s in world.iop.app.definition.states.values()
            for a in s.timers
            if a.action.startswith("alert:")
        }
        | {"timer_refused"}
    )
    raised = Counter(
        {
            (r, k): int(n)
            for r, k, n in q(
                "SELECT c.ref, a.kind, count(*) FROM alerts a JOIN cases c ON c.id = a.case_id GROUP BY c.ref, a.kind"
            )
            if k in kinds
        }
    )
    out += [
        f"{r}: {by_alert[(r, k)]} fired {k} timers but {raised[(r, k)]} {k} alerts"
        for r, k in sorted(by_alert.keys() | raised.keys())
        if by_alert[(r, k)] != raised[(r, k)]
    ]
    return out


def _pages(world: w.World, q: w.Query) -> list[str]:
    if world.backend != "sqlite":
        return []
    found = [str(r[0]) for r in q("PRAGMA integrity_check")]
    keys = q("PRAGMA foreign_key_check")
    return ([f"integrity_check: {found[:5]}"] if found != ["ok"] else []) + (
        [f"foreign_key_check: {keys[:5]}"] if keys else []
    )


def reported(world: w.World, run: Run, was: Before) -> list[str]:
    """What a run printed as done is in the database; a run that refused by itself wrote nothing."""
    problems: list[str] = []
    with world.raw.snapshot() as q:
        if run.reported is not None and run.status == 0:
            problems += _done(q, run.workload.kind, run.reported)
        if run.reported is not None and run.workload.kind == "batch" and run.status in {0, 3, 5}:
            for line in run.reported["results"]:
                if line["status"] == "done" and (_logged(q, line["seq"]) or ())[:2] != (line["ref"], line["state"]):
                    problems.append(f"batch line {line['line']}: reported {line['ref']} -> {line['state']} is missing")
        if not run.killed and run.status != 0:
            problems += _self_exit(q, run, was)
    return problems


def _logged(q: w.Query, seq: Any) -> tuple[Any, ...] | None:
    rows = q("SELECT case_ref, to_state, hash FROM transition_log WHERE seq = ?", [int(seq)])
    return tuple(rows[0]) if rows else None


def _done(q: w.Query, kind: str, out: Any) -> list[str]:
    if kind in {"fire", "record"}:
        record = out["record"] if kind == "fire" else out
        if _logged(q, record["seq"]) != (record["case_ref"], record["to_state"], record["hash"]):
            return [f"reported {record['case_ref']} #{record['case_seq']} is not in the log"]
    elif kind == "open" and not q("SELECT 1 FROM cases WHERE ref = ?", [out["ref"]]):
        return [f"reported new case {out['ref']} does not exist"]
    elif kind == "checkpoint" and q("SELECT digest FROM checkpoints WHERE seq = ?", [out["seq"]]) != [(out["digest"],)]:
        return [f"reported checkpoint {out['seq']} is not stored"]
    elif kind == "tick":
        return _tick_items(q, out)
    return []


def _tick_items(q: w.Query, out: dict[str, Any]) -> list[str]:
    problems = [f"the sweep reported {out['failed']} failed timers"] if out["failed"] else []
    for sweep in out["sweeps"]:
        for item in sweep["items"]:
            if "timer" not in item:
                continue
            rows = q("SELECT fired_at, cancelled_at, outcome, action FROM timers WHERE id = ?", [item["timer"]])
            fired_at, cancelled_at, outcome, action = rows[0]
            fine = {
                "fired": fired_at is not None and outcome == action,
                "alert": fired_at is not None and outcome == action,
                "refused": fired_at is not None and str(outcome).startswith("refused"),
                "skipped": fired_at is not None or cancelled_at is not None,
            }.get(item["outcome"], False)
            if not fine:
                problems.append(f"reported timer {item['timer']} ({item['outcome']}) is stored as {outcome!r}")
    return problems


def _self_exit(q: w.Query, run: Run, was: Before) -> list[str]:
    """A run that exited non-zero by itself: a refusal wrote nothing for its case; anything else is a bug."""
    kind = run.workload.kind
    if run.status == 3 and kind in {"fire", "record"}:
        ref = run.workload.refs[0]
        now = int(q("SELECT count(*) FROM transition_log WHERE case_ref = ?", [ref])[0][0])
        return [f"{ref}: refused ({run.err.strip()[:120]}) yet wrote a record"] if now != was.logs[ref] else []
    if run.status in {3, 5} and kind == "batch" and run.reported is not None:
        return []
    return [f"{kind} exited {run.status} by itself: {(run.err or run.out).strip()[:300]}"]


def audit_stream(world: w.World, offset: int) -> tuple[list[str], int, int, int]:
    """Lines the runs appended to the audit stream since ``offset``: each complete one is a committed record.

    Returns (problems, new offset, complete lines, torn lines: a line a kill cut short).
    """
    if not world.audit_path.exists():
        return [], offset, 0, 0
    with world.audit_path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1  # a line still being written (none: runs are over) waits for the next call
    hashes, torn = [], 0
    for raw in data[:end].splitlines():
        try:
            hashes.append(json.loads(raw)["hash"])
        except (ValueError, KeyError):
            torn += 1
    problems: list[str] = []
    with world.raw.snapshot() as q:
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            stored = {r[0] for r in q(f"SELECT hash FROM transition_log WHERE hash IN ({marks})", chunk)}
            problems += [
                f"audit stream line with hash {h[:12]}… is not a committed record" for h in chunk if h not in stored
            ]
    return problems, offset + end, len(hashes), torn
