"""The shipped guidelines and the guideline loader."""

from __future__ import annotations

from datetime import date

import pytest

from iop_workflow.domain.guidelines import DECIDING, GuidelineStatus, governing_for, in_force_for, parse_guideline
from iop_workflow.domain.values import CriterionKind
from iop_workflow.errors import DefinitionError
from iop_workflow.resources import shipped_guidelines

GOOD = """
[guideline]
ref = "X-1"
municipality = "X"
title = "T"
status = "adopted"
decided_on = 2020-01-01
decided_by = "KS"
valid_from = 2020-01-01
valid_until = 2022-12-31
owner = "O"

[[criteria]]
code = "initiated_by_org"
kind = "required"
text_sv = "Initiativ"

[guideline.provenance.status]
source = "protokoll KS 2020-01-01"
quote = "KS antar riktlinjen"
verified = true

[guideline.provenance.decided_on]
source = "protokoll KS 2020-01-01"
verified = true

[guideline.provenance.decided_by]
source = "protokoll KS 2020-01-01"
verified = true

[guideline.provenance.valid_from]
source = "riktlinjen"
verified = false

[guideline.provenance.valid_until]
source = "riktlinjen"
quote = "Giltighetstid: 2022-12-31"
verified = true
"""


def by_municipality() -> dict[str, object]:
    return {g.municipality: g for g in shipped_guidelines()}


def test_five_seed_guidelines_ship() -> None:
    assert sorted(by_municipality()) == ["Eksjö", "Jönköping", "Kungälv", "Mark", "Stenungsund"]


def test_kungalv_is_the_real_guideline() -> None:
    g = next(g for g in shipped_guidelines() if g.ref == "KS2019/2069")
    assert (g.municipality, g.decided_on, g.valid_from, g.valid_until) == (
        "Kungälv",
        date(2017, 6, 21),
        date(2017, 6, 21),
        date(2023, 12, 31),
    )
    assert (g.decided_by, g.minutes_ref) == ("Kommunstyrelsen", "§ 227/2017")
    assert g.guideline_review_months == 12 and g.follow_up_months is None  # the guideline's own yearly review
    assert g.owner == "Portföljägare Social hållbarhet"
    kinds = [c.kind for c in g.criteria]
    assert kinds.count(CriterionKind.ELIGIBILITY) == 2
    assert kinds.count(CriterionKind.REQUIRED) == 9
    assert kinds.count(CriterionKind.CONSIDERATION) == 4
    assert g.criteria[2].code == "initiated_by_org"
    # In force only once its assumed start (the decision date) is confirmed: the document gives none.
    assert g.unverified() == ("valid_from",) and not g.in_force(date(2020, 3, 1))
    assert g.covers(date(2020, 3, 1)) and not g.covers(date(2024, 1, 1))


def test_jonkoping_lists_eight_required_criteria() -> None:
    g = next(g for g in shipped_guidelines() if g.municipality == "Jönköping")
    assert [c.kind for c in g.criteria] == [CriterionKind.REQUIRED] * 8


def test_no_shipped_guideline_is_in_force_until_confirmed_but_each_adopted_or_proposed_one_governs() -> None:
    gs = shipped_guidelines()
    for g in gs:
        assert in_force_for(gs, g.municipality, date(2020, 3, 1)) is None
    assert governing_for(gs, "Kungälv", date(2020, 3, 1)).ref == "KS2019/2069"  # type: ignore[union-attr]
    assert governing_for(gs, "Kungälv", date(2026, 11, 21)) is None
    assert governing_for(gs, "Stenungsund", date(2020, 3, 1)).ref == "Stenungsund-IOP"  # type: ignore[union-attr]
    assert governing_for(gs, "Eksjö", date(2020, 3, 1)).ref == "Eksjö-IOP"  # type: ignore[union-attr]


