"""The kinds of recorded facts are listed once (``domain.definition.RECORD_TABLES``); everything that
says something per kind says it for exactly those kinds, so a kind added or renamed there cannot be
half-known elsewhere (issue #15, item 4)."""

from __future__ import annotations

from iop_workflow.cli.correct_cmd import KINDS
from iop_workflow.domain.definition import RECORD_KINDS, RECORD_TABLES
from iop_workflow.resources import load_definition
from iop_workflow.service import correctable
from iop_workflow.service.fact_proof import LOGGED
from iop_workflow.store.cases import FACT_TABLES


def test_every_per_kind_table_covers_exactly_the_listed_kinds() -> None:
    assert set(KINDS) == set(correctable.FACTS) == set(LOGGED) == RECORD_KINDS
    assert set(RECORD_TABLES.values()) <= set(FACT_TABLES)  # each kind's rows have a table
    assert {kind: table for kind, (table, _fields) in correctable.FACTS.items()} == dict(RECORD_TABLES)


def test_the_shipped_definition_has_a_recording_rule_for_every_kind() -> None:
    assert set(load_definition().records) == RECORD_KINDS
