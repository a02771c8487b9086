"""A Hypothesis rule-based machine: random triggers, facts and dates against states/partnership.toml.

Invariants after every step: terminal states are never left; every successful
command appends exactly one log record and every refusal none; every chain
verifies; each case's stored state equals its last record's ``to_state``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from iop_workflow import FakeClock, Iop, IopError
from iop_workflow.settings import Settings
from tests.helpers import COMPANY, ORG, SHELTER, add_orgs, outside_cases

ACTORS = ["anna", "eva", "kim", "system", "lars"]
TRIGGERS = [
    "start_dialogue",
    "submit_for_assessment",
    "return_to_dialogue",
    "sign",
    "decline",
    "withdraw",
    "activate",
    "start_review",
    "continue",
    "renew",
    "end",
    "terminate",
    "expire",
]
MUNICIPALITIES = ["Stenungsund", "Jönköping", "Kungälv", "Mark", "Eksjö"]
CRITERIA = [
    "initiated_by_org",
    "political_programme",
    "local_development",
    "not_association_grant",
    "independent_actor",
    "no_market",
    "co_financing",
    "no_detailed_regulation",
    "long_term",
    "not_a_company",
    "municipal_goals",
    "not_procurement",
    "municipal_competence",
    "no_competition_distortion",
    "no_profit_motive",
    "no_economic_drivers",
    "bogus",
]


class Workflow(RuleBasedStateMachine):
    cases = Bundle("cases")

    @initialize()
    def setup(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="iop-stateful-"))
        self.clock = FakeClock(datetime(2025, 1, 13, 9, tzinfo=ZoneInfo("Europe/Stockholm")))
        roles = {
            "eva": frozenset({"signatory"}),
            "kim": frozenset({"coordinator"}),
            "lars": frozenset({"legal"}),
            "system": frozenset({"system"}),
        }
        self.iop = Iop.connect(
            f"sqlite:///{self.dir / 'iop.db'}",
            clock=self.clock,
            settings=dataclasses.replace(Settings(), default_roles=frozenset({"registrar", "officer"}), actors=roles),
            audit_log=False,
        )
        self.iop.init()
        add_orgs(self.iop)
        self.records = outside_cases(self.iop)  # init's @admin and @guideline records
        self.ended: set[str] = set()

    def teardown(self) -> None:
        if hasattr(self, "iop"):
            self.iop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def attempt(self, command) -> bool:  # type: ignore[no-untyped-def]
        try:
            command()
        except IopError:
            return False
        self.records += 1
        return True

    @rule(target=cases, municipality=st.sampled_from(MUNICIPALITIES), org=st.sampled_from([ORG, SHELTER, COMPANY]))
    def open(self, municipality: str, org: str):  # type: ignore[no-untyped-def]
        refs: list[str] = []

        def go() -> None:
            refs.append(
                self.iop.open_case(
                    org_number=org, municipality=municipality, title="T", challenge="Utmaning", actor="anna"
                )
            )

        ok = self.attempt(go)
        assert ok == (org != COMPANY)
        return refs[0] if refs else multiple()

    @rule(
        ref=cases,
        trigger=st.sampled_from(TRIGGERS),
        actor=st.sampled_from(ACTORS),
        end_reason=st.sampled_from([None, "completed", "not_renewed"]),
    )
    def fire(self, ref: str, trigger: str, actor: str, end_reason: str | None) -> None:
        before = self.state(ref)
        ok = self.attempt(lambda: self.iop.fire(ref, trigger, actor=actor, reason="Skäl", end_reason=end_reason))
        if before == "ended":
            assert not ok, "a terminal state was left"
        if ok:
            event(f"reached {self.state(ref)}")
        if ok and self.state(ref) == "ended":
            self.ended.add(ref)

    @rule(
        ref=cases,
        actor=st.sampled_from(ACTORS),
        pick=st.integers(min_value=0, max_value=9),
        end_reason=st.sampled_from(["completed", "not_renewed"]),
    )
    def advance(self, ref: str, actor: str, pick: int, end_reason: str) -> None:
        """Fire one of the triggers `options` says is allowed: it must then succeed."""
        if pick % 2 == 0:
            self.prepare(ref, 24, pick)
        try:
            allowed = [o["trigger"] for o in self.iop.options(ref, actor=actor) if o["allowed"]]
        except IopError:
            return
        if not allowed:
            return
        # Mostly move forward, sometimes end: otherwise few cases get past dialogue.
        onward = [t for t in allowed if t not in {"decline", "withdraw", "terminate", "end"}]
        trigger = (onward or allowed)[pick % len(onward or allowed)] if pick < 8 else allowed[pick % len(allowed)]
        self.iop.fire(ref, trigger, actor=actor, reason="Skäl", end_reason=end_reason if trigger == "end" else None)
        self.records += 1
        event(f"reached {self.state(ref)}")
        if self.state(ref) == "ended":
            self.ended.add(ref)

    @rule(
        ref=cases,
        criterion=st.sampled_from(CRITERIA),
        verdict=st.sampled_from(["met", "met", "not_met"]),
        actor=st.sampled_from(["anna", "lars", "kim"]),
    )
    def assess(self, ref: str, criterion: str, verdict: str, actor: str) -> None:
        self.attempt(lambda: self.iop.assess(ref, criterion, verdict, note="Bedömning", actor=actor))

    @rule(
        ref=cases,
        kind=st.sampled_from(["meeting", "legal", "agreement", "money", "hours", "decision", "review"]),
        offset=st.integers(min_value=-30, max_value=400),
        length=st.integers(min_value=-10, max_value=1200),
    )
    def record(self, ref: str, kind: str, offset: int, length: int) -> None:
        today = self.clock.today()
        start = today + timedelta(days=offset)
        commands = {
            "meeting": lambda: self.iop.record_meeting(ref, actor="anna", held_on=today, joint_challenge="Utmaning"),
            "legal": lambda: self.iop.record_legal_check(
                ref,
                actor="lars",
                competence=True,
                procurement_not_required=True,
                no_competition_distortion=True,
                state_aid_basis="none",
                rationale="Motivering",
            ),
            "agreement": lambda: self.iop.record_agreement(
                ref, actor="anna", start_on=start, end_on=start + timedelta(days=length)
            ),
            "money": lambda: self.iop.record_contribution(
                ref, actor="anna", party="municipality", kind="money", amount="1000", unit="SEK"
            ),
            "hours": lambda: self.iop.record_contribution(
                ref, actor="anna", party="organisation", kind="volunteer_hours", amount="10", unit="h"
            ),
            "decision": lambda: self.iop.record_decision(
                ref, actor="eva", body="KS", decided_on=today, minutes_ref="KS § 1"
            ),
            "review": lambda: self.iop.record_review(ref, actor="kim", held_on=today, report_received=offset > 0),
        }
        self.attempt(commands[kind])

    @rule(ref=cases, months=st.integers(min_value=6, max_value=48), start_in=st.integers(min_value=0, max_value=60))
    def prepare(self, ref: str, months: int, start_in: int) -> None:
        """Record everything a signing or renewal needs, each as its own command."""
        try:
            bound = self.iop.case(ref)["guideline"]
        except IopError:
            return
        if bound is not None:
            for crit in self.iop.guideline(bound["ref"]).gating():
                self.attempt(lambda c=crit.code: self.iop.assess(ref, c, "met", note="Uppfyllt", actor="anna"))
        start = self.clock.today() + timedelta(days=start_in)
        for kind in ("meeting", "legal", "money", "hours", "decision"):
            self.record(ref, kind, 1, 0)
        self.attempt(
            lambda: self.iop.record_agreement(
                ref, actor="anna", start_on=start, end_on=start + timedelta(days=30 * months)
            )
        )

    @rule(days=st.integers(min_value=0, max_value=400))
    def time_passes(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))

    def state(self, ref: str) -> str | None:
        try:
            return str(self.iop.case(ref)["state"])
        except IopError:
            return None

    @invariant()
    def log_is_whole(self) -> None:
        if not hasattr(self, "iop"):
            return
        report = self.iop.verify()
        assert report.ok, report.problems
        assert report.records == self.records
        for ref in self.ended:
            assert self.state(ref) == "ended"
        with self.iop.app.db.engine.connect() as conn:
            mismatched = conn.execute(
                sa.text(
                    "SELECT count(*) FROM cases c WHERE c.state <> (SELECT l.to_state FROM transition_log l "
                    "WHERE l.case_ref = c.ref ORDER BY l.case_seq DESC LIMIT 1)"
                )
            ).scalar_one()
        assert mismatched == 0


Workflow.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_workflow_invariants = pytest.mark.slow(Workflow.TestCase)
