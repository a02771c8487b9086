"""The yearly follow-up report's figures from a finished :class:`~iop_workflow.report.annual.Tally` (pure).

:func:`report` assembles the dict that ``iop report annual --json`` prints and the renderers lay out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from iop_workflow.domain.definition import WorkflowDefinition
from iop_workflow.domain.guidelines import Guideline
from iop_workflow.domain.values import ContributionKind, Party
from iop_workflow.municipalities import code_of
from iop_workflow.report.annual import EVENTS, REVIEW_KEYS, Rules, Tally, Window

_PARTIES = tuple(p.value for p in Party)
_KINDS = tuple(k.value for k in ContributionKind)


def rules_of(d: WorkflowDefinition, *, grace_days: int) -> Rules:
    """The replay's rules from the workflow definition: terminal states, the ``review`` and ``running``
    groups, and the triggers of the headline events. A case is *opened* by the creation, *signed* by a
    trigger from a ``preparing`` state into a ``partnership`` one, *activated* by one into a ``running``
    state from a state outside that group, *renewed* by one with the effect that begins the next period."""

    def having(effect: str) -> frozenset[str]:
        return frozenset(t.trigger for t in d.transitions if effect in t.effects)

    def entering(group: str, sources: Iterable[str]) -> frozenset[str]:
        members = set(d.states_in(group))
        return frozenset(t.trigger for t in d.transitions if t.dest in members and set(t.sources) & set(sources))

    preparing, running = d.states_in("preparing"), frozenset(d.states_in("running"))
    signed = entering("partnership", preparing)
    renewed = having("next_period")
    events = {
        "opened": frozenset({d.creation.trigger}),
        "signed": signed,
        "activated": entering("running", [v for v in d.states if v not in running]),
        "renewed": renewed,
    }
    return Rules(
        terminal=frozenset(v for v, st in d.states.items() if st.terminal),
        review=frozenset(d.states_in("review")),
        running=running,
        new_round=having("next_review_round"),
        new_period=renewed,
        commits_period=signed | renewed,
        events=events,
        grace_days=grace_days,
    )


def states_of(d: WorkflowDefinition) -> list[dict[str, Any]]:
    return [
        {"state": v, "label_sv": st.label_sv, "label_en": st.label_en, "terminal": st.terminal}
        for v, st in d.states.items()
    ]


def end_reasons_of(d: WorkflowDefinition) -> list[str]:
    return [r for st in d.states.values() if st.terminal for r in st.end_reasons]


def report(
    t: Tally,
    *,
    municipality: str | None,
    municipality_code: str | None = None,
    states: Sequence[Mapping[str, Any]],
    end_reasons: Sequence[str],
    guidelines: Iterable[Guideline],
    cases: Sequence[Mapping[str, Any]],
    preliminary: bool,
    include_protected: bool,
) -> dict[str, Any]:
    """The whole report as a plain dict of JSON types (dates ISO-8601, amounts as text)."""
    w = t.window
    return {
        "year": w.year,
        "municipality": municipality,
        "municipality_code": municipality_code,
        "from": w.first_day.isoformat(),
        "to": w.last_day.isoformat(),
        "preliminary": preliminary,
        "include_protected": include_protected,
        "states": [dict(s) for s in states],
        **summary(t, [str(s["state"]) for s in states], end_reasons),
        "guidelines": guideline_rows(guidelines, w),
        "cases": [dict(c) for c in cases],
    }


def summary(t: Tally, states: Sequence[str], end_reasons: Sequence[str]) -> dict[str, Any]:
    """The report's numbers: states at the year's start, end and each month's end; events; reviews; contributions."""
    if not t.finished:
        raise ValueError("summary() needs a finished tally")
    live = list(t.live().values())

    def at(index: int) -> dict[str, int]:
        counts = Counter(c.snaps[index] for c in live)
        return {s: counts.get(s, 0) for s in states}

    reasons = [*end_reasons, *sorted(set(t.ended) - set(end_reasons))]
    reviews = {**{k: t.reviews.get(k, 0) for k in REVIEW_KEYS}, "overdue": t.overdue()}
    return {
        "at_year_start": at(0),
        "at_year_end": at(12),
        "monthly": [{"month": month, "counts": at(i + 1)} for i, month in enumerate(t.window.months())],
        "events": {
            **{k: sum(t.events.get(v, 0) for v in t.rules.events[k]) for k in EVENTS},
            "ended": sum(t.ended.values()),
        },
        "end_reasons": {r: t.ended.get(r, 0) for r in reasons},
        "reviews": reviews,
        "contributions": _contributions(t),
    }


def _order(value: str, known: Sequence[str]) -> tuple[int, str]:
    return (known.index(value) if value in known else len(known), value)


def _contributions(t: Tally) -> list[dict[str, Any]]:
    keys = sorted(t.contributions, key=lambda k: (_order(k[0], _PARTIES), _order(k[1], _KINDS), k[2]))
    return [
        {
            "party": p,
            "kind": k,
            "unit": u,
            "agreed": _amount(t.contributions[(p, k, u)][0]),
            "running": _amount(t.contributions[(p, k, u)][1]),
        }
        for p, k, u in keys
    ]


def _amount(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def case_states(t: Tally) -> dict[str, tuple[str | None, str, str | None]]:
    """For each case of the year: (state at its start, state at its end, end reason at its end)."""
    out: dict[str, tuple[str | None, str, str | None]] = {}
    for ref, c in sorted(t.live().items()):
        end = c.snaps[12] or ""
        out[ref] = (c.snaps[0], end, c.end_reason if end in t.rules.terminal else None)
    return out


def guideline_rows(guidelines: Iterable[Guideline], window: Window) -> list[dict[str, Any]]:
    """The guidelines in force on some day of the year, each ``in_force`` at its end, ``expiring`` within
    the next year, or ``expired`` during it."""
    first, last = window.first_day, window.last_day
    horizon = date(window.year + 1, 12, 31)
    rows = []
    for g in guidelines:
        start = max(first, g.valid_from) if g.valid_from is not None else first
        if start > last or not g.in_force(start):  # Guideline.in_force: adopted, verified, within its dates
            continue
        status = "in_force"
        if g.valid_until is not None:
            status = "expired" if g.valid_until < last else "expiring" if g.valid_until <= horizon else status
        rows.append(
            {
                "ref": g.ref,
                "municipality": g.municipality,
                "municipality_code": code_of(g.municipality),
                "title": g.title,
                "valid_from": g.valid_from.isoformat() if g.valid_from else None,
                "valid_until": g.valid_until.isoformat() if g.valid_until else None,
                "status": status,
            }
        )
    return sorted(rows, key=lambda r: (r["municipality"], r["valid_from"] or "", r["ref"]))
