"""The reads benchmark's data: template cases through the real write path, grown by cloning them re-chained.

How the data is made is told in :mod:`benchmarks.reads`, which runs it (``python -m benchmarks.reads``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow import FakeClock, Iop
from iop_workflow.audit.chain import record_from_row
from iop_workflow.settings import Settings
from iop_workflow.store import cases as repo
from iop_workflow.store.pg_copy import reset_sequences
from tests.helpers import prepare_signing

STOCKHOLM = ZoneInfo("Europe/Stockholm")
START = datetime(2026, 1, 12, 9, tzinfo=STOCKHOLM)
ACTORS = {
    "anna": frozenset({"registrar", "officer"}),
    "bo": frozenset({"officer"}),
    "eva": frozenset({"signatory"}),
    "lars": frozenset({"legal"}),
    "kim": frozenset({"coordinator"}),
    "system": frozenset({"system"}),
}
PLACES = ("Stenungsund", "Kungälv", "Göteborg", "Tjörn")
BATCH = 1000  # cloned cases written per transaction


def settings() -> Settings:
    return dataclasses.replace(Settings(), actors=ACTORS)


def org_number(i: int) -> str:
    from stdnum import luhn  # python-stdnum: a dependency of the product

    digits = f"802{i:06d}"
    return f"{digits[:6]}-{digits[6:]}{luhn.calc_check_digit(digits)}"


def build_templates(url: str, n: int, audit_log: Path) -> None:
    """``n`` cases through the real write path, a realistic mix of states and facts."""
    with Iop.connect(url, clock=FakeClock(START), settings=settings(), audit_log=audit_log) as iop:
        iop.init()
        orgs = [org_number(i) for i in range(40)]
        for i, number in enumerate(orgs):
            iop.add_organisation(
                name=f"Förening {i}",
                org_number=number,
                legal_form="ideell_forening",
                protected=i % 8 == 0,
                address=f"Gatan {i}",
                contact_email=f"info{i}@example.org",
                actor="anna",
            )
        for i in range(n):
            stage, org = i % 10, orgs[i % len(orgs)]
            place = PLACES[i % len(PLACES)] if stage < 3 else "Stenungsund"
            ref = iop.open_case(
                org_number=org,
                municipality=place,
                title=f"Verksamhet {i}",
                challenge="Ett samhällsproblem att möta tillsammans",
                actor="anna",
            )
            if stage < 3:
                continue
            iop.fire(ref, "start_dialogue", actor="anna")
            iop.record_meeting(ref, actor="anna", held_on=START.date(), joint_challenge="Gemensam utmaning")
            if stage % 2 == 0:
                iop.assign(ref, "bo", actor="kim")
            if stage < 5:
                continue
            iop.fire(ref, "submit_for_assessment", actor="anna")
            if stage < 7:
                continue
            prepare_signing(iop, ref)  # the tests' signing facts, as the other benchmarks record them
            iop.fire(ref, "sign", actor="eva")


def grow(url: str, total: int) -> int:
    """Clone the database's cases (each template case in turn) until it holds ``total``; the clones made."""
    with Iop.connect(url, clock=FakeClock(START), settings=settings(), audit_log=False) as iop:
        with iop.app.db.read() as s:
            templates = [
                _template(s, case)
                for case in s.execute(sa.select(repo.CASES).order_by(repo.CASES.c.id)).mappings().all()
            ]
            case_id = int(s.execute(sa.select(sa.func.max(repo.CASES.c.id))).scalar_one())
            seq = int(s.execute(sa.select(sa.func.max(repo.LOG.c.seq))).scalar_one())
            counter = s.execute(sa.select(repo.COUNTERS)).mappings().one()
        made, year, number = 0, int(counter["year"]), int(counter["last"])
        while len(templates) + made < total:
            rows: dict[str, list[dict[str, Any]]] = {}
            for _ in range(min(BATCH, total - len(templates) - made)):
                template = templates[made % len(templates)]
                case_id, number = case_id + 1, number + 1
                seq = _clone(template, case_id, iop.app.settings.case_ref(year, number), seq, rows)
                made += 1
            with iop.app.db.write() as s:
                for table in ("cases", "transition_log", "timers", *repo.FACT_TABLES):
                    if rows.get(table):
                        s.execute(sa.insert(_table(table)), rows[table])
                s.execute(sa.update(repo.COUNTERS).where(repo.COUNTERS.c.year == year).values(last=number))
        if iop.app.db.engine.dialect.name == "postgresql":  # explicit ids: move each serial past them
            with iop.app.db.write() as s:
                reset_sequences(
                    s, [_table(table) for table in ("cases", "transition_log", "timers", *repo.FACT_TABLES)]
                )
        return made


def _table(name: str) -> sa.Table:
    return {"cases": repo.CASES, "transition_log": repo.LOG, "timers": repo.TIMERS, **repo.FACT_TABLES}[name]


def _template(s: Connection, case: sa.RowMapping) -> dict[str, Any]:
    log = s.execute(sa.select(repo.LOG).where(repo.LOG.c.case_ref == case["ref"]).order_by(repo.LOG.c.case_seq))
    facts = {
        name: s.execute(sa.select(t).where(t.c.case_id == case["id"])).mappings().all()
        for name, t in repo.FACT_TABLES.items()
    }
    timers = s.execute(sa.select(repo.TIMERS).where(repo.TIMERS.c.case_id == case["id"])).mappings().all()
    return {"case": dict(case), "log": list(log.mappings()), "facts": facts, "timers": timers}


def _clone(template: dict[str, Any], case_id: int, ref: str, seq: int, rows: dict[str, list[dict[str, Any]]]) -> int:
    """Append one clone's rows to ``rows``; its records re-chained under ``ref`` from ``seq + 1``; the last seq."""
    rows.setdefault("cases", []).append({**template["case"], "id": case_id, "ref": ref})
    seqs: dict[int, int] = {}
    prev = None
    for row in template["log"]:
        seq += 1
        seqs[int(row["seq"])] = seq
        record = dataclasses.replace(
            record_from_row(row), case_ref=ref, seq=seq, prev_hash=prev.hash if prev is not None else row["prev_hash"]
        )
        record = dataclasses.replace(record, hash=record.compute_hash())
        rows.setdefault("transition_log", []).append(
            {**row, "seq": seq, "case_ref": ref, "prev_hash": record.prev_hash, "hash": record.hash}
        )
        prev = record
    for name, facts in template["facts"].items():
        for fact in facts:
            bound = seqs.get(fact["log_seq"]) if fact["log_seq"] is not None else None
            rows.setdefault(name, []).append({**_unnumbered(fact), "case_id": case_id, "log_seq": bound})
    for timer in template["timers"]:
        rows.setdefault("timers", []).append({**_unnumbered(timer), "case_id": case_id})
    return seq


def _unnumbered(row: Any) -> dict[str, Any]:
    """The row without its id: the database numbers the copy."""
    return {k: v for k, v in row.items() if k != "id"}
