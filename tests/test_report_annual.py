"""``iop report annual``: a municipality's year, built through the public API on a FakeClock,
reported with the numbers worked out by hand below (not read back from the program).

The fixture municipality, Stenungsund (dates are 09:00 Stockholm time; refs by letter):
  2025  A, G signed 03-03 and active 04-01 (A: 2025-04-01..2027-03-31, G: ..2026-03-31);
        H opened 05-05 and declined 06-02; G's renewal review begins 10-02 and is held 10-20.
  2026  01-12 B (the protected shelter) signed for 2026-02-01..2027-01-31; X opened in Jönköping.
        02-01 B active.   02-10 C opened, dialogue.   03-05 C declined.
        03-02 F signed for 2026-04-01..2028-03-31 (its SEK contribution corrected 340000 -> 300000);
              J signed for 2026-06-01..2027-05-31 with premises and knowledge too.
        04-01 A's yearly review begins; F active; G expires.
        04-20 A's review recorded (held_on typed 2025-04-20, corrected to 2026-04-20); A continues.
        05-04 D opened to assessment.   06-01 J active; D withdrawn.
        08-03 B's renewal review begins (deadline 09-02); 09-10 a review without report; 09-15 B
              ends, not renewed: overdue.
        10-02 A's renewal review begins; 10-20 held, a new period agreed (with knowledge), renewed.
        11-16 E opened, dialogue.   11-27 J rescinded.   12-10 F's review begun by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from iop_workflow import FakeClock, Iop
from iop_workflow.errors import AccessDenied, InvalidInput, NotFound
from iop_workflow.report.annual_html import annual_html
from iop_workflow.report.annual_render import annual_csv, annual_markdown
from tests.cli_helpers import Cli, today
from tests.conftest import STOCKHOLM
from tests.helpers import (
    ORG,
    SHELTER,
    TEST_DECISION,
    adopted_guideline_toml,
    confirm_guideline,
    open_case,
    prepare_signing,
    to_assessment,
)

STATES = ("initiative", "dialogue", "assessment", "signed", "active", "review", "renewed", "ended")
SECRETS = ("Anna Skydd", "skydd@example.org", "070-1234567", "Hemlig adress 1")
OPEN_CONTACT = ("Per Öppen", "per@hela.example.org", "Storgatan 1, Jönköping")
GUIDELINE = Path(__file__).resolve().parents[1] / "config" / "guidelines" / "stenungsund.toml"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 3, 9, 0, tzinfo=STOCKHOLM))


def counts(**nonzero: int) -> dict[str, int]:
    return {s: nonzero.get(s, 0) for s in STATES}


EXPECTED_2026: dict[str, Any] = {
    "at_year_start": counts(active=1, review=1),  # A active, G under review
    "at_year_end": counts(dialogue=1, review=1, renewed=1, ended=5),  # E, F, A; G B C D J
    "monthly": [
        counts(active=1, review=1, signed=1),  # Jan: A, G, B
        counts(active=2, review=1, dialogue=1),  # Feb: A B, G, C
        counts(active=2, review=1, signed=2, ended=1),  # Mar: A B, G, F J, C
        counts(active=3, signed=1, ended=2),  # Apr: A B F, J, C G
        counts(active=3, signed=1, assessment=1, ended=2),  # May: + D
        counts(active=4, ended=3),  # Jun: A B F J, C G D
        counts(active=4, ended=3),  # Jul
        counts(active=3, review=1, ended=3),  # Aug: B under review
        counts(active=3, ended=4),  # Sep: B ended
        counts(active=2, renewed=1, ended=4),  # Oct: A renewed
        counts(active=1, renewed=1, dialogue=1, ended=5),  # Nov: F, A, E; J ended
        counts(review=1, renewed=1, dialogue=1, ended=5),  # Dec: F under review
    ],
    "events": {"opened": 6, "signed": 3, "activated": 3, "renewed": 1, "ended": 5},  # B C F J D E; B F J; A
    "end_reasons": {
        "declined": 1,
        "withdrawn": 1,
        "completed": 0,
        "not_renewed": 1,
        "terminated": 0,
        "rescinded": 1,
        "expired": 1,
    },
    # due: A twice, B, F. held: A (corrected into 2026), B (no report), A. overdue: B (deadline 09-02).
    "reviews": {"due": 4, "held": 3, "report_received": 2, "overdue": 1},
    "contributions": [
        # agreed: the periods of B, F, J (signed) and A's second (renewed); running: A, G, B, F, J's first.
        {"party": "municipality", "kind": "money", "unit": "SEK", "agreed": "1320000.00", "running": "1660000.00"},
        {"party": "municipality", "kind": "premises", "unit": "m2", "agreed": "120.00", "running": "120.00"},
        {"party": "municipality", "kind": "knowledge", "unit": "h", "agreed": "40.00", "running": "0.00"},
        {"party": "organisation", "kind": "volunteer_hours", "unit": "h", "agreed": "8000.00", "running": "10000.00"},
        {"party": "organisation", "kind": "knowledge", "unit": "h", "agreed": "80.00", "running": "80.00"},
    ],
    "guidelines": [
        ("SN 2018/2", "2018-01-01", "2027-06-30", "expiring"),
        ("SN 2019/4", "2019-01-01", "2026-06-30", "expired"),
        ("Stenungsund-IOP", "2019-05-20", None, "in_force"),  # as confirmed by the tests' coordinator
    ],
    # letter: (state at the start, at the end, end reason)
    "cases": {
        "A": ("active", "renewed", None),
        "G": ("review", "ended", "expired"),
        "B": (None, "ended", "not_renewed"),
        "C": (None, "ended", "declined"),
        "F": (None, "review", None),
        "J": (None, "ended", "rescinded"),
        "D": (None, "ended", "withdrawn"),
        "E": (None, "dialogue", None),
    },
}


def load_guidelines(iop: Iop, folder: Path) -> None:
    """Extra Stenungsund guidelines, all older than Stenungsund-IOP so that none binds a case."""
    text = GUIDELINE.read_text(encoding="utf-8")
    for ref, start, end in [
        ("SN 2017/1", "2017-01-01", "2025-12-31"),
        ("SN 2018/2", "2018-01-01", "2027-06-30"),
        ("SN 2019/4", "2019-01-01", "2026-06-30"),
        ("SN 2027/1", "2027-01-01", None),
    ]:
        body = adopted_guideline_toml(text, ref=ref, valid_from=start, valid_until=end)
        path = folder / f"{ref.replace(' ', '_').replace('/', '-')}.toml"
        path.write_text(body, encoding="utf-8")
        iop.load_guideline_file(path)
    confirm_guideline(iop, "Stenungsund-IOP")  # decided 2019-05-20: the newest in force, so it binds


def add_parties(iop: Iop) -> None:
    iop.add_organisation(
        name="Kvinnojouren i Stenungsund",
        org_number=ORG,
        legal_form="ideell_forening",
        protected=True,
        contact_name=SECRETS[0],
        contact_email=SECRETS[1],
        contact_phone=SECRETS[2],
        address=SECRETS[3],
    )
    iop.add_organisation(
        name="Hela Människan",
        org_number=SHELTER,
        legal_form="trossamfund",
        contact_name=OPEN_CONTACT[0],
        contact_email=OPEN_CONTACT[1],
        address=OPEN_CONTACT[2],
    )


def end_decided(iop: Iop, ref: str, day: str) -> None:
    """A decision to end the running agreement before its end date (end or rescind needs it)."""
    iop.record_decision(
        ref, actor="eva", body="Socialnämnden", decided_on=day, minutes_ref="SN § 90/2026", subject="ending"
    )


def sign(iop: Iop, start: str, end: str, *, org: str = SHELTER, extra: Callable[[str], None] | None = None) -> str:
    ref = to_assessment(iop, "Stenungsund", org)
    prepare_signing(iop, ref, start=start, end=end)
    if extra is not None:
        extra(ref)
    iop.fire(ref, "sign", actor="eva")
    return ref


def entry(iop: Iop, ref: str, kind: str) -> int:
    """The case_seq of the first ``record:<kind>`` log entry of the case."""
    return next(int(r["case_seq"]) for r in iop.history(ref) if r["trigger"] == f"record:{kind}")


def build_municipality(iop: Iop, clock: FakeClock, folder: Path) -> dict[str, str]:
    """Run the timeline in the module docstring; returns the refs by letter."""
    add_parties(iop)
    load_guidelines(iop, folder)
    refs: dict[str, str] = {}

    def on(day: str, tick: bool = False) -> None:
        clock.set_date(date.fromisoformat(day))
        if tick:
            report = iop.tick()
            assert report["failed"] == 0 and report["refused"] == 0, (day, report)

    def contribute(ref: str, party: str, kind: str, amount: str, unit: str) -> None:
        iop.record_contribution(ref, actor="anna", party=party, kind=kind, amount=amount, unit=unit)

    on("2025-03-03")
    refs["A"] = sign(iop, "2025-04-01", "2027-03-31")
    refs["G"] = sign(iop, "2025-04-01", "2026-03-31")
    on("2025-04-01", tick=True)
    on("2025-05-05")
    refs["H"] = open_case(iop, "Stenungsund", SHELTER)
    on("2025-06-02")
    iop.fire(refs["H"], "decline", actor="anna", reason="Ingen gemensam samhällsutmaning")
    on("2025-10-02", tick=True)
    on("2025-10-20")
    iop.record_review(refs["G"], actor="kim", held_on="2025-10-20", report_received=True)
    on("2026-01-12")
    refs["B"] = sign(iop, "2026-02-01", "2027-01-31", org=ORG)
    refs["X"] = open_case(iop, "Jönköping", SHELTER)
    on("2026-02-01", tick=True)
    on("2026-02-10")
    refs["C"] = open_case(iop, "Stenungsund", SHELTER)
    iop.fire(refs["C"], "start_dialogue", actor="anna")
    on("2026-03-02")
    refs["F"] = sign(iop, "2026-04-01", "2028-03-31")
    iop.correct(
        refs["F"],
        "contribution",
        entry(iop, refs["F"], "contribution"),
        field="amount",
        value="300000",
        reason="Beslutat belopp enligt SN § 14/2026",
        actor="anna",
    )

    def premises_and_knowledge(ref: str) -> None:
        contribute(ref, "municipality", "premises", "120", "m2")
        contribute(ref, "organisation", "knowledge", "80", "h")

    refs["J"] = sign(iop, "2026-06-01", "2027-05-31", extra=premises_and_knowledge)
    on("2026-03-05")
    iop.fire(refs["C"], "decline", actor="anna", reason="Utanför riktlinjen")
    on("2026-04-01", tick=True)
    on("2026-04-20")
    iop.record_review(refs["A"], actor="kim", held_on="2025-04-20", report_received=True)
    iop.correct(
        refs["A"],
        "review",
        entry(iop, refs["A"], "review"),
        field="held_on",
        value="2026-04-20",
        reason="Fel år angivet",
        actor="kim",
    )
    iop.fire(refs["A"], "continue", actor="kim")
    on("2026-05-04")
    refs["D"] = to_assessment(iop, "Stenungsund", SHELTER)
    on("2026-06-01", tick=True)
    iop.fire(refs["D"], "withdraw", actor="anna", reason="Föreningen drar tillbaka ansökan")
    on("2026-08-03", tick=True)
    on("2026-09-10")
    iop.record_review(refs["B"], actor="kim", held_on="2026-09-10", report_received=False)
    on("2026-09-15")
    end_decided(iop, refs["B"], "2026-09-15")
    iop.fire(refs["B"], "end", actor="anna", reason="Ingen fortsättning", end_reason="not_renewed")
    on("2026-10-02", tick=True)
    on("2026-10-20")
    iop.record_review(refs["A"], actor="kim", held_on="2026-10-20", report_received=True)
    prepare_signing(iop, refs["A"], start="2027-04-01", end="2029-03-31")
    contribute(refs["A"], "municipality", "knowledge", "40", "h")
    iop.fire(refs["A"], "renew", actor="eva")
    on("2026-11-16")
    refs["E"] = open_case(iop, "Stenungsund", SHELTER)
    iop.fire(refs["E"], "start_dialogue", actor="anna")
    on("2026-11-27")
    end_decided(iop, refs["J"], "2026-11-27")
    iop.fire(refs["J"], "rescind", actor="eva", reason="Verksamheten har upphört")
    on("2026-12-10")
    iop.fire(refs["F"], "start_review", actor="kim")
    return refs


def numbers(report: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    """The report in the shape of EXPECTED_2026."""
    letter = {ref: k for k, ref in refs.items()}
    return {
        **{k: report[k] for k in ("at_year_start", "at_year_end", "events", "end_reasons", "reviews", "contributions")},
        "monthly": [m["counts"] for m in report["monthly"]],
        "guidelines": [(g["ref"], g["valid_from"], g["valid_until"], g["status"]) for g in report["guidelines"]],
        "cases": {letter[c["ref"]]: (c["state_at_start"], c["state"], c["end_reason"]) for c in report["cases"]},
    }


def test_the_report_matches_the_hand_counted_year(iop: Iop, clock: FakeClock, tmp_path: Path) -> None:
    refs = build_municipality(iop, clock, tmp_path)
    clock.set(datetime(2026, 12, 31, 23, 0, tzinfo=STOCKHOLM))
    report = iop.annual_report(year=2026, municipality="Stenungsund")
    assert numbers(report, refs) == EXPECTED_2026
    assert [m["month"] for m in report["monthly"]] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert (report["year"], report["municipality"], report["from"], report["to"], report["preliminary"]) == (
        2026,
        "Stenungsund",
        "2026-01-01",
        "2026-12-31",
        True,
    )
    assert [c["ref"] for c in report["cases"]] == sorted(refs[k] for k in "ABCDEFGJ")  # not H (2025), not X
    # Every municipality: X (Jönköping, opened 2026-01-12, still an initiative) joins in.
    everyone = iop.annual_report(year=2026)
    assert everyone["events"] == {**EXPECTED_2026["events"], "opened": 7}
    assert everyone["at_year_end"] == {**EXPECTED_2026["at_year_end"], "initiative": 1}
    # Only confirmed, adopted guidelines are in force (Eksjö's is a proposal; Jönköping's and Mark's unconfirmed).
    assert {g["municipality"] for g in everyone["guidelines"]} == {"Stenungsund"}
    # 2025: A, G signed and active, H declined, G's review begun and held in time.
    before = iop.annual_report(year=2025, municipality="Stenungsund")
    assert before["at_year_end"] == counts(active=1, review=1, ended=1)
    assert before["events"] == {"opened": 3, "signed": 2, "activated": 2, "renewed": 0, "ended": 1}
    assert before["reviews"] == {"due": 1, "held": 1, "report_received": 1, "overdue": 0}
    assert [g["ref"] for g in before["guidelines"]] == ["SN 2017/1", "SN 2018/2", "SN 2019/4", "Stenungsund-IOP"]


def test_the_report_reads_the_same_whenever_it_is_run(iop: Iop, clock: FakeClock, tmp_path: Path) -> None:
    """Later work (2027: reviews, a renewal taking effect, a back-dated review recorded late) changes
    the cases but not the report on 2026; only the 'preliminary' flag drops once the year is over."""
    refs = build_municipality(iop, clock, tmp_path)
    clock.set(datetime(2026, 12, 31, 23, 0, tzinfo=STOCKHOLM))
    in_2026 = iop.annual_report(year=2026, municipality="Stenungsund")
    clock.set_date(date(2027, 1, 11))
    iop.record_review(refs["F"], actor="kim", held_on="2026-12-20", report_received=True)  # recorded after 2026
    iop.fire(refs["F"], "continue", actor="kim")
    iop.fire(refs["E"], "decline", actor="anna", reason="Ingen överenskommelse")
    clock.set_date(date(2027, 4, 1))
    assert iop.tick()["fired"] == 1  # A's renewed agreement takes effect
    clock.set_date(date(2028, 3, 1))
    assert [iop.case(refs[k])["state"] for k in "AEF"] == ["active", "ended", "active"]
    in_2028 = iop.annual_report(year=2026, municipality="Stenungsund")
    assert in_2028 == {**in_2026, "preliminary": False}
    assert in_2026["preliminary"] is True
    assert iop.annual_report(year=2027, municipality="Stenungsund")["events"]["activated"] == 1


def test_a_year_without_activity(iop: Iop) -> None:
    report = iop.annual_report(year=2024, municipality="Stenungsund")
    assert report["at_year_start"] == report["at_year_end"] == counts()
    assert [m["counts"] for m in report["monthly"]] == [counts()] * 12
    assert report["events"] == dict.fromkeys(("opened", "signed", "activated", "renewed", "ended"), 0)
    assert set(report["end_reasons"].values()) == {0} and set(report["reviews"].values()) == {0}
    assert report["contributions"] == [] and report["cases"] == []
    # The shipped Stenungsund guideline gives no decision: not in force (Guideline.in_force) until confirmed.
    assert report["guidelines"] == []
    iop.confirm_guideline("Stenungsund-IOP", actor="kim", **TEST_DECISION)
    again = iop.annual_report(year=2024, municipality="Stenungsund")
    assert [g["ref"] for g in again["guidelines"]] == ["Stenungsund-IOP"]
    md = annual_markdown(report, "sv")
    assert "Inga ärenden." in md and "Inga insatser." in md
    assert "No cases." in annual_markdown(report, "en")


def rendered(report: dict[str, Any]) -> str:
    return "".join(
        [
            json.dumps(report, ensure_ascii=False),
            annual_csv(report),
            annual_markdown(report, "sv"),
            annual_markdown(report, "en"),
            annual_html(report, "sv"),
            annual_html(report, "en"),
        ]
    )


def test_protected_contact_data_is_masked_unless_an_auditor_asks(iop: Iop, clock: FakeClock, tmp_path: Path) -> None:
    refs = build_municipality(iop, clock, tmp_path)
    report = iop.annual_report(year=2026, municipality="Stenungsund")
    text = rendered(report)
    assert [s for s in SECRETS if s in text] == []
    assert all(s in text for s in OPEN_CONTACT)  # only the protected organisation is masked
    shelter = next(c for c in report["cases"] if c["ref"] == refs["B"])
    assert (shelter["organisation"], shelter["protected"], shelter["address"], shelter["contact_phone"]) == (
        "Kvinnojouren i Stenungsund",
        True,
        "(skyddad)",
        "(skyddad)",
    )
    assert iop.access_events() == []
    for who in ("eva", "kim"):  # anna, an officer, would see the open cases she runs (tests/test_need_to_know.py)
        with pytest.raises(AccessDenied) as refused:
            iop.annual_report(year=2026, include_protected=True, actor=who)
        assert refused.value.exit_status == 3
    assert iop.access_events() == []
    full = iop.annual_report(year=2026, municipality="Stenungsund", include_protected=True, actor="revisor")
    assert all(s in rendered(full) for s in SECRETS)
    events = iop.access_events()
    assert [(e["actor"], e["action"], e["scope"], e["roles"]) for e in events] == [
        (
            "revisor",
            "report annual",
            {"year": 2026, "municipality": "Stenungsund", "municipality_code": "1415", "basis": "auditor"},
            ["auditor"],
        )
    ]
    iop.app.sink.close()
    logged = [json.loads(line) for line in (tmp_path / "audit.events.jsonl").read_text().splitlines()]
    assert [e["action"] for e in logged if e["event"] == "access"] == ["report annual"]
    assert [e["actor"] for e in logged if e["event"] == "access_denied"] == ["eva", "kim"]


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"year": 1999}, InvalidInput, "year"),
        ({"year": 2101}, InvalidInput, "year"),
        ({"year": "tjugo"}, InvalidInput, "year"),
        ({"year": 2026, "municipality": "Atlantis"}, InvalidInput, "municipality"),  # no such place: exit 6
        ({"year": 2026, "municipality": "Kiruna"}, NotFound, "municipality"),  # a place without cases: exit 4
        ({"year": 2026, "municipality": "Kiruna", "include_protected": True, "actor": "revisor"}, NotFound, ""),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    iop: Iop, kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    with iop.app.db.engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM transition_log").scalar_one()
    with pytest.raises(error) as refused:
        iop.annual_report(**kwargs)
    if isinstance(refused.value, InvalidInput):
        assert (refused.value.field, refused.value.exit_status) == (field, 6)
        assert ("2000–2100" if field == "year" else "ingen svensk kommun eller region") in refused.value.message("sv")
    else:
        assert isinstance(refused.value, NotFound) and refused.value.exit_status == 4
        assert refused.value.message("sv") == "Kommunen Kiruna finns inte."
    assert iop.access_events() == []
    with iop.app.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM transition_log").scalar_one() == before


def test_a_callers_data_cannot_replace_what_the_workflow_logs(iop: Iop, clock: FakeClock, tmp_path: Path) -> None:
    """Regression: ``fire(..., data={"end_reason": ...})`` used to overwrite the logged end reason."""
    add_parties(iop)
    ref = sign(iop, "2025-04-01", "2026-03-31")
    with pytest.raises(InvalidInput) as refused:
        iop.fire(ref, "rescind", actor="eva", reason="Upphör", data={"end_reason": "completed"})
    assert refused.value.field == "data.end_reason" and refused.value.exit_status == 6
    assert iop.case(ref)["state"] == "signed"
    end_decided(iop, ref, iop.app.clock.today().isoformat())
    record = iop.fire(ref, "rescind", actor="eva", reason="Upphör", data={"diarienummer": "KS 2025/9"})
    assert record["data"] == {
        "end_reason": "rescinded",
        "diarienummer": "KS 2025/9",
        "timers": [],
        "decision": {
            "body": "Socialnämnden",
            "decided_on": iop.app.clock.today().isoformat(),
            "minutes_ref": "SN § 90/2026",
            "subject": "ending",
        },
    }
    assert iop.annual_report(year=2025)["end_reasons"]["rescinded"] == 1


@pytest.mark.slow
def test_the_cli_writes_html_and_json(tmp_path: Path, clock: FakeClock, settings: Any) -> None:
    url = f"sqlite:///{tmp_path / 'iop.db'}"
    with Iop.connect(url, clock=clock, settings=settings, audit_log=False) as api:
        api.init()
        refs = build_municipality(api, clock, tmp_path)
        clock.set_date(max(today(), date(2026, 12, 31)))
        expected = api.annual_report(year=2026, municipality="Stenungsund")
    cli = Cli(tmp_path, url)
    page = tmp_path / "out" / "annual.html"
    page.parent.mkdir()
    done = cli.ok(
        "report", "annual", "--year", "2026", "--municipality", "Stenungsund", "--format", "html", "--output", str(page)
    )
    assert done.out == ""
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and refs["B"] in html
    assert not any(bad in html.lower() for bad in ("<script", " src=", " href=", "url(", "@import"))
    assert [s for s in SECRETS if s in html] == []
    got = cli.ok("--json", "report", "annual", "--year", "2026", "--municipality", "Stenungsund").json()
    assert got == {**expected, "preliminary": today() <= date(2026, 12, 31)}
    assert numbers(got, refs) == EXPECTED_2026
    md = cli.ok("--lang", "en", "report", "annual", "--year", "2026", "--municipality", "Stenungsund").out
    assert md.startswith("# Annual follow-up of idea-based public partnerships 2026 – Stenungsund")
    for args, status, text in [
        (["--year", "1999"], 6, "year"),
        (["--year", "tjugo"], 2, "--year"),
        (["--year", "2026", "--municipality", "Atlantis"], 6, "ingen svensk kommun eller region"),
        (["--year", "2026", "--municipality", "Kiruna"], 4, "Kommunen Kiruna finns inte."),
        (["--year", "2026", "--output", str(tmp_path / "nowhere" / "a.html")], 6, "--output"),
    ]:
        bad = cli("report", "annual", *args)
        assert (bad.status, text in bad.err, "Traceback" in bad.text, bad.out) == (status, True, False, ""), bad
    refused = cli("--actor", "eva", "report", "annual", "--year", "2026", "--include-protected")  # a signatory
    assert (refused.status, "auditor" in refused.err, refused.out) == (3, True, ""), refused
    failure = cli("--json", "report", "annual", "--year", "1999")
    assert (failure.status, failure.json()["error"]["code"]) == (6, "invalid_input")
    with Iop.connect(url, settings=settings, audit_log=False) as api:
        assert api.access_events() == []
