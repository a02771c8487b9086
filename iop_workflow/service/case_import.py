"""``iop case import FILE``: an existing partnership comes in with its history, through the live write path.

The file (service/import_file.py, docs/import.md) is replayed step by step through the SAME
service functions a live case uses (``workflow.open_case``, ``workflow.fire``, ``records.*``),
all inside ONE transaction: if any step is refused, nothing is written, and the error names
the file's entry that failed.

Who is who, as an auditor needs it:
- the log's actor of every record is the importing officer, an established identity with role
  ``coordinator`` (:data:`IMPORTER`) in the case's municipality; the log's ``at`` is when the
  import was made;
- the people the file names did the steps historically: each record's data holds them under
  ``history`` (``by``, the ``roles`` the file declares they held, the business day ``on``), and
  every rule of the step is checked on them: its roles, four eyes (by the file's names), the
  guideline in force and the dates, as of the step's own day;
- the case is marked imported with the file's SHA-256 (also in its opening record's data), and
  its facts are dated within [the declared ``history_from``, today].
The same file imported twice is refused (exit 6, naming the case it became).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from iop_workflow import txscope
from iop_workflow.errors import DefinitionError, InvalidInput, IopError, NotFound, NotPermitted
from iop_workflow.municipalities import resolve as resolve_place
from iop_workflow.service import correctable, import_file, records, validate, workflow
from iop_workflow.service.changes import ORDER_LOCK, lock_chain
from iop_workflow.service.context import IMPORTER, Actor, App, HistoricalStep
from iop_workflow.service.import_file import ImportFile
from iop_workflow.service.sweep import SCHEDULER
from iop_workflow.store import cases as repo
from iop_workflow.store.orgs import normalise_org_number

# Steps the product itself takes when their day comes (activation, a review round started by its
# timer): historically by the scheduler, as a live case's would be.
_SYSTEM = frozenset({"system"})


def import_case(app: App, actor: Actor, path: Path) -> dict[str, Any]:
    """Import the file at ``path``; returns ``ref``, ``state``, ``sha256``, ``history_from``, ``records``, ``file``."""
    return run(app, actor, import_file.read(path))


def import_text(app: App, actor: Actor, name: str, content: str) -> dict[str, Any]:
    """Import a file sent as text (the HTTP API); ``name`` gives its format by its suffix."""
    return run(app, actor, import_file.from_text(name, content))


def run(app: App, actor: Actor, imp: ImportFile) -> dict[str, Any]:
    c = imp.content
    with _entry(imp, "municipality"):
        place = resolve_place(c["municipality"])
    if IMPORTER not in actor.within(place.code).roles:
        raise NotPermitted(
            actor=actor.name,
            roles=sorted(actor.roles),
            needs=IMPORTER,
            action_sv=f"importera ett ärende med dess historik i {place.name}",
            action_en=f"import a case with its history in {place.name}",
        )
    today = app.clock.today()
    with _entry(imp, "history_from"):
        start = validate.day("history_from", c["history_from"])
        if start > today:
            raise InvalidInput(
                field="history_from",
                value=start.isoformat(),
                problem_sv=f"ligger efter i dag ({today})",
                problem_en=f"is after today ({today})",
            )
    # Inside a unit of work of the caller's (the HTTP layer's), its commit emits the records; else ours.
    outer = txscope.joined(app.db) is not None
    scope: AbstractContextManager[list[Callable[[], None]]] = nullcontext([]) if outer else txscope.deferring()
    with scope as after:
        with app.db.write() as s:
            # PostgreSQL: imports one at a time (the log's order lock, which the replay's first record takes
            # anyway), so that two imports of one file, or of one organisation, cannot both pass the checks
            # below before either commits. SQLite's write lock already orders them.
            lock_chain(s, ORDER_LOCK)
            taken = s.execute(sa.select(repo.CASES.c.ref).where(repo.CASES.c.import_sha256 == imp.sha256)).scalar()
            if taken is not None:
                raise InvalidInput(
                    field="FILE",
                    value=imp.file,
                    problem_sv=f"filen (SHA-256 {imp.sha256}) är redan importerad som {taken}",
                    problem_en=f"the file (SHA-256 {imp.sha256}) was already imported as {taken}",
                )
            with _entry(imp, "organisation"):
                number = _organisation(app, actor, s, c["organisation"])
            replay = _Replay(app=app, actor=actor, imp=imp, start=start, today=today)
            ref = replay.all(number, place.name)
            case = repo.case_row(s, ref)
            count, _hash, _at = repo.chain_head(s, ref)
        for done in after:
            done()
    return {
        "ref": ref,
        "state": case["state"],
        "sha256": imp.sha256,
        "history_from": start.isoformat(),
        "records": count,
        "file": imp.file,
    }


@contextmanager
def _entry(imp: ImportFile, entry: str) -> Iterator[None]:
    """Name the file's ``entry`` in any refusal raised inside (a DefinitionError names it already)."""
    try:
        yield
    except IopError as exc:
        if exc.entry is None and not isinstance(exc, DefinitionError):
            exc.entry = f"{imp.file}: {entry}"
        raise


