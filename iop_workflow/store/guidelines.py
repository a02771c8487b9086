"""Guidelines in the database: saving shipped files, reading them back as domain values."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from iop_workflow.audit import chain
from iop_workflow.domain.guidelines import SOURCED, Criterion, Guideline, GuidelineStatus, Provenance
from iop_workflow.domain.values import CriterionKind
from iop_workflow.municipalities import code_of, name_of
from iop_workflow.store.tables import CriterionRow, GuidelineRow

G = GuidelineRow.__table__  # type: ignore[attr-defined]
C = CriterionRow.__table__  # type: ignore[attr-defined]

# Built once (see store/cases.py): executions only bind parameters. A guideline's current
# version is its highest; new bindings of cases, lists and shows see only that one.
_H = G.alias("h")
CURRENT_VERSION = G.c.version == sa.select(sa.func.max(_H.c.version)).where(_H.c.ref == G.c.ref).scalar_subquery()
# Which versions are current, and their content hashes: a cached guideline is read whole only when
# its hash changed (every fire that reads guidelines runs this, so it fetches two columns, not all).
_HASHES_BY_MUNICIPALITY = sa.select(G.c.id, G.c.content_hash).where(
    G.c.municipality == sa.bindparam("municipality"), CURRENT_VERSION
)
_CURRENT = sa.select(G).where(CURRENT_VERSION).order_by(G.c.municipality, G.c.valid_from)
_BY_ID = sa.select(G).where(G.c.id == sa.bindparam("gid"))
_REF_BY_ID = sa.select(G.c.ref).where(G.c.id == sa.bindparam("gid"))
_CRITERIA = sa.select(C).where(C.c.guideline_id == sa.bindparam("gid")).order_by(C.c.position)
_LATEST = sa.select(G).where(G.c.ref == sa.bindparam("ref")).order_by(G.c.version.desc()).limit(1)


def content_of(g: Guideline) -> dict[str, Any]:
    """A guideline's full content as JSON values: what its load record holds and its hash covers.

    The fields added by migration 0011 (status, minutes_ref, guideline_review_months, provenance)
    are left out while they hold what that migration gave a row loaded before it, so the records
    of such rows still prove them (:data:`LEGACY`)."""
    loaded: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(g), default=str, ensure_ascii=False))
    if not loaded.get("allows_municipal_initiative"):  # the default (0010) stays out: old hashes hold
        loaded.pop("allows_municipal_initiative", None)
    loaded["provenance"] = provenance_json(g)
    if all(loaded[k] == v for k, v in LEGACY.items()):
        for k in LEGACY:
            del loaded[k]
    return loaded


# What migration 0011 gives a row loaded before it: adopted, nothing further known, nothing verified.
LEGACY: dict[str, Any] = {"status": "adopted", "minutes_ref": None, "guideline_review_months": None, "provenance": {}}


def provenance_json(g: Guideline) -> dict[str, dict[str, Any]]:
    return {name: {"source": p.source, "quote": p.quote, "verified": p.verified} for name, p in g.provenance}


def provenance_of(raw: str) -> tuple[tuple[str, Provenance], ...]:
    data = json.loads(raw or "{}")
    order = {name: i for i, name in enumerate(SOURCED)}
    data = dict(sorted(data.items(), key=lambda item: order.get(item[0], len(order))))
    return tuple(
        (name, Provenance(source=p["source"], quote=p.get("quote", ""), verified=bool(p["verified"])))
        for name, p in data.items()
    )


def digest_of(content: Mapping[str, Any]) -> str:
    return chain.content_hash(content)


def content_hash(g: Guideline) -> str:
    return digest_of(content_of(g))


def latest(s: Connection, ref: str) -> sa.RowMapping | None:
    """The current (highest) version's row of guideline ``ref``, if any."""
    return s.execute(_LATEST, {"ref": ref}).mappings().first()


def current_versions(s: Connection) -> dict[str, dict[str, Any]]:
    """Each guideline's current version: ``version``, ``loaded_by``, ``loaded_at`` by ref."""
    query = sa.select(G.c.ref, G.c.version, G.c.loaded_by, G.c.loaded_at).where(CURRENT_VERSION)
    return {row["ref"]: dict(row) for row in s.execute(query).mappings()}


def every_version(s: Connection) -> list[sa.RowMapping]:
    return list(s.execute(sa.select(G).order_by(G.c.ref, G.c.version)).mappings())


