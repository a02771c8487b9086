"""Every fact row bound to the record that wrote it, and ``audit verify``'s check of the tables.

A fact row (meeting, assessment, legal check, agreement, contribution, decision, review)
stores the ``seq`` of its ``record:<kind>`` record (``log_seq``), and the record holds the
row's content: the fields it has always logged (:data:`LOGGED`), and, since schema 0006,
``row_digest``: the SHA-256 of every content column, free text included (which stays out
of the append-only log: only its digest is there). A correction row is checked field by
field against its ``record:correction`` record, a retraction row against its
``record:retraction`` record.

:func:`check` names each row that differs from its record or has none, and each record
whose row is gone. Rows written before 0006 were bound by the migration with the one-time
positional inference (the n-th ``record:<kind>`` record of a case wrote its n-th row) and
are checked on their logged fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit.chain import LogRecord, content_hash
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.correctable import FACTS
from iop_workflow.store import cases as repo
from iop_workflow.store import ledger
from iop_workflow.store.audit_tables import CORRECTIONS, RETRACTIONS

ROW_DIGEST = "row_digest"
_NOT_CONTENT = frozenset({"id", "case_id", "log_seq"})
# Columns added after rows were first bound (0010: decisions.subject): NULL stays out of the
# digest, so a row written before still has the digest its record holds.
_LATER_NULLABLE = frozenset({"subject"})

# kind -> the fields its record has always held: (key in the record's data, column)
LOGGED: Mapping[str, tuple[tuple[str, str], ...]] = {
    "meeting": (("held_on", "held_on"), ("joint_challenge", "joint_challenge"), ("participants", "participants")),
    "assessment": (("criterion", "criterion_code"), ("verdict", "verdict"), ("period", "period"), ("note", "note")),
    "legal-check": (
        ("competence", "competence"),
        ("procurement_not_required", "procurement_not_required"),
        ("no_competition_distortion", "no_competition_distortion"),
        ("state_aid_basis", "state_aid_basis"),
        ("state_aid_amount_sek", "state_aid_amount_sek"),
        ("rationale", "rationale"),
        ("period", "period"),
    ),
    "agreement": (
        ("period", "period"),
        ("start_on", "start_on"),
        ("end_on", "end_on"),
        ("notice_months", "notice_months"),
    ),
    "contribution": (
        ("party", "party"),
        ("kind", "kind"),
        ("amount", "amount"),
        ("unit", "unit"),
        ("description", "description"),
        ("period", "period"),
    ),
    "decision": (
        ("body", "body"),
        ("decided_on", "decided_on"),
        ("minutes_ref", "minutes_ref"),
        ("delegation_ref", "delegation_ref"),
        ("period", "period"),
        ("subject", "subject"),
    ),
    "review": (
        ("period", "period"),
        ("round", "round"),
        ("held_on", "held_on"),
        ("report_received", "report_received"),
    ),
}

# correction row column -> key of the record's data["correction"]
_CORRECTION_FIELDS = (
    ("fact_kind", "kind"),
    ("corrects_case_seq", "entry"),
    ("fact_id", "fact_id"),
    ("field", "field"),
    ("old_value", "from"),
    ("new_value", "to"),
)
# retraction row column -> key of the record's data["retraction"]
_RETRACTION_FIELDS = (("fact_kind", "kind"), ("retracts_case_seq", "entry"), ("fact_id", "fact_id"))


def data_key(kind: str) -> str:
    """The key of a ``record:<kind>`` record's data that holds the fact."""
    return kind.replace("-", "_")


def row_digest(table: str, values: Mapping[Any, Any]) -> str:
    """SHA-256 of a fact row's content: every column but its id, case and record link."""
    columns = repo.FACT_TABLES[table].columns
    return content_hash(
        {
            c.name: _json(values.get(c.name))
            for c in columns
            if c.name not in _NOT_CONTENT and not (c.name in _LATER_NULLABLE and values.get(c.name) is None)
        }
    )


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _same(logged: Any, actual: Any) -> bool:
    """A logged value (as the record wrote it, often text) against the column's value."""
    if logged is None or actual is None:
        return logged is None and actual is None
    if isinstance(actual, bool):
        return str(logged) == str(actual)
    if isinstance(actual, Decimal):
        try:
            return Decimal(str(logged)) == actual
        except InvalidOperation:
            return False
    if isinstance(actual, date):
        return str(logged) == actual.isoformat()
    return str(logged) == str(actual)


def check(s: Connection) -> list[dict[str, Any]]:
    """Every fact and correction row against its record, and every such record against its row."""
    problems: list[dict[str, Any]] = []
    for kind, (table, _fields) in FACTS.items():
        problems.extend(_check_rows(s, repo.FACT_TABLES[table], table, f"record:{kind}", _fact_differs(kind, table)))
        problems.extend(_missing(s, repo.FACT_TABLES[table], f"record:{kind}", table))
    problems.extend(_check_rows(s, CORRECTIONS, "corrections", "record:correction", _correction_differs))
    problems.extend(_missing(s, CORRECTIONS, "record:correction", "corrections"))
    problems.extend(_check_rows(s, RETRACTIONS, "retractions", "record:retraction", _retraction_differs))
    problems.extend(_missing(s, RETRACTIONS, "record:retraction", "retractions"))
    return problems


