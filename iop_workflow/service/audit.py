"""The audit trail's services: verify, checkpoint (ledger digest), export.

``checkpoint`` is what the scheduler calls daily; its digest is meant to be filed
outside the database (e.g. in the diarium) and checked later with
``verify(digest=...)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from iop_workflow.audit.chain import GENESIS, NON_CASE_PREFIX
from iop_workflow.audit.checkpoint import Checkpoint
from iop_workflow.audit.masking import mask_record
from iop_workflow.audit.verify import ChainReport, time_order, verify_chains
from iop_workflow.errors import IntegrityError, InvalidInput, NotFound
from iop_workflow.service import validate
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.context import Actor, App
from iop_workflow.service.need_to_know import Bulk, bulk_access
from iop_workflow.store import dbclock, ledger

_HEX64 = re.compile(r"[0-9a-f]{64}")
PAGE = 1000


def verify(
    app: App,
    *,
    case_ref: str | None = None,
    digest: str | None = None,
    authenticated_since: date | str | None = None,
) -> ChainReport:
    """Recompute every chain (or one case's) and every checkpoint; ``digest`` must be a checkpoint's.

    ``authenticated_since`` (a local date): the report also lists, in ``unauthenticated``,
    every record from that date on whose actor the server did not authenticate: written
    in local mode (``local``, ``local-asserted``) or before records said (format 1). The
    scheduler's ``system`` records are the service's own and are not listed.
    """
    wanted = _digest(digest) if digest is not None else None
    since = validate.day("authenticated_since", authenticated_since) if authenticated_since is not None else None
    with app.db.read() as s:
        report = verify_on(s, case_ref=case_ref, digest=wanted)
        if since is not None:
            start = datetime.combine(since, time.min, tzinfo=app.settings.tz)
            report.unauthenticated = list(ledger.unauthenticated(s, utc_iso(start), case_ref))
    return report


def verify_on(s: Connection, *, case_ref: str | None = None, digest: str | None = None) -> ChainReport:
    """Verify what connection ``s`` sees (inside its transaction)."""
    from iop_workflow.service import legality, timer_proof  # noqa: PLC0415 - parses the stored definitions

    states = ledger.case_states(s, case_ref)
    rules, planned = legality.Watcher(s), timer_proof.Planned(timer_proof.timer_rows(s, case_ref))
    ordered_from = dbclock.ordered_from(s)
    report = verify_chains(
        planned.watch(rules.watch(ledger.chain_records(s, case_ref))),
        states,
        ledger.checkpoints(s),
        only_case=case_ref,
        digest=digest,
        ordered_from=ordered_from,
    )
    report.problems.extend(rules.problems)
    report.warnings.extend(rules.warnings)
    report.problems.extend(planned.problems)
    report.warnings.extend(planned.warnings())
    if case_ref is not None and report.records == 0 and report.cases == 0 and not report.problems:
        raise NotFound(kind="case", key=case_ref)
    if case_ref is None:
        from iop_workflow.service import case_import, fact_proof, guidelines  # noqa: PLC0415 - a whole-log verify only
        from iop_workflow.store import schema_objects  # noqa: PLC0415

        time_order(report, dbclock.order(s), ordered_from)
        report.problems.extend(schema_objects.problems(s))
        report.problems.extend(fact_proof.check(s))
        report.problems.extend(case_import.proof(s))
        report.problems.extend(guidelines.checked(s))
    return report


def _digest(value: str) -> str:
    text = value.strip().lower()
    if not _HEX64.fullmatch(text):
        raise InvalidInput(
            field="digest",
            value=value,
            problem_sv="64 hexadecimala tecken (SHA-256) väntades",
            problem_en="64 hexadecimal characters (SHA-256) expected",
        )
    return text


def checkpoint(app: App, actor: Actor) -> Checkpoint:
    """Verify the whole log, then append a checkpoint over every chain head; returns it (with ``digest``).

    Raises :class:`IntegrityError` (nothing written) when the log does not verify:
    a checkpoint never blesses a broken log.
    """
    with app.db.write() as s:
        ledger.lock_for_checkpoint(s)
        report = verify_on(s)
        if not report.ok:
            raise IntegrityError(problems=report.problems)
        prev = ledger.last_checkpoint(s)
        heads = ledger.heads(s)
        records, max_seq = ledger.log_totals(s)
        cp = Checkpoint(
            at=utc_iso(app.clock.now()),
            actor=actor.name,
            records=records,
            max_seq=max_seq,
            cases=sum(1 for ref, _n, _h in heads if not ref.startswith(NON_CASE_PREFIX)),  # heads: every chain
            heads=tuple(heads),
            prev_digest=prev.digest if prev is not None else GENESIS,
        )
        cp = replace(cp, digest=cp.compute_digest())
        cp = replace(cp, seq=ledger.insert_checkpoint(s, cp))
    app.sink.event("checkpoint", **cp.as_dict())
    return cp


@dataclass(frozen=True, slots=True, kw_only=True)
class Export:
    """An authorised export: ``count()`` the records, iterate over them (dicts in ``seq`` order)."""

    app: App
    since: str | None
    until: str | None
    case_ref: str | None
    visible: Bulk | None  # what --include-protected may show (need_to_know.bulk_access); None: all masked
    page_size: int = PAGE

    def count(self) -> int:
        with self.app.db.read() as s:
            return ledger.count_records(s, self._where())

    def _where(self) -> list[Any]:
        return ledger.log_filter(since=self.since, until=self.until, case_ref=self.case_ref)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        where = self._where()
        with self.app.db.read() as s:
            secrets = {
                ref: values
                for ref, values in ledger.protected_secrets(s, self.case_ref).items()
                if self.visible is None or not self.visible.sees(ref)
            }
            after = 0
            while True:
                rows = ledger.page(s, where, after, self.page_size)
                for rec in rows:
                    out = rec.as_dict()
                    yield mask_record(out, secrets[rec.case_ref]) if rec.case_ref in secrets else out
                if len(rows) < self.page_size:
                    return
                after = int(rows[-1].seq or 0)


def export(
    app: App,
    actor: Actor,
    *,
    since: date | str | None = None,
    until: date | str | None = None,
    case_ref: str | None = None,
    include_protected: bool = False,
) -> Export:
    """The log's records in ``seq`` order, read page by page (constant memory).

    ``since``/``until`` are local dates (the settings' timezone), both inclusive.
    Contact and address data of protected organisations is masked unless
    ``include_protected``: an auditor then sees every case, an officer the cases they
    have a need to know for (``need_to_know.bulk_access``; logged); anyone else gets
    :class:`~iop_workflow.errors.AccessDenied`.
    """
    first = validate.day("since", since) if since not in (None, "") else None
    last = validate.day("until", until) if until not in (None, "") else None
    if first is not None and last is not None and last < first:
        raise InvalidInput(
            field="until",
            value=str(last),
            problem_sv=f"ligger före since {first}",
            problem_en=f"is before since {first}",
        )
    if case_ref is not None:
        with app.db.read() as s:
            if (
                not list(ledger.case_states(s, case_ref))  # one case at most
                and ledger.count_records(s, ledger.log_filter(since=None, until=None, case_ref=case_ref)) == 0
            ):
                raise NotFound(kind="case", key=case_ref)
    visible = None
    if include_protected:
        scope = {"since": first, "until": last, "case": case_ref}
        visible = bulk_access(app, actor, action="audit export", scope=scope)
    return Export(
        app=app,
        since=_utc_bound(app, first),
        until=_utc_bound(app, last + timedelta(days=1) if last else None),
        case_ref=case_ref,
        visible=visible,
    )


def _utc_bound(app: App, day: date | None) -> str | None:
    if day is None:
        return None
    return utc_iso(datetime.combine(day, time(0), tzinfo=app.settings.tz))
