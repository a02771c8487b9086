"""The audit stream against the database: how far it lags, re-synchronising it, alerting when it fails.

The database is the truth and the stream a copy. A line the sink could not write
raises one ``stream_write_failed`` alert to ``role:admin`` (its own small
transaction, never failing the command); :func:`status` tells how the stream
differs from the log; :func:`resync` (``iop audit export --resync``) rewrites it
from the log so that it holds every record, once each, in ``seq`` order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from iop_workflow.audit import stream as files
from iop_workflow.audit.export import jsonl_line
from iop_workflow.audit.sink import StreamFailure
from iop_workflow.domain import alerts as drafts
from iop_workflow.errors import InvalidInput
from iop_workflow.service.changes import utc_iso
from iop_workflow.service.context import Actor, App
from iop_workflow.store import alerts as alert_repo
from iop_workflow.store import ledger

PAGE = 5000


def record_failure(app: App, failure: StreamFailure) -> None:
    """The sink's listener: on the first failed line of an outage, an alert and an event line.

    Called after the change committed; its own transaction; a failure here is swallowed
    (by the sink) so the committed command still succeeds. One open alert is enough:
    none is added while an earlier one is unacknowledged.
    """
    if not failure.first:
        return
    app.sink.event("stream_write_failed", path=failure.path, error=failure.error, seq=failure.seq)
    draft = drafts.stream_write_failed(failure.path, failure.error, failure.seq, app.clock.today())
    with app.db.write() as s:
        if not alert_repo.open_of_kind(s, drafts.STREAM_WRITE_FAILED):
            alert_repo.insert(s, draft, app.clock.now())


def _path(app: App) -> Path:
    if app.sink.path is None:
        raise InvalidInput(
            field="audit_log",
            value="",
            problem_sv="ingen granskningsström är inställd",
            problem_en="no audit stream is configured",
        )
    return app.sink.path


def _records(app: App) -> Iterator[tuple[int, str]]:
    """Every record's seq and stream line (unmasked, as the sink writes it), page by page."""
    after = 0
    with app.db.read() as s:
        while True:
            rows = ledger.page(s, [], after, PAGE)
            for rec in rows:
                yield int(rec.seq or 0), jsonl_line(rec.as_dict()) + "\n"
            if len(rows) < PAGE:
                return
            after = int(rows[-1].seq or 0)


def _pairs(app: App) -> Iterator[tuple[int, bytes]]:
    return ((seq, files.line_digest(line.encode("utf-8"))) for seq, line in _records(app))


def _lines(app: App, only: set[int] | None = None) -> Iterator[str]:
    return (line for seq, line in _records(app) if only is None or seq in only)


def status(app: App) -> files.StreamStatus:
    """How the stream differs from the log: records it lacks, lines the log does not hold."""
    path = _path(app)
    return files.compare(path, files.scan(path), _pairs(app))


def resync(app: App, actor: Actor) -> dict[str, Any]:
    """Rewrite the stream from the log (admins): every record once, in seq order, mode 0600.

    A stream in sync is left alone. One that holds lines the log does not (a history replaced
    by ``db restore``, an edited or torn line) is kept beside as ``<stream>.replaced-<UTC time>``.
    The new file is written beside the old and renamed over it; then the records committed
    meanwhile and not yet in it are appended (writers reopen the renamed path by themselves).
    """
    from iop_workflow.service.identity import require_admin  # noqa: PLC0415

    require_admin(actor, action_sv="synkronisera granskningsströmmen", action_en="re-synchronise the audit stream")
    path = _path(app)
    before = status(app)
    out: dict[str, Any] = {
        "stream": str(path),
        "before": before.as_dict(),
        "rewritten": False,
        "kept": None,
        "written": 0,
        "appended": 0,
    }
    if not before.in_sync:
        stamp = utc_iso(app.clock.now()).replace(":", "").replace("-", "")[:15]
        keep = path.with_name(f"{path.name}.replaced-{stamp}Z") if before.foreign else None
        try:
            out["written"] = files.replace_whole(path, _lines(app), keep_old_as=keep)
            late = status(app)
            if late.missing:
                out["appended"] = files.append_lines(path, _lines(app, _missing(app, path)))
        except OSError as exc:
            raise InvalidInput(
                field="audit_log",
                value=str(path),
                problem_sv=f"kan inte skrivas ({exc.strerror}); strömmen är oförändrad",
                problem_en=f"cannot be written ({exc.strerror}); the stream is unchanged",
            ) from None
        out.update(rewritten=True, kept=str(keep) if keep is not None else None)
    after = status(app)
    out["after"] = after.as_dict()
    app.sink.event(
        "stream_resynced",
        actor=actor.name,
        stream=str(path),
        written=out["written"],
        appended=out["appended"],
        missing_before=before.missing,
        foreign_before=before.foreign,
    )
    return out


def _missing(app: App, path: Path) -> set[int]:
    index = files.scan(path)
    have = index.entries if index is not None else {}
    return {seq for seq, digest in _pairs(app) if have.get(seq) != digest}