def _rows(s: Connection, table: sa.Table) -> Iterator[list[sa.RowMapping]]:
    query = (
        sa.select(table, repo.CASES.c.ref.label("case_ref_"))
        .join(repo.CASES, repo.CASES.c.id == table.c.case_id)
        .order_by(table.c.id)
    )
    chunk: list[sa.RowMapping] = []
    for row in s.execute(query.execution_options(yield_per=repo.READ_CHUNK)).mappings():
        chunk.append(row)
        if len(chunk) == repo.READ_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _records(s: Connection, rows: Sequence[sa.RowMapping]) -> dict[int, LogRecord]:
    seqs = sorted({int(r["log_seq"]) for r in rows if r["log_seq"] is not None})
    return {rec.seq: rec for rec in ledger.records_by_seq(s, seqs) if rec.seq is not None}


def _where(table: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    return {"case_ref": row["case_ref_"], "case_seq": None, "field": "fact", "table": table, "row_id": row["id"]}


def _bound(table: str, row: Mapping[Any, Any], rec: LogRecord | None, trigger: str) -> dict[str, Any] | None:
    """A problem when the row names no record, or one that is not its own."""
    where = _where(table, row)
    if row["log_seq"] is None or rec is None:
        detail = "the row names no record" if row["log_seq"] is None else f"record {row['log_seq']} does not exist"
        return {**where, "problem": "fact_without_record", "detail": detail}
    if rec.trigger != trigger or rec.case_ref != row["case_ref_"]:
        return {
            **where,
            "case_seq": rec.case_seq,
            "problem": "fact_record_mismatch",
            "detail": f"record {rec.seq} is {rec.case_ref} #{rec.case_seq} {rec.trigger}, not this row's "
            f"{trigger} of {row['case_ref_']}",
        }
    return None


# What differs between a row and its own record: the names of the columns that do.
Differs = Callable[[sa.RowMapping, LogRecord], list[str]]


def _check_rows(s: Connection, table: sa.Table, name: str, trigger: str, differs: Differs) -> Iterator[dict[str, Any]]:
    """Each row of ``table`` bound to its own ``trigger`` record and saying what that record says."""
    for chunk in _rows(s, table):
        records = _records(s, chunk)
        for row in chunk:
            rec = records.get(int(row["log_seq"])) if row["log_seq"] is not None else None
            unbound = _bound(name, row, rec, trigger)
            if unbound is not None:
                yield unbound
                continue
            assert rec is not None
            changed = differs(row, rec)
            if changed:
                yield {
                    **_where(name, row),
                    "case_seq": rec.case_seq,
                    "problem": "fact_differs_from_log",
                    "detail": f"the {name} row differs from record {rec.seq} in: {', '.join(changed)}",
                }


def _logged(rec: LogRecord, key: str) -> dict[str, Any]:
    logged = rec.data.get(key)
    return logged if isinstance(logged, dict) else {}


def _fact_differs(kind: str, table: str) -> Differs:
    def differs(row: sa.RowMapping, rec: LogRecord) -> list[str]:
        logged = _logged(rec, data_key(kind))
        changed = [column for key, column in LOGGED[kind] if key in logged and not _same(logged[key], row[column])]
        digest = rec.data.get(ROW_DIGEST)
        if digest is not None and digest != row_digest(table, row) and not changed:
            changed = ["a field the record holds only in its row_digest"]
        return changed

    return differs


def _correction_differs(row: sa.RowMapping, rec: LogRecord) -> list[str]:
    logged = _logged(rec, "correction")
    values = {**row, "old_value": json.loads(row["old_value"]), "new_value": json.loads(row["new_value"])}
    changed = [col for col, key in _CORRECTION_FIELDS if logged.get(key) != values[col]]
    return changed + (["reason"] if rec.reason != row["reason"] else [])


def _retraction_differs(row: sa.RowMapping, rec: LogRecord) -> list[str]:
    logged = _logged(rec, "retraction")
    changed = [col for col, key in _RETRACTION_FIELDS if logged.get(key) != row[col]]
    said = (("reason", rec.reason), ("retracted_by", rec.actor))
    return changed + [col for col, value in said if row[col] != value]


def _missing(s: Connection, table: sa.Table, trigger: str, name: str) -> Iterator[dict[str, Any]]:
    """Records of ``trigger`` that no row of ``table`` names: the row was deleted (or re-linked)."""
    linked = sa.select(table.c.log_seq).where(table.c.log_seq.is_not(None))
    query = (
        sa.select(repo.LOG.c.seq, repo.LOG.c.case_ref, repo.LOG.c.case_seq)
        .where(repo.LOG.c.trigger == trigger, repo.LOG.c.seq.not_in(linked))
        .order_by(repo.LOG.c.seq)
    )
    for row in s.execute(query):
        yield {
            "case_ref": row.case_ref,
            "case_seq": row.case_seq,
            "field": "fact",
            "table": name,
            "problem": "record_without_fact",
            "detail": f"no {name} row is bound to record {row.seq} ({trigger})",
        }
