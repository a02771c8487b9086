"""The audit stream: after commit, each record goes out as one JSON line.

By default to an append-only JSON-lines file in the data directory; the daemon
also writes to stderr. The database is the truth and the stream a copy: a line
that cannot be written (disk full, file unwritable) never fails the committed
change. The sink remembers the failure (:attr:`AuditSink.failures`) and tells its
listeners once per outage (the CLI's warning, the alert to ``role:admin``, the
server's log line); ``iop audit export --resync`` rewrites the stream from the
database (``iop_workflow/service/stream.py``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iop_workflow import files, txscope
from iop_workflow.audit.chain import LogRecord
from iop_workflow.audit.export import jsonl_line


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamFailure:
    """A line of the audit stream that could not be written; the record is in the database."""

    path: str
    error: str  # the OS's words, e.g. "No space left on device"
    seq: int | None  # the record whose line was lost
    first: bool  # the first failure since the stream last worked (listeners alert on this one)


Listener = Callable[[StreamFailure], None]


class AppendFile:
    """A file opened for appending whole lines: one ``write(2)`` per line, nothing buffered.

    Nothing is held back for a later flush, so closing never fails and a failed line
    is not retried behind the next one. Before each line the path is checked: when it
    now names another file (``--resync`` replaced it, logrotate moved it), it is reopened.
    New files are created with ``mode`` (0600 by default: the stream holds protected data).
    """

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        self.path = path
        self.mode = mode
        self._fd: int | None = None
        self._id: tuple[int, int] | None = None

    def write(self, data: bytes) -> None:
        fd = self.opened()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def opened(self) -> int:
        """The open descriptor, (re)opened when the path names another file than the one held."""
        if self._fd is not None:
            try:
                st = os.stat(self.path)
                same = (st.st_dev, st.st_ino) == self._id
            except OSError:
                same = False
            if same:
                return self._fd
            self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = files.opened(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, self.mode)
        st = os.fstat(fd)
        self._fd, self._id = fd, (st.st_dev, st.st_ino)
        return fd

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd, self._id = self._fd, None, None
            with contextlib.suppress(OSError):
                os.close(fd)


class AuditSink:
    """Transition records to the audit stream; operational events (sweeps, alerts) beside it.

    Events go to ``<audit stem>.events.jsonl`` next to the audit file, so the audit
    stream holds transition records only, and to stderr where configured.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        to_stderr: bool = False,
        mode: int = 0o600,
        divert: Callable[[Path], Path | None] | None = None,
    ) -> None:
        self._path = path
        # ``divert(path)``: the path to use instead, decided once it returns one (None: not known yet,
        # ``path`` meanwhile). A simulated database's stream leaves a shared file (``Iop.connect``).
        self._divert = divert if path is not None else None
        self.to_stderr = to_stderr
        self.mode = mode  # of the files it creates ([files] mode)
        self._lock = threading.Lock()
        self._opened: AppendFile | None = None
        self._event_loggers: list[Any] | None = None
        self._event_files: list[Any] = []
        self._failing = False
        self.failures: list[StreamFailure] = []
        self.listeners: list[Listener] = []

    @property
    def path(self) -> Path | None:
        """The audit stream's file, None for no file."""
        if self._divert is not None and self._path is not None:
            decided = self._divert(self._path)
            if decided is not None:
                self._path, self._divert = decided, None
        return self._path

    @property
    def _file(self) -> AppendFile | None:
        """The stream's file handle, made for :attr:`path` once that is decided (until then: a new
        handle each time, which the caller closes after its line: :meth:`_done`)."""
        if self._opened is None:
            path = self.path
            if path is None:
                return None
            if self._divert is not None:
                return AppendFile(path, self.mode)
            self._opened = AppendFile(path, self.mode)
        return self._opened

    def _done(self, handle: AppendFile) -> None:
        if handle is not self._opened:
            handle.close()

    @property
    def events_path(self) -> Path | None:
        return self.path.with_name(self.path.stem + ".events.jsonl") if self.path is not None else None

    def _event_lines(self) -> list[Any]:
        """The event stream's loggers, opened at its first line; the caller holds the lock."""
        if self._event_loggers is None:
            import structlog  # noqa: PLC0415 - only writing commands pay for structlog

            processors: list[Any] = [structlog.processors.JSONRenderer(sort_keys=True, ensure_ascii=False)]
            loggers = []
            path = self.events_path
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd = files.opened(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, self.mode)
                    handle = os.fdopen(fd, "a", encoding="utf-8")
                except OSError:  # operational lines only: the database holds what matters
                    pass
                else:
                    self._event_files.append(handle)
                    loggers.append(structlog.wrap_logger(structlog.WriteLogger(handle), processors=processors))
            if self.to_stderr:
                loggers.append(structlog.wrap_logger(structlog.WriteLogger(sys.stderr), processors=processors))
            self._event_loggers = loggers
        return self._event_loggers

    def _events_done(self) -> None:
        """While the stream's path is not decided, the event file is not kept open either."""
        if self._divert is not None and self._event_loggers is not None:
            for handle in self._event_files:
                with contextlib.suppress(OSError):
                    handle.close()
            self._event_files.clear()
            self._event_loggers = None

    def open(self) -> None:
        """Open the audit stream and the event stream now rather than at their first line."""
        with self._lock:
            handle = self._file
            if handle is not None:
                with contextlib.suppress(OSError):  # reported at the first line that cannot be written
                    handle.opened()
                self._done(handle)
            self._event_lines()

    def event(self, name: str, **fields: Any) -> None:
        """An operational event (a sweep's figures, an alert); failures to write are ignored."""
        import structlog  # noqa: PLC0415

        with self._lock:
            stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
            for logger in self._event_lines():
                try:
                    logger.info(name, **stamp(None, "", dict(fields)))
                except (OSError, ValueError):  # ValueError: a handle closed under us
                    continue
            self._events_done()

    def emit(self, record: LogRecord) -> None:
        """Write the record after its commit; a failure here never undoes or fails the committed change.

        Inside a unit of work that spans several commands' writes (``txscope.deferring``),
        the line waits for that unit's commit.
        """
        txscope.after_commit(lambda: self._emit_now(record))

    def _emit_now(self, record: LogRecord) -> None:
        line = jsonl_line(record.as_dict()) + "\n"
        failure = None
        with self._lock:
            handle = self._file
            if handle is not None:
                try:
                    handle.write(line.encode("utf-8"))
                except OSError as exc:
                    failure = StreamFailure(
                        path=str(self.path), error=exc.strerror or str(exc), seq=record.seq, first=not self._failing
                    )
                    self._failing = True
                    self.failures.append(failure)
                else:
                    self._failing = False
                finally:
                    self._done(handle)
            if self.to_stderr:
                try:
                    sys.stderr.write(line)
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass
        if failure is not None:  # outside the lock: a listener may write an event line
            self._tell(failure)

    def _tell(self, failure: StreamFailure) -> None:
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):  # a listener (an alert, a log line) never fails the change
                listener(failure)

    def close(self) -> None:
        with self._lock:
            if self._opened is not None:
                self._opened.close()
            for handle in self._event_files:
                with contextlib.suppress(OSError):
                    handle.close()
            self._event_files.clear()
            self._event_loggers = None
