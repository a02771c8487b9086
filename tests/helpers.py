"""Building cases up to a given state through the public API."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from iop_workflow import FakeClock, Iop
from iop_workflow.domain.guards import EVALUATED_CRITERIA
from iop_workflow.resources import shipped_guidelines
from iop_workflow.settings import Settings

ORG = "802479-1322"
COMPANY = "556036-0793"
SHELTER = "802014-5671"


GUIDELINE_CHAINS = frozenset(f"@guideline:{g.ref}" for g in shipped_guidelines())


def outside_cases(iop: Iop) -> int:
    """The records of the chains that are not cases': init's ``@admin`` and ``@guideline:<ref>`` records."""
    chains = ["@admin", *GUIDELINE_CHAINS]
    return sum(iop.export(case=chain).count() for chain in chains)


def add_orgs(iop: Iop) -> None:
    iop.add_organisation(
        name="Kvinnojouren i Stenungsund",
        org_number=ORG,
        legal_form="ideell_forening",
        protected=True,
        address="Hemlig adress 1",
    )
    iop.add_organisation(name="Vinst & Co AB", org_number=COMPANY, legal_form="aktiebolag", non_profit=False)
    iop.add_organisation(name="Hela Människan Jönköping", org_number=SHELTER, legal_form="trossamfund")


def open_case(iop: Iop, municipality: str = "Stenungsund", org: str = ORG) -> str:
    return iop.open_case(
        org_number=org,
        municipality=municipality,
        title="Skyddat boende",
        challenge="Våldsutsatta kvinnor behöver skydd och stöd",
        actor="anna",
    )


def to_assessment(iop: Iop, municipality: str = "Stenungsund", org: str = ORG) -> str:
    ref = open_case(iop, municipality, org)
    iop.fire(ref, "start_dialogue", actor="anna")
    iop.record_meeting(ref, actor="anna", held_on=iop.app.clock.today(), joint_challenge="Skydd och stöd")
    iop.fire(ref, "submit_for_assessment", actor="anna")
    return ref


# What the tests' coordinator confirms for a shipped guideline whose decision the source does not give.
TEST_DECISION = {"decided_on": "2019-05-20", "decided_by": "Kommunstyrelsen", "minutes_ref": "KS § 88/2019 (test)"}


def adopted_guideline_toml(base: str, *, ref: str, valid_from: str, valid_until: str | None = None) -> str:
    """A shipped guideline file's criteria under a new head: adopted, decided on ``valid_from``, every fact verified."""
    until = f"valid_until = {valid_until}\n" if valid_until else ""
    head = (
        f'[guideline]\nref = "{ref}"\nmunicipality = "Stenungsund"\ntitle = "Test"\nstatus = "adopted"\n'
        f'decided_on = {valid_from}\ndecided_by = "Kommunstyrelsen"\nminutes_ref = "§ 1 (test)"\n'
        f'valid_from = {valid_from}\n{until}owner = "Kommunstyrelsen"\n'
    )
    for name in ("status", "decided_on", "decided_by", "minutes_ref", "valid_from") + (
        ("valid_until",) if until else ()
    ):
        head += f'\n[guideline.provenance.{name}]\nsource = "test"\nquote = "test"\nverified = true\n'
    return head + "\n" + base[base.index("[[criteria]]") :]


def confirm_guideline(iop: Iop, guideline_ref: str) -> None:
    """Confirm the guideline's decision as the coordinator kim, unless nothing is left to confirm."""
    if iop.guideline(guideline_ref).unverified():
        iop.confirm_guideline(guideline_ref, actor="kim", **TEST_DECISION)


def prepare_signing(iop: Iop, ref: str, *, start: str = "2026-02-01", end: str = "2028-01-31") -> None:
    """Record every fact signing needs (the assessor is anna, the signatory eva), the guideline confirmed."""
    case = iop.case(ref)
    confirm_guideline(iop, case["guideline"]["ref"])
    guideline = iop.guideline(case["guideline"]["ref"])
    for crit in guideline.gating():
        if crit.code not in EVALUATED_CRITERIA:  # the rules evaluate those from recorded facts
            iop.assess(ref, crit.code, "met", note="Bedömt i dialogen", actor="anna")
    iop.record_legal_check(
        ref,
        actor="lars",
        competence=True,
        procurement_not_required=True,
        no_competition_distortion=True,
        state_aid_basis="non_economic",
        rationale="Icke-ekonomisk verksamhet av allmänt intresse",
    )
    iop.record_agreement(ref, actor="anna", start_on=start, end_on=end, notice_months=3)
    iop.record_contribution(ref, actor="anna", party="municipality", kind="money", amount="340000", unit="SEK")
    iop.record_contribution(ref, actor="anna", party="organisation", kind="volunteer_hours", amount="2000", unit="h")
    iop.record_decision(
        ref,
        actor="eva",
        body=deciding_body(iop, case["municipality"]),
        decided_on=iop.app.clock.today(),
        minutes_ref="SN § 12/2026",
    )


def deciding_body(iop: Iop, municipality: str) -> str:
    """Socialnämnden where the settings name it for the municipality, else its kommunstyrelse."""
    bodies = iop.app.settings.bodies_of(municipality)
    return "Socialnämnden" if bodies is not None and "Socialnämnden" in bodies.bodies else "Kommunstyrelsen"


def to_signed(iop: Iop) -> str:
    ref = to_assessment(iop)
    prepare_signing(iop, ref)
    iop.fire(ref, "sign", actor="eva")
    return ref


def seed_due(url: str, settings: Settings, *, signed: int = 1, idle: int = 0, simulation: bool = False) -> list[str]:
    """A database made in January 2026: ``signed`` cases awaiting activation, ``idle`` ones left in
    initiative (their idle alerts come due); the signed cases' refs. ``simulation``: its clock is
    simulated, stored at 2026-01-12 (``tick --at`` moves it)."""
    clock = FakeClock(datetime(2026, 1, 12, 9, tzinfo=ZoneInfo("Europe/Stockholm")))
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init(simulation=simulation)
        add_orgs(iop)
        refs = [to_signed(iop) for _ in range(signed)]
        for _ in range(idle):
            open_case(iop)
    return refs
