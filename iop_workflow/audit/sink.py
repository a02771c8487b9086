"""The audit stream: after commit, each record goes out as one structlog JSON line.

By default to an append-only JSON-lines file in the data directory; the daemon
also writes to stderr. ``iop audit export`` regenerates the same lines from the
database, so a line lost here (disk full, file removed) is never lost for good.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import IO, Any

from iop_workflow import txscope
from iop_workflow.audit.chain import LogRecord


class AuditSink:
    """Transition records to the audit stream; operational events (sweeps, alerts) beside it.

    Events go to ``<audit stem>.events.jsonl`` next to the audit file, so the audit
    stream holds transition records only, and to stderr where configured.
    """

    def __init__(self, path: Path | None, *, to_stderr: bool = False) -> None:
        self.path = path
        self.to_stderr = to_stderr
        self._lock = threading.Lock()
        self._loggers: list[Any] | None = None
        self._event_loggers: list[Any] | None = None
        self._files: list[IO[str]] = []

    @property
    def events_path(self) -> Path | None:
        return self.path.with_name(self.path.stem + ".events.jsonl") if self.path is not None else None

    def _open(self, path: Path | None) -> list[Any]:
        import structlog  # noqa: PLC0415 - only writing commands pay for structlog

        processors: list[Any] = [structlog.processors.JSONRenderer(sort_keys=True, ensure_ascii=False)]
        loggers = []
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("a", encoding="utf-8")
            except OSError:  # as for a failed write: the database holds the record
                pass
            else:
                self._files.append(handle)
                loggers.append(structlog.wrap_logger(structlog.WriteLogger(handle), processors=processors))
        if self.to_stderr:
            loggers.append(structlog.wrap_logger(structlog.WriteLogger(sys.stderr), processors=processors))
        return loggers

    # Each stream opens at its first line (or at open()); the caller holds the lock.
    def _record_loggers(self) -> list[Any]:
        if self._loggers is None:
            self._loggers = self._open(self.path)
        return self._loggers

    def _event_lines(self) -> list[Any]:
        if self._event_loggers is None:
            try:
                self._event_loggers = self._open(self.events_path)
            except OSError:
                self._event_loggers = []
        return self._event_loggers

    def open(self) -> None:
        """Open the audit stream and the event stream now rather than at their first line."""
        with self._lock:
            self._record_loggers()
            self._event_lines()

    def event(self, name: str, **fields: Any) -> None:
        """An operational event (a sweep's figures, an alert); failures to write are ignored."""
        import structlog  # noqa: PLC0415

        with self._lock:
            stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
            for logger in self._event_lines():
                try:
                    logger.info(name, **stamp(None, "", dict(fields)))
                except OSError:
                    continue

    def emit(self, record: LogRecord) -> None:
        """Write the record after its commit; a failure here never undoes the committed change.

        Inside a unit of work that spans several commands' writes (``txscope.deferring``),
        the line waits for that unit's commit.
        """
        txscope.after_commit(lambda: self._emit_now(record))

    def _emit_now(self, record: LogRecord) -> None:
        with self._lock:
            for logger in self._record_loggers():
                try:
                    logger.info("transition", **record.as_dict())
                except OSError:  # the database holds the record; export regenerates it
                    continue

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        self._files.clear()
        self._loggers = None
        self._event_loggers = None