def insert_version(s: Connection, g: Guideline, *, version: int, loaded_by: str, log_seq: int, now: datetime) -> int:
    """Store version ``version`` of ``g`` (with its criteria) as a new row; return its id.

    The row holds the municipality's SCB code; the domain value (and so the logged content) its name.
    """
    values = {
        "ref": g.ref,
        "version": version,
        "loaded_by": loaded_by,
        "log_seq": log_seq,
        **columns_of(g),
        "loaded_at": now,
    }
    gid = int(s.execute(sa.insert(G).values(**values).returning(G.c.id)).scalar_one())
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
    return gid


def columns_of(g: Guideline) -> dict[str, Any]:
    """The columns a guideline's content fills (criteria aside)."""
    return {
        "municipality": code_of(g.municipality),
        "title": g.title,
        "status": g.status.value,
        "decided_on": g.decided_on,
        "decided_by": g.decided_by,
        "minutes_ref": g.minutes_ref,
        "valid_from": g.valid_from,
        "valid_until": g.valid_until,
        "follow_up_months": g.follow_up_months,
        "guideline_review_months": g.guideline_review_months,
        "owner": g.owner,
        "source": g.source,
        "note": g.note,
        "provenance": json.dumps(provenance_json(g), ensure_ascii=False, sort_keys=True),
        "allows_municipal_initiative": g.allows_municipal_initiative,
        "content_hash": content_hash(g),
    }


def amend(s: Connection, gid: int, g: Guideline, *, log_seq: int) -> None:
    """Rewrite row ``gid`` (same version, same criteria) to hold ``g``, proven by record ``log_seq``."""
    s.execute(sa.update(G).where(G.c.id == gid).values(**columns_of(g), log_seq=log_seq))


def link_record(s: Connection, gid: int, log_seq: int) -> None:
    """Bind a row loaded before migration 0005 to the record that now holds its content."""
    s.execute(sa.update(G).where(G.c.id == gid, G.c.log_seq.is_(None)).values(log_seq=log_seq))


def from_row(s: Connection, row: sa.RowMapping) -> Guideline:
    """The guideline a row (and its criteria rows) holds, read afresh."""
    crit = s.execute(_CRITERIA, {"gid": row["id"]}).mappings()
    return Guideline(
        ref=row["ref"],
        municipality=name_of(row["municipality"]),
        title=row["title"],
        status=GuidelineStatus(row["status"]),
        decided_on=row["decided_on"],
        decided_by=row["decided_by"],
        minutes_ref=row["minutes_ref"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        follow_up_months=row["follow_up_months"],
        guideline_review_months=row["guideline_review_months"],
        owner=row["owner"],
        source=row["source"],
        note=row["note"],
        provenance=provenance_of(row["provenance"]),
        allows_municipal_initiative=bool(row["allows_municipal_initiative"]),
        criteria=tuple(
            Criterion(code=c["code"], kind=CriterionKind(c["kind"]), text_sv=c["text_sv"], text_en=c["text_en"])
            for c in crit
        ),
    )


class GuidelineCache:
    """Domain guidelines by id, reloaded only when a row's content hash changes."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[str, Guideline]] = {}
        self._ids: dict[str, int] = {}
        self._refs: dict[int, str] = {}
        self._lock = threading.Lock()

    def id_of(self, ref: str) -> int:
        """The row id of the current version of a guideline this cache has read as current."""
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
        """The current version of each of the guidelines of the municipality with this SCB code."""
        return self._current(s, s.execute(_HASHES_BY_MUNICIPALITY, {"municipality": municipality}).mappings().all())

    def by_id(self, s: Connection, gid: int) -> Guideline:
        row = s.execute(_BY_ID, {"gid": gid}).mappings().one()
        return self._get(s, row)

    def all(self, s: Connection) -> dict[int, Guideline]:
        """The current version of every guideline."""
        return self._current(s, s.execute(_CURRENT).mappings().all())

    def _get(self, s: Connection, row: sa.RowMapping) -> Guideline:
        """The guideline of ``row`` (a whole row, or its id and content hash only), from the cache while
        its content hash is the same."""
        with self._lock:
            cached = self._by_id.get(row["id"])
        if cached is not None and cached[0] == row["content_hash"]:
            return cached[1]
        if "ref" not in row:  # only id and hash: read the whole row
            row = s.execute(_BY_ID, {"gid": row["id"]}).mappings().one()
        g = from_row(s, row)
        with self._lock:
            self._by_id[row["id"]] = (row["content_hash"], g)
            self._refs[row["id"]] = g.ref
        return g

    def _current(self, s: Connection, rows: Iterable[sa.RowMapping]) -> dict[int, Guideline]:
        out = {row["id"]: self._get(s, row) for row in rows}
        with self._lock:
            self._ids.update({g.ref: gid for gid, g in out.items()})
        return out