def _organisation(app: App, actor: Actor, s: sa.Connection, given: str | Mapping[str, Any]) -> str:
    """The organisation's number; a new one is added (as `iop org add` does) when given in full."""
    fields: dict[str, Any] = {"org_number": given} if isinstance(given, str) else dict(given)
    number = normalise_org_number(str(fields.get("org_number") or ""))
    try:
        row = repo.org_row(s, org_number=number)
    except NotFound:
        if "name" not in fields or "legal_form" not in fields:
            raise
        from iop_workflow.service import admin  # noqa: PLC0415

        admin.add_org(app, actor, **fields)
        return number
    name = fields.get("name")
    if name is not None and str(name).strip().casefold() != str(row["name"]).casefold():
        raise InvalidInput(
            field="organisation.name",
            value=name,
            problem_sv=f"organisationen {number} heter {row['name']} i registret",
            problem_en=f"organisation {number} is named {row['name']} in the register",
        )
    return number


@dataclass(slots=True, kw_only=True)
class _Replay:
    """The file's history, step by step, through the live service functions (inside the caller's transaction)."""

    app: App
    actor: Actor
    imp: ImportFile
    start: date
    today: date
    ref: str = ""
    last: date | None = None  # the day of the latest transition: the history's steps run forward

    def all(self, org_number: str, municipality: str) -> str:
        c = self.imp.content
        first = c["initiative"]
        with self._at("initiative"):
            who = self._as("initiative", first, first.get("on"))
            self._forward("initiative", who)
            self.ref = workflow.open_case(
                self.app,
                who,
                org_number=org_number,
                municipality=municipality,
                title=c["title"],
                challenge=c["challenge"],
                unit=c.get("unit"),
                initiated_by=c.get("initiated_by", "organisation"),
                imported=workflow.Imported(
                    sha256=self.imp.sha256, file=Path(self.imp.file).name, history_from=self.start
                ),
            ).record.case_ref
        if "dialogue" in c:
            self._fire("dialogue", c["dialogue"], "start_dialogue")
            for n, m in enumerate(c["dialogue"].get("meetings", []), start=1):
                self._record(
                    f"dialogue.meetings[{n}]", {"by": c["dialogue"].get("by"), **m}, m.get("held_on"), records.meeting
                )
        if "assessment" in c:
            a = c["assessment"]
            self._fire("assessment", a, "submit_for_assessment")
            for n, v in enumerate(a.get("criteria", []), start=1):
                self._record(
                    f"assessment.criteria[{n}]", {"by": a.get("by"), "on": a.get("on"), **v}, None, records.assessment
                )
        self._facts(c)
        if "signing" in c:
            self._fire("signing", c["signing"], "sign")
            self._activate(c)
        for n, r in enumerate(c.get("reviews", []), start=1):
            self._review(f"reviews[{n}]", r)
        return self.ref

    def _facts(self, c: Mapping[str, Any]) -> None:
        if "legal_check" in c:
            check = dict(c["legal_check"])
            for flag in ("competence", "procurement_not_required", "no_competition_distortion"):
                if flag in check:
                    with self._at(f"legal_check.{flag}"):
                        check[flag] = correctable.BOOL.parse(flag, check[flag])
            self._record("legal_check", check, None, records.legal_check)
        if "agreement" in c:
            self._record("agreement", c["agreement"], None, records.agreement)
        for n, item in enumerate(c.get("contributions", []), start=1):
            self._record(f"contributions[{n}]", item, None, records.contribution)
        if "decision" in c:
            self._record("decision", c["decision"], c["decision"].get("decided_on"), records.decision)

    def _activate(self, c: Mapping[str, Any]) -> None:
        """A signed agreement whose period has started is active, as the scheduler would have made it."""
        with self._at("agreement.start_on"):
            begins = validate.day("start_on", c.get("agreement", {}).get("start_on"))
        if begins <= self.today and self.last is not None:
            day = max(begins, self.last)
            self._step("signing (activate)", SCHEDULER, _SYSTEM, day, "activate")

    def _review(self, entry: str, r: Mapping[str, Any]) -> None:
        with self._at(f"{entry}.started_on"):
            started = validate.day("started_on", r.get("started_on"))
        by = r.get("started_by")
        if by is None:
            self._step(f"{entry} (start_review)", SCHEDULER, _SYSTEM, started, "start_review")
        else:
            self._fire(f"{entry}.started_by", {"by": by, "on": started}, "start_review")
        fields = {k: v for k, v in r.items() if k in ("held_on", "report_received", "summary", "by")}
        if "report_received" in fields:
            with self._at(f"{entry}.report_received"):
                fields["report_received"] = correctable.BOOL.parse("report_received", fields["report_received"])
        self._record(entry, fields, r.get("held_on"), records.review)
        if "continued_on" in r:
            self._fire(
                f"{entry}.continued_on", {"by": r.get("continued_by", r.get("by")), "on": r["continued_on"]}, "continue"
            )

    # -- one step --------------------------------------------------------------------------
    @contextmanager
    def _at(self, entry: str) -> Iterator[None]:
        with _entry(self.imp, entry):
            yield

    def _as(self, entry: str, item: Mapping[str, Any], on: object) -> Actor:
        """The importing officer, acting for the person ``item`` names on the step's day."""
        by = item.get("by")
        if not isinstance(by, str) or by not in self.imp.people:
            known = ", ".join(sorted(self.imp.people))
            raise DefinitionError(
                file=self.imp.file, key=f"{entry}.by", problem=f"names nobody under [people] ({by!r}; known: {known})"
            )
        day = validate.day("on", on)
        correctable.in_case_time("on", day, opened_on=self.start, today=self.today, history_from=self.start)
        return replace(self.actor, step=HistoricalStep(by=by, roles=self.imp.people[by], on=day))

    def _forward(self, entry: str, who: Actor) -> None:
        assert who.step is not None
        if self.last is not None and who.step.on < self.last:
            raise InvalidInput(
                field="on",
                value=who.step.on.isoformat(),
                problem_sv=f"ligger före föregående steg i historiken ({self.last})",
                problem_en=f"is before the history's previous step ({self.last})",
            )
        self.last = who.step.on

    def _fire(self, entry: str, item: Mapping[str, Any], trigger: str) -> None:
        with self._at(entry):
            who = self._as(entry, item, item.get("on"))
            self._forward(entry, who)
            workflow.fire(self.app, who, self.ref, trigger)

    def _step(self, entry: str, by: str, roles: frozenset[str], day: date, trigger: str) -> None:
        with self._at(entry):
            who = replace(self.actor, step=HistoricalStep(by=by, roles=roles, on=day))
            self._forward(entry, who)
            workflow.fire(self.app, who, self.ref, trigger)

    def _record(self, entry: str, item: Mapping[str, Any], on: object, act: Callable[..., Any]) -> None:
        """Record one fact; its business day is its own date (``on``) or the entry's ``on``."""
        with self._at(entry):
            fields = {k: v for k, v in item.items() if k not in ("by", "on")}
            if missing := [name for name in required_keys(act) if name not in fields]:
                raise DefinitionError(file=self.imp.file, key=f"{entry}.{missing[0]}", problem="missing")
            who = self._as(entry, item, on if on is not None else item.get("on"))
            act(self.app, who, self.ref, **fields)


