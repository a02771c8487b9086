"""Municipalities and regions as reference data (issue #16, item 2): the data, the resolver, the
stored code beside the shown name, and migration 0007 of existing rows on both back-ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from iop_workflow import Iop
from iop_workflow.errors import EXIT_INVALID, InvalidInput
from iop_workflow.municipalities import MUNICIPALITY, REGION, UnknownMunicipality, register, resolve
from iop_workflow.resources import shipped_guidelines
from iop_workflow.service.guidelines import LOAD, chain_of, check_rows
from iop_workflow.store.guidelines import content_of, digest_of
from iop_workflow.store.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.cli_helpers import Backend, Cli
from tests.helpers import ORG, add_orgs, open_case, prepare_signing, to_assessment

SPOT_CHECKS = {
    "0180": "Stockholm",
    "1480": "Göteborg",
    "1280": "Malmö",
    "0680": "Jönköping",
    "1482": "Kungälv",
    "1415": "Stenungsund",
    "1463": "Mark",
    "0686": "Eksjö",
    "2584": "Kiruna",
}


# -- the data --------------------------------------------------------------------------------------
def test_the_shipped_data_holds_290_municipalities_and_21_regions_with_scb_codes() -> None:
    places = register().places
    municipalities = [p for p in places if p.kind == MUNICIPALITY]
    regions = [p for p in places if p.kind == REGION]
    assert (len(municipalities), len(regions)) == (290, 21)
    assert all(len(p.code) == 4 and p.code.isdigit() for p in municipalities)
    assert all(len(p.code) == 2 and p.code.isdigit() for p in regions)
    region_codes = {p.code for p in regions}
    assert region_codes == {
        f"{n:02d}" for n in (1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 17, 18, 19, 20, 21, 22, 23, 24, 25)
    }
    assert {p.code[:2] for p in municipalities} == region_codes  # every kommunkod starts with a län's code
    assert len({p.code for p in places}) == len(places)
    assert len({p.name.casefold() for p in places}) == len(places)
    assert {code: register().by_code[code].name for code in SPOT_CHECKS} == SPOT_CHECKS
    source = register().source
    assert (source["repository"], source["commit"]) == (
        "sjbrg/swedish-geodata",
        "967319129a6a3e8494316421fb64cf5d140714a3",
    )


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("Stenungsund", "1415"),
        ("stenungsund", "1415"),
        ("STENUNGSUNDS KOMMUN", "1415"),
        ("Stenungsunds kommun", "1415"),
        ("Marks kommun", "1463"),
        ("Jönköpings kommun", "0680"),
        ("Borås kommun", "1490"),
        ("Hofors kommun", "2104"),
        ("Eksjö kommun", "0686"),
        ("Kalix kommun", "2514"),
        ("Falu kommun", "2080"),
        ("Kalmar kommun", "0880"),
        ("Göteborgs stad", "1480"),
        ("  Upplands  Väsby ", "0114"),
        ("1415", "1415"),
        ("0180", "0180"),
        ("Region Stockholm", "01"),
        ("region skåne", "12"),
        ("Västra Götalandsregionen", "14"),
        ("Region Västra Götaland", "14"),
        ("Region Gotland", "09"),
        ("Gotland", "0980"),
        ("01", "01"),
    ],
)
def test_a_place_is_found_by_its_name_in_any_case_its_genitive_with_kommun_or_its_code(written: str, code: str) -> None:
    assert resolve(written).code == code


@pytest.mark.parametrize(
    ("written", "nearest"),
    [
        ("Stenungsunds kommune", "Stenungsund (1415)"),
        ("Götebrog", "Göteborg (1480)"),
        ("Kungalv", "Kungälv (1482)"),
        ("Region Stokholm", "Region Stockholm (01)"),
        ("9999", None),
        ("Atlantis", None),
    ],
)
def test_an_unknown_place_is_invalid_input_naming_the_nearest(written: str, nearest: str | None) -> None:
    with pytest.raises(UnknownMunicipality) as refused:
        resolve(written)
    err = refused.value
    assert isinstance(err, InvalidInput) and err.exit_status == EXIT_INVALID
    assert err.code == "unknown_municipality"
    if nearest is None:
        assert err.suggestions == () and "närmast" not in err.message("sv")
    else:
        assert err.suggestions[0] == nearest
        assert f"närmast: {nearest}" in err.message("sv") and f"nearest: {nearest}" in err.message("en")
    assert err.details()["suggestions"] == list(err.suggestions)


# -- cases store the code and show both -----------------------------------------------------------
def test_stenungsunds_kommun_is_accepted_at_open_and_binds_stenungsunds_guideline(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop, municipality="Stenungsunds kommun")
    case = iop.case(ref)
    assert case["state"] == "assessment"
    assert (case["municipality"], case["municipality_code"]) == ("Stenungsund", "1415")
    assert case["guideline"]["ref"] == "Stenungsund-IOP"
    prepare_signing(iop, ref)
    iop.fire(ref, "sign", actor="eva")
    assert iop.case(ref)["state"] == "signed"

    listed = [c for c in iop.cases() if c["ref"] == ref]
    assert [(c["municipality"], c["municipality_code"]) for c in listed] == [("Stenungsund", "1415")]
    opened = iop.history(ref)[0]
    assert (opened["data"]["municipality"], opened["data"]["municipality_code"]) == ("Stenungsund", "1415")
    rows = iop.register(municipality="stenungsunds kommun")
    assert [(r["ref"], r["municipality"], r["municipality_code"]) for r in rows] == [(ref, "Stenungsund", "1415")]
    report = iop.annual_report(year=2026, municipality="1415")
    assert (report["municipality"], report["municipality_code"]) == ("Stenungsund", "1415")
    assert [(c["municipality"], c["municipality_code"]) for c in report["cases"]] == [("Stenungsund", "1415")]
    assert {(g["municipality"], g["municipality_code"]) for g in report["guidelines"]} == {("Stenungsund", "1415")}
    listed_guidelines = {g["ref"]: (g["municipality"], g["municipality_code"]) for g in iop.guideline_dicts()}
    assert listed_guidelines["KS2019/2069"] == ("Kungälv", "1482")
    assert listed_guidelines["Marks-IOP"] == ("Mark", "1463")
    with iop.app.db.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT municipality FROM cases WHERE ref = :r"), {"r": ref}).scalar_one()
    assert stored == "1415"
    assert iop.verify().ok


def test_an_unknown_municipality_at_open_is_refused_with_the_nearest_and_nothing_written(iop: Iop) -> None:
    add_orgs(iop)
    with pytest.raises(UnknownMunicipality) as refused:
        open_case(iop, municipality="Stenungsunds kommune")
    assert "Stenungsund (1415)" in refused.value.message("sv")
    assert iop.cases() == []
    with pytest.raises(UnknownMunicipality):
        iop.annual_report(year=2026, municipality="Atlantis")  # a name of no place: exit 6, not 4


def test_a_region_is_a_party_too(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop, municipality="Region Stockholm")
    assert (iop.case(ref)["municipality"], iop.case(ref)["municipality_code"]) == ("Region Stockholm", "01")
    options = {o["trigger"]: o for o in iop.options(ref, actor="anna")}
    assert options["start_dialogue"]["allowed"]


# -- the migration -----------------------------------------------------------------------------------
def _step(iop: Iop, revision: str, *, down: bool = False) -> None:
    with iop.app.db.engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def test_0007_turns_existing_names_into_codes_and_the_log_still_verifies(iop: Iop) -> None:
    add_orgs(iop)
    ref = to_assessment(iop)
    other = open_case(iop, municipality="Kungälv")
    iop.grant("mia", "officer", municipality="Marks kommun")
    iop.create_token(name="desk", roles=["officer"], municipalities=["Jönköping", "Eksjö"])
    with iop.app.db.engine.connect() as conn:
        log_before = conn.execute(sa.text("SELECT seq, hash FROM transition_log ORDER BY seq")).all()

    _step(iop, "0006", down=True)  # below 0007 the rows held names, as free text
    with iop.app.db.engine.begin() as conn:
        assert (
            conn.execute(sa.text("SELECT municipality FROM cases WHERE ref = :r"), {"r": ref}).scalar_one()
            == "Stenungsund"
        )
        conn.execute(sa.text("UPDATE cases SET municipality = 'Kungälvs kommun' WHERE ref = :r"), {"r": other})
        conn.execute(sa.text("UPDATE grants SET municipality = 'marks kommun' WHERE login = 'mia'"))
        conn.execute(
            sa.text(
                "INSERT INTO grants (login, role, municipality, granted_by, granted_at, granted_seq)"
                " SELECT 'ola', 'officer', 'Atlantis', granted_by, granted_at, granted_seq FROM grants"
                " WHERE login = 'mia'"
            )
        )
        tokens = conn.execute(sa.text("SELECT municipalities FROM api_tokens")).scalar_one()
        assert json.loads(tokens) == ["Eksjö", "Jönköping"]

    upgrade(iop.app.db)
    assert current_revision(iop.app.db) == head_revision()
    with iop.app.db.engine.connect() as conn:
        cases = dict(conn.execute(sa.text("SELECT ref, municipality FROM cases")).all())
        grants = dict(
            conn.execute(sa.text("SELECT login, municipality FROM grants WHERE login IN ('mia', 'ola')")).all()
        )
        tokens = conn.execute(sa.text("SELECT municipalities FROM api_tokens")).scalar_one()
        guideline_codes = set(conn.execute(sa.text("SELECT municipality FROM guidelines")).scalars())
        log_after = conn.execute(sa.text("SELECT seq, hash FROM transition_log ORDER BY seq")).all()
    assert cases == {ref: "1415", other: "1482"}
    assert grants == {"mia": "1463", "ola": "Atlantis"}  # a name of no place stays as it was
    assert json.loads(tokens) == ["0680", "0686"]
    assert guideline_codes == {"1415", "1463", "1482", "0680", "0686"}
    assert log_after == log_before  # the records keep what they said
    iop.init()  # records the guideline rows 0011's downgrade unlinked (docs/guidelines.md)
    assert iop.verify().ok
    assert (iop.case(other)["municipality"], iop.case(other)["municipality_code"]) == ("Kungälv", "1482")
    assert {g["login"]: g["municipality"] for g in iop.grants()}["mia"] == "Mark"
    assert [t["municipality_codes"] for t in iop.tokens()] == [["0680", "0686"]]
    assert iop.case(ref)["guideline"]["ref"] == "Stenungsund-IOP"
    assert iop.init()["guidelines"] == dict.fromkeys(g.ref for g in shipped_guidelines()) | {
        g.ref: "unchanged" for g in shipped_guidelines()
    }  # the logged contents still match: no new versions


def test_a_guideline_row_agrees_with_a_record_that_named_its_municipality_another_way() -> None:
    g = next(g for g in shipped_guidelines() if g.ref == "Stenungsund-IOP")

    def record(said: str) -> dict[str, object]:
        content = {**content_of(g), "municipality": said}
        return {
            "guideline": content,
            "content_hash": digest_of(content),
            "case_ref": chain_of(g.ref),
            "trigger": LOAD,
            "version": 1,
        }

    row = {"ref": g.ref, "version": 1, "log_seq": 7, "municipality": "1415"}
    assert check_rows([(row, g)], {7: record("Stenungsunds kommun")}) == []
    assert check_rows([(row, g)], {7: record("Stenungsund")}) == []
    differs = check_rows([(row, g)], {7: record("Marks kommun")})
    assert [(p["problem"], p["detail"]) for p in differs] == [
        ("guideline_differs_from_log", "the table differs from record 7 in: municipality")
    ]


# -- the real iop ------------------------------------------------------------------------------------
def test_the_cli_takes_the_genitive_and_refuses_an_unknown_place_with_the_nearest(
    backend: Backend, tmp_path: Path
) -> None:
    cli = Cli(tmp_path, backend.url)
    cli.ok("init")
    cli.sh_ok(f"org add --name 'Kvinnojouren i Stenungsund' --org-number {ORG} --legal-form ideell_forening")
    opened = cli.sh_ok(
        f"--json --actor anna case open --org {ORG} --municipality 'Stenungsunds kommun' "
        "--title 'Skyddat boende' --challenge 'Skydd'"
    ).json()
    assert (opened["municipality"], opened["municipality_code"]) == ("Stenungsund", "1415")
    listed = cli.sh_ok("--json case list --municipality 1415").json()
    assert [c["ref"] for c in listed] == [opened["ref"]]

    refused = cli.sh(
        f"--json --actor anna case open --org {ORG} --municipality 'Stenungsunds kommune' --title T --challenge C"
    )
    assert refused.status == 6, refused.text
    error = refused.json()["error"]
    assert error["code"] == "unknown_municipality"
    assert error["details"]["suggestions"][0] == "Stenungsund (1415)"
    said = cli.sh(f"--lang sv --actor anna case open --org {ORG} --municipality Götebrog --title T --challenge C")
    assert said.status == 6 and "närmast: Göteborg (1480)" in said.err and "Traceback" not in said.text
    assert [c["ref"] for c in cli.sh_ok("--json case list").json()] == [opened["ref"]]
