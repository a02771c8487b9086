"""The audit stream as a file: what it holds (each line by ``seq``), and replacing it whole.

The database is the truth, the stream a copy. :func:`scan` indexes the stream's lines;
:func:`compare` sets them, byte for byte, against the lines the log's records make
(:func:`~iop_workflow.audit.export.jsonl_line`) and tells what the
stream lacks (``missing``: a line lost to a full disk) and what it holds that the log
does not (``foreign``: a torn or edited line, a line of a history replaced by
``db restore``). :func:`replace_whole` writes a new stream beside the old one (mode
0600) and renames it into place, so a reader sees the old file or the new, never half.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iop_workflow.resources import open_regular

SAMPLE = 10  # seqs named in a report; the counts are whole


@dataclass(slots=True)
class StreamIndex:
    """The stream's lines: ``seq`` → digest of each record line, and what is not one."""

    lines: int = 0
    entries: dict[int, bytes] = field(default_factory=dict)
    unreadable: int = 0  # not a JSON record with a seq (a torn line, say)
    conflicting: int = 0  # a seq seen again in another line
    duplicates: int = 0  # a line seen again, byte for byte (harmless)


def line_digest(line: bytes) -> bytes:
    """What a line is compared by (its bytes without the newline; 128 bits keep the index small)."""
    return hashlib.blake2b(line.rstrip(b"\n"), digest_size=16).digest()


def scan(path: Path) -> StreamIndex | None:
    """Index the stream at ``path``; None when there is no such file. A non-regular file is refused."""
    try:
        fd = open_regular(path, field="audit_log")
    except FileNotFoundError:
        return None
    index = StreamIndex()
    with os.fdopen(fd, "rb") as handle:
        for raw in handle:
            index.lines += 1
            seq, digest = _key(raw)
            if seq is None or digest is None:
                index.unreadable += 1
            elif seq not in index.entries:
                index.entries[seq] = digest
            elif index.entries[seq] == digest:
                index.duplicates += 1
            else:
                index.conflicting += 1
    return index


def _key(raw: bytes) -> tuple[int | None, bytes | None]:
    try:
        value: Any = json.loads(raw)
    except ValueError:
        return None, None
    if not isinstance(value, dict) or value.get("event") != "transition":
        return None, None
    seq = value.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        return None, None
    return seq, line_digest(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStatus:
    path: str
    exists: bool
    lines: int
    records: int  # in the database
    missing: int
    missing_seqs: tuple[int, ...]  # the first SAMPLE of them
    foreign: int
    duplicates: int

    @property
    def in_sync(self) -> bool:
        return self.missing == 0 and self.foreign == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "exists": self.exists,
            "in_sync": self.in_sync,
            "lines": self.lines,
            "records": self.records,
            "missing": self.missing,
            "missing_seqs": list(self.missing_seqs),
            "foreign": self.foreign,
            "duplicates": self.duplicates,
        }


def compare(path: Path, index: StreamIndex | None, log: Iterable[tuple[int, bytes]]) -> StreamStatus:
    """Set the stream's index against the log's ``(seq, line digest)`` pairs (consumed once, any order)."""
    entries = dict(index.entries) if index is not None else {}
    records = missing = 0
    sample: list[int] = []
    for seq, digest in log:
        records += 1
        if entries.get(seq) == digest:
            del entries[seq]
            continue
        missing += 1
        if len(sample) < SAMPLE:
            sample.append(seq)
    foreign = len(entries) + (index.unreadable + index.conflicting if index is not None else 0)
    return StreamStatus(
        path=str(path),
        exists=index is not None,
        lines=index.lines if index is not None else 0,
        records=records,
        missing=missing,
        missing_seqs=tuple(sorted(sample)),
        foreign=foreign,
        duplicates=index.duplicates if index is not None else 0,
    )


def replace_whole(path: Path, lines: Iterable[str], *, keep_old_as: Path | None = None) -> int:
    """Write ``lines`` to a temporary file beside ``path`` (mode 0600), sync it and rename it over
    ``path``; the count written. ``keep_old_as``: first keep the old file under that name.

    OSError (a disk still full) leaves ``path`` as it was and no temporary file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    temp = Path(name)
    count = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for line in lines:
                handle.write(line.encode("utf-8"))
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        if keep_old_as is not None:
            _keep(path, keep_old_as)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _sync_dir(path.parent)
    return count


def _keep(path: Path, target: Path) -> None:
    """The old stream under ``target`` too (a hard link; a copy where links are not possible)."""
    try:
        os.link(path, target)
    except FileNotFoundError:
        return
    except OSError:
        shutil.copy2(path, target)
    os.chmod(target, 0o600)


def append_lines(path: Path, lines: Iterable[str]) -> int:
    """Append ``lines`` to ``path`` as the sink does (one whole write each); the count written."""
    from iop_workflow.audit.sink import AppendFile  # noqa: PLC0415 - the sink imports the export format only

    out = AppendFile(path)
    count = 0
    try:
        for line in lines:
            out.write(line.encode("utf-8"))
            count += 1
    finally:
        out.close()
    return count


def _sync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
