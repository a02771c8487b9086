"""The arithmetic of the yearly follow-up report (pure: plain rows in, numbers out).

Every case's state at each month's end is found by replaying its state-changing
transition-log records in ``seq`` order, never read from ``cases.state``, and
records at or after the end of the year are ignored: the report on a year reads
the same whenever it is run. Recorded facts (reviews, contributions) arrive with
their corrections applied; only those recorded before the year's end count.

Definitions (also in docs/audit.md):
- a case *belongs to the year* when it existed at the year's end and had not
  ended before the year began;
- a review round is *due* in the year when it began in the year (``start_review``);
  it is *overdue* when its deadline (the day it began + the review grace days, moved
  to the next working day, as the ``review_overdue`` timer plans it) fell in the year
  and, at the end of that day, no review of the round held by then was recorded and
  the case was still in that review;
- a contribution is *agreed* in the year when its agreement period was signed or
  renewed in the year, and *running* when the case was active or under review in that
  period on some day of the year (whole-period amounts, as agreed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from iop_workflow.domain.calendar import next_working_day

# The headline events of the year, keys in the report (Rules.events holds each one's triggers).
EVENTS = ("opened", "signed", "activated", "renewed")
REVIEW_KEYS = ("due", "held", "report_received", "overdue")


@dataclass(frozen=True, slots=True)
class Window:
    """A calendar year in the municipality's time zone."""

    year: int
    tz: ZoneInfo

    @property
    def first_day(self) -> date:
        return date(self.year, 1, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, 12, 31)

    def bounds(self) -> tuple[datetime, ...]:
        """The first instant of each month and of the next year: 13 aware UTC datetimes."""
        days = [date(self.year, m, 1) for m in range(1, 13)] + [date(self.year + 1, 1, 1)]
        return tuple(datetime.combine(d, time(0), tzinfo=self.tz).astimezone(UTC) for d in days)

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def months(self) -> list[str]:
        return [f"{self.year}-{m:02d}" for m in range(1, 13)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """What the replay needs to know of the workflow (``annual_summary.rules_of`` derives it from the
    definition: its terminal states, its ``review`` and ``running`` groups, its triggers)."""

    terminal: frozenset[str]
    review: frozenset[str]  # the states in which a review round is open
    running: frozenset[str]  # the states in which the agreement is in force
    new_round: frozenset[str]
    new_period: frozenset[str]
    commits_period: frozenset[str]
    events: Mapping[str, frozenset[str]]  # EVENTS key -> the triggers it counts
    grace_days: int = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """A state-changing log record (``record:*`` entries keep the state and are not fed)."""

    case_ref: str
    at: datetime
    trigger: str
    to_state: str
    end_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewFact:
    case_ref: str
    round: int
    held_on: date
    report_received: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ContributionFact:
    case_ref: str
    period: int
    party: str
    kind: str
    unit: str
    amount: Decimal


@dataclass(slots=True)
class _Round:
    number: int
    deadline: date
    left: date | None = None


@dataclass(slots=True)
class CaseTrack:
    """One case's replay: its state now, and its state at each month boundary passed (13 at the end)."""

    state: str | None = None
    end_reason: str | None = None
    since: datetime | None = None
    period: int = 1
    round: int = 0
    snaps: list[str | None] = field(default_factory=list)
    rounds: list[_Round] = field(default_factory=list)


class Tally:
    """Feed transitions (``seq`` order), then :meth:`finish`, then reviews and contributions."""

    def __init__(self, window: Window, rules: Rules) -> None:
        self.window, self.rules = window, rules
        self.bounds = window.bounds()
        self.cases: dict[str, CaseTrack] = {}
        self.events: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        self.reviews: Counter[str] = Counter()
        self.agreed: set[tuple[str, int]] = set()
        self.running: set[tuple[str, int]] = set()
        self.contributions: dict[tuple[str, str, str], list[Decimal]] = {}
        self._held: dict[tuple[str, int], date] = {}
        self.finished = False

    def feed(self, t: Transition) -> None:
        end = self.bounds[12]
        if t.at >= end:
            return
        c = self.cases.setdefault(t.case_ref, CaseTrack())
        while len(c.snaps) < 13 and self.bounds[len(c.snaps)] <= t.at:
            c.snaps.append(c.state)
        self._note_running(t.case_ref, c, t.at)
        if c.state in self.rules.review and c.rounds and c.rounds[-1].left is None:
            c.rounds[-1].left = self.window.local_date(t.at)
        in_year = self.bounds[0] <= t.at
        if t.trigger in self.rules.new_period:
            c.period += 1
        if t.trigger in self.rules.new_round:
            c.round += 1
            started = self.window.local_date(t.at)
            c.rounds.append(_Round(c.round, next_working_day(started + timedelta(days=self.rules.grace_days))))
            self.reviews["due"] += in_year
        if in_year:
            self._count(t, c)
        c.state, c.end_reason, c.since = t.to_state, t.end_reason, t.at

    def _count(self, t: Transition, c: CaseTrack) -> None:
        self.events[t.trigger] += 1
        if t.to_state in self.rules.terminal:
            self.ended[t.end_reason or "-"] += 1
        if t.trigger in self.rules.commits_period:
            self.agreed.add((t.case_ref, c.period))

    def _note_running(self, ref: str, c: CaseTrack, until: datetime | None) -> None:
        """The state ``c`` is in lasted from ``c.since`` to ``until`` (None: still): did it run in the year?"""
        if c.state not in self.rules.running or c.since is None:
            return
        if c.since < self.bounds[12] and (until is None or until > self.bounds[0]):
            self.running.add((ref, c.period))

    def finish(self) -> None:
        for ref, c in self.cases.items():
            c.snaps.extend([c.state] * (13 - len(c.snaps)))
            self._note_running(ref, c, None)
        self.finished = True

    def add_review(self, r: ReviewFact) -> None:
        if self.window.first_day <= r.held_on <= self.window.last_day:
            self.reviews["held"] += 1
            self.reviews["report_received"] += r.report_received
        key = (r.case_ref, r.round)
        if key not in self._held or r.held_on < self._held[key]:
            self._held[key] = r.held_on

    def add_contribution(self, f: ContributionFact) -> None:
        key = (f.case_ref, f.period)
        agreed, running = key in self.agreed, key in self.running
        if agreed or running:
            sums = self.contributions.setdefault((f.party, f.kind, f.unit), [Decimal(0), Decimal(0)])
            sums[0] += f.amount if agreed else 0
            sums[1] += f.amount if running else 0

    def overdue(self) -> int:
        first, last = self.window.first_day, self.window.last_day
        count = 0
        for ref, c in self.cases.items():
            for r in c.rounds:
                held = self._held.get((ref, r.number))
                if not first <= r.deadline <= last or (held is not None and held <= r.deadline):
                    continue
                count += r.left is None or r.left > r.deadline
        return count

    def live(self) -> dict[str, CaseTrack]:
        """The cases that belong to the year, by ref."""
        terminal = self.rules.terminal
        return {ref: c for ref, c in self.cases.items() if c.snaps[0] is None or c.snaps[0] not in terminal}


def tally(
    window: Window,
    rules: Rules,
    transitions: Iterable[Transition],
    reviews: Iterable[ReviewFact] = (),
    contributions: Iterable[ContributionFact] = (),
) -> Tally:
    """Replay ``transitions`` (consumed lazily, in order), then count ``reviews`` and ``contributions``."""
    out = Tally(window, rules)
    for t in transitions:
        out.feed(t)
    out.finish()
    for r in reviews:
        out.add_review(r)
    for f in contributions:
        out.add_contribution(f)
    return out
