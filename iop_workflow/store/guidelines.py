"""Guidelines in the database: saving shipped files, reading them back as domain values."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.domain.guidelines import Criterion, Guideline
from iop_workflow.domain.values import CriterionKind
from iop_workflow.store.tables import CriterionRow, GuidelineRow

G = GuidelineRow.__table__  # type: ignore[attr-defined]
C = CriterionRow.__table__  # type: ignore[attr-defined]

# Built once (see store/cases.py): executions only bind parameters.
_BY_MUNICIPALITY = sa.select(G).where(G.c.municipality == sa.bindparam("municipality"))
_BY_ID = sa.select(G).where(G.c.id == sa.bindparam("gid"))
_REF_BY_ID = sa.select(G.c.ref).where(G.c.id == sa.bindparam("gid"))
_CRITERIA = sa.select(C).where(C.c.guideline_id == sa.bindparam("gid")).order_by(C.c.position)


def content_hash(g: Guideline) -> str:
    blob = json.dumps(dataclasses.asdict(g), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def save_guideline(s: Connection, g: Guideline, now: datetime) -> str:
    """Insert or update ``g``; return "added", "updated" or "unchanged"."""
    digest = content_hash(g)
    row = s.execute(sa.select(G.c.id, G.c.content_hash).where(G.c.ref == g.ref)).first()
    values = {
        "ref": g.ref,
        "municipality": g.municipality,
        "title": g.title,
        "decided_on": g.decided_on,
        "decided_by": g.decided_by,
        "valid_from": g.valid_from,
        "valid_until": g.valid_until,
        "follow_up_months": g.follow_up_months,
        "owner": g.owner,
        "source": g.source,
        "note": g.note,
        "content_hash": digest,
        "loaded_at": now,
    }
    if row is None:
        gid = s.execute(sa.insert(G).values(**values).returning(G.c.id)).scalar_one()
        outcome = "added"
    elif row.content_hash == digest:
        return "unchanged"
    else:
        gid = row.id
        s.execute(sa.update(G).where(G.c.id == gid).values(**values))
        s.execute(sa.delete(C).where(C.c.guideline_id == gid))
        outcome = "updated"
    s.execute(
        sa.insert(C),
        [
            {
                "guideline_id": gid,
                "position": i,
                "code": c.code,
                "kind": c.kind.value,
                "text_sv": c.text_sv,
                "text_en": c.text_en,
            }
            for i, c in enumerate(g.criteria)
        ],
    )
    return outcome


class GuidelineCache:
    """Domain guidelines by id, reloaded only when a row's content hash changes."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[str, Guideline]] = {}
        self._ids: dict[str, int] = {}
        self._refs: dict[int, str] = {}
        self._lock = threading.Lock()

    def id_of(self, ref: str) -> int:
        """The row id of a guideline this cache has read."""
        with self._lock:
            return self._ids[ref]

    def ref_of(self, s: Connection, gid: int) -> str:
        """The ref of guideline row ``gid``: read once, as a row keeps its ref (saving matches on it)."""
        with self._lock:
            ref = self._refs.get(gid)
        if ref is None:
            ref = str(s.execute(_REF_BY_ID, {"gid": gid}).scalar_one())
            with self._lock:
                self._refs[gid] = ref
        return ref

    def for_municipality(self, s: Connection, municipality: str) -> dict[int, Guideline]:
        rows = s.execute(_BY_MUNICIPALITY, {"municipality": municipality}).mappings().all()
        return {row["id"]: self._get(s, row) for row in rows}

    def by_id(self, s: Connection, gid: int) -> Guideline:
        row = s.execute(_BY_ID, {"gid": gid}).mappings().one()
        return self._get(s, row)

    def all(self, s: Connection) -> dict[int, Guideline]:
        rows = s.execute(sa.select(G).order_by(G.c.municipality, G.c.valid_from)).mappings().all()
        return {row["id"]: self._get(s, row) for row in rows}

    def _get(self, s: Connection, row: sa.RowMapping) -> Guideline:
        with self._lock:
            cached = self._by_id.get(row["id"])
        if cached is not None and cached[0] == row["content_hash"]:
            return cached[1]
        crit = s.execute(_CRITERIA, {"gid": row["id"]}).mappings()
        g = Guideline(
            ref=row["ref"],
            municipality=row["municipality"],
            title=row["title"],
            decided_on=row["decided_on"],
            decided_by=row["decided_by"],
            valid_from=row["valid_from"],
            valid_until=row["valid_until"],
            follow_up_months=row["follow_up_months"],
            owner=row["owner"],
            source=row["source"],
            note=row["note"],
            criteria=tuple(
                Criterion(code=c["code"], kind=CriterionKind(c["kind"]), text_sv=c["text_sv"], text_en=c["text_en"])
                for c in crit
            ),
        )
        with self._lock:
            self._by_id[row["id"]] = (row["content_hash"], g)
            self._ids[g.ref] = row["id"]
            self._refs[row["id"]] = g.ref
        return g