def required_keys(act: Callable[..., Any]) -> list[str]:
    """The keyword arguments a record function (service/records.py) needs: the keys its entry must have."""
    params = inspect.signature(act).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]


def proof(s: sa.Connection) -> list[dict[str, Any]]:
    """``audit verify``: each case's import mark (``import_sha256``, ``history_from``) as its opening record holds it.

    A live case has neither, and its opening record no ``imported``; an imported case's row and
    record agree. Anything else names the case.
    """
    cases, log = repo.CASES.c, repo.LOG.c
    query = (
        sa.select(cases.ref, cases.import_sha256, cases.history_from, log.seq, log.data)
        .join(repo.LOG, sa.and_(log.case_ref == cases.ref, log.case_seq == 1))
        .order_by(cases.id)
        .execution_options(yield_per=repo.READ_CHUNK)  # streamed: a server-side cursor on PostgreSQL
    )
    problems = []
    for ref, sha256, since, seq, data in s.execute(query):
        logged = json.loads(data).get("imported") or {}
        row = {"sha256": sha256, "history_from": repo.as_iso(since)}
        held = {"sha256": logged.get("sha256"), "history_from": logged.get("history_from")}
        if row != held:
            problems.append(
                {
                    "case_ref": ref,
                    "case_seq": 1,
                    "seq": seq,
                    "field": "import_sha256",
                    "problem": "import_mark_differs",
                    "detail": f"the case row says {row}, its opening record {held}",
                }
            )
    return problems
