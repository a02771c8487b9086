"""Files a command writes for a person (``--output``): never the database or its audit streams,
never an existing file without ``--force``, whole or not at all, and readable as ``[files] mode`` says.

:func:`target` checks the path before anything is computed; :func:`replaced` writes a
temporary file beside it (created with the mode, fsynced) and renames it over the target, so
a reader never sees half a report and a failure leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from iop_workflow.errors import InvalidInput


def guarded(database: str | None, streams: Iterable[Path | None]) -> list[Path]:
    """The files no output may replace: the SQLite database, its journals, the audit and event streams."""
    out = [p for p in streams if p is not None]
    if database and database != ":memory:":
        db = Path(database).expanduser()
        out += [db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
    return out


def target(path: str | Path, *, force: bool, protected: Iterable[Path], field: str = "--output") -> Path:
    """``path`` when an output may be written there; else InvalidInput (exit 6) saying why, nothing written."""
    given = Path(path).expanduser()

    def refuse(sv: str, en: str) -> InvalidInput:
        return InvalidInput(field=field, value=str(path), problem_sv=sv, problem_en=en)

    if not given.parent.is_dir():
        raise refuse(f"katalogen {given.parent} finns inte", f"the directory {given.parent} does not exist")
    real = os.path.realpath(given)
    try:
        st = os.stat(given)
    except OSError:
        st = None
    for kept in protected:
        same = os.path.realpath(kept) == real
        with contextlib.suppress(OSError):
            other = os.stat(kept)
            same = same or (st is not None and (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino))
        if same:
            raise refuse(
                f"är databasen eller en granskningsström ({kept}); välj en annan fil",
                f"is the database or an audit stream ({kept}); choose another file",
            )
    if given.is_symlink() or given.exists():
        if st is not None and not os.path.isfile(given):
            raise refuse("finns och är ingen vanlig fil", "exists and is not a regular file")
        if not force:
            raise refuse("finns redan; --force ersätter den", "already exists; --force replaces it")
    return given


def created(path: Path, flags: int, mode: int) -> int | None:
    """A descriptor on a new file at ``path`` with exactly ``mode``; None when a file is already there.

    ``os.open``'s mode passes through the process umask, so a 0640 setting under umask 077 would
    give 0600: the new file is chmodded to the mode itself. An existing file is left alone.
    """
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return None
    try:
        os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        raise
    return fd


def opened(path: Path, flags: int, mode: int) -> int:
    """A descriptor on ``path`` (``flags`` without ``O_CREAT``), made with exactly ``mode`` if it is new."""
    while True:
        fd = created(path, flags, mode)
        if fd is not None:
            return fd
        try:
            return os.open(path, flags)
        except FileNotFoundError:  # removed in between: create it after all
            continue


@contextlib.contextmanager
def replaced(path: Path, mode: int, *, field: str = "--output") -> Iterator[IO[str]]:
    """A text handle whose content replaces ``path`` whole when the block ends without an error."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise InvalidInput(
            field=field,
            value=str(path),
            problem_sv=f"kan inte skrivas ({exc.strerror})",
            problem_en=f"cannot be written ({exc.strerror})",
        ) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