def test_every_shipped_date_and_reference_has_a_provenance_and_nothing_unmarked_is_verified() -> None:
    for g in shipped_guidelines():
        for name in DECIDING:
            if g.value(name) is not None:
                p = g.sourced(name)
                assert p is not None and p.source.strip(), (g.ref, name)
                assert not p.verified or p.quote.strip(), (g.ref, name)  # verified facts quote their source
    statuses = {g.ref: g.status for g in shipped_guidelines()}
    assert statuses.pop("Eksjö-IOP") is GuidelineStatus.PROPOSAL
    assert set(statuses.values()) == {GuidelineStatus.ADOPTED}


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (
            lambda t: t.replace("valid_until = 2022-12-31", "valid_until = 2019-12-31"),
            "guideline.valid_until",
            "before valid_from",
        ),
        (
            lambda t: t + '\n[[criteria]]\ncode = "initiated_by_org"\nkind = "required"\ntext_sv = "Igen"\n',
            "criteria[1].code",
            "duplicate criterion code",
        ),
        (lambda t: t.replace('kind = "required"', 'kind = "nice_to_have"'), "criteria[0].kind", "unknown kind"),
        (
            lambda t: t.replace("decided_on = 2020-01-01", "decided_on = 2021-01-01"),
            "guideline.decided_on",
            "after valid_from",
        ),
        (lambda t: t.replace('ref = "X-1"\n', ""), "guideline.ref", "missing"),
        (
            lambda t: t.replace("valid_from = 2020-01-01", 'valid_from = "2020-01-01"'),
            "guideline.valid_from",
            "TOML date",
        ),
        (lambda t: t.replace('owner = "O"', 'owner = "O"\nbudget = 5'), "guideline.budget", "unknown key"),
        (
            lambda t: t.replace("valid_from = 2020-01-01", "valid_fron = 2020-01-01"),
            "guideline.valid_fron",
            "unknown key; did you mean 'guideline.valid_from'?",
        ),
        (
            lambda t: t.replace('quote = "KS antar riktlinjen"', 'quote = "KS"\npage = 3'),
            "guideline.provenance.status.page",
            "(known: quote, source, verified)",
        ),
        (
            lambda t: t.replace('code = "initiated_by_org"', 'code = "Initiated By Org"'),
            "criteria[0].code",
            "snake_case",
        ),
        (lambda t: t.replace('status = "adopted"', 'status = "antagen"'), "guideline.status", "unknown status"),
        (lambda t: t.replace('status = "adopted"\n', ""), "guideline.status", "missing"),
        (
            lambda t: t.replace("[guideline.provenance.valid_until]", "[guideline.provenance.valid_untill]"),
            "guideline.provenance.valid_untill",
            "unknown key",
        ),
        (
            lambda t: t.replace('quote = "KS antar riktlinjen"', 'quote = "KS"\npage = 3'),
            "guideline.provenance.status.page",
            "unknown key",
        ),
        (
            lambda t: t.replace("[guideline.provenance.decided_on]\nsource", "[guideline.provenance.owner]\nsource"),
            "guideline.provenance.decided_on",
            "given without its source",
        ),
        (
            lambda t: t.replace("valid_from = 2020-01-01\n", "").replace(
                '"riktlinjen"\nverified = false', '"riktlinjen"\nverified = true'
            ),
            "guideline.provenance.valid_from.verified",
            "not given",
        ),  # verified, but unknown
        (
            lambda t: t.replace(
                "verified = true\n\n[guideline.provenance.decided_by]",
                'verified = "yes"\n\n[guideline.provenance.decided_by]',
            ),
            "guideline.provenance.decided_on.verified",
            "true or false",
        ),
    ],
)
def test_malformed_guideline_names_file_and_key(edit, key: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    parse_guideline(GOOD, file="g.toml")  # the base is valid
    with pytest.raises(DefinitionError) as info:
        parse_guideline(edit(GOOD), file="g.toml")
    assert (info.value.file, info.value.key) == ("g.toml", key)
    assert problem in info.value.problem
