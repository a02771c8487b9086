"""Is a process inside a write transaction right now? Asked just before each kill.

SQLite (WAL): a writer holds the WAL write lock, an fcntl lock on byte 120 of the
``-shm`` file, from ``BEGIN IMMEDIATE`` to commit or rollback; Linux lists it, with the
holder's pid, in ``/proc/locks``. PostgreSQL: the subprocesses' URL carries an
``application_name`` of their own, and a backend inside a transaction that has written
has a ``backend_xid`` in ``pg_stat_activity``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

WAL_WRITE_LOCK = 120  # SQLite's WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK


class SqliteProbe:
    def __init__(self, db_path: Path) -> None:
        self.shm = Path(f"{db_path}-shm")

    def in_write(self, pid: int) -> bool:
        try:
            inode = os.stat(self.shm).st_ino
            text = Path("/proc/locks").read_text(encoding="ascii")
        except OSError:
            return False
        wanted_pid, wanted_inode = str(pid), str(inode)
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 8 or parts[1] == "->":  # "->": a lock being waited for, not held
                continue
            _, _, _, mode, holder, device, start, end = parts[:8]
            if mode != "WRITE" or holder != wanted_pid or device.rsplit(":", 1)[-1] != wanted_inode:
                continue
            if int(start) <= WAL_WRITE_LOCK and (end == "EOF" or int(end) >= WAL_WRITE_LOCK):
                return True
        return False

    def settle(self, pid: int, timeout: float = 10.0) -> None:
        """Nothing to wait for: the kernel drops a dead process's locks, SQLite's recovery is on open."""

    def close(self) -> None:
        pass


class PgProbe:
    def __init__(self, app_name: str) -> None:
        import psycopg

        from tests.pg import PG_URL

        self.app_name = app_name
        self.conn: Any = psycopg.connect(PG_URL, autocommit=True)

    def _count(self, condition: str) -> int:
        sql = f"SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND {condition}"
        return int(self.conn.execute(sql, (self.app_name,)).fetchone()[0])

    def in_write(self, pid: int) -> bool:
        return self._count("backend_xid IS NOT NULL") > 0

    def settle(self, pid: int, timeout: float = 10.0) -> None:
        """Wait until the killed client's backend has gone (its transaction rolled back or committed)."""
        deadline = time.monotonic() + timeout
        while self._count("true") and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        self.conn.close()


Probe = SqliteProbe | PgProbe
