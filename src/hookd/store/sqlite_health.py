"""What the SQLite store's readiness probe looks at besides its write: the room left on the
disk, and whether the file is damaged.

A small write can pass where a delivery fails: it fits in WAL space a failed larger commit
left allocated. So the disk holding the database must also have MIN_FREE_BYTES free.

A damaged file is told by `PRAGMA quick_check` (every page's structure, not whether each
index agrees with its table) on a connection of its own, opened for each check so that no
page it reads comes from a cache filled before the damage.

A check reads the whole file: about 0.1 s for 200 MB of 10,000 deliveries of 20 kB, and
0.3 s for 200 MB of 100,000 deliveries of 1 kB. So checks are spaced to take at most
CHECK_SHARE of the time: on a small database each probe checks, on those two, one in
every 10 or 30 seconds. A write that met a damaged page makes the next probe check."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from hookd.errors import StoreError

CHECK_SHARE = 0.01
MIN_FREE_BYTES = 1024 * 1024
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class IntegrityCheck:
    """Runs quick_check when due; remembers the damage it found until a check passes.
    `check` blocks: call it from a thread, one at a time."""

    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._due = 0.0
        self._damage: str | None = None

    def suspect(self, exc: BaseException) -> None:
        """Look at a write's failure: if it met a damaged page, check at the next probe."""
        cause = exc.__cause__
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(cause, sqlite3.DatabaseError) and code in _DAMAGED and not self._damage:
            self._due = 0.0

    def check(self) -> None:
        """Raise StoreError if the file is damaged (by the last check, or this one if due)."""
        started = time.monotonic()
        if started >= self._due:
            self._damage = self._quick_check()
            self._due = time.monotonic() + (time.monotonic() - started) / CHECK_SHARE
        if self._damage is not None:
            raise StoreError(f"the database file is damaged: {self._damage}")

    def _quick_check(self) -> str | None:
        """What quick_check reports wrong (its first line), or None if all is well."""
        uri = f"{self._path.resolve().as_uri()}?mode=rw"  # a file gone is not made anew
        try:
            connection = sqlite3.connect(uri, uri=True, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"the database could not be checked: {exc}") from exc
        try:
            connection.execute("PRAGMA query_only=ON")
            rows = connection.execute("PRAGMA quick_check(1)").fetchall()
        except sqlite3.OperationalError as exc:  # locked, I/O: no verdict on the pages
            raise StoreError(f"the database could not be checked: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # not a database, or damaged beyond reading
            return str(exc)
        finally:
            connection.close()
        return None if rows == [("ok",)] else str(rows[0][0])


def check_free_space(path: Path) -> None:
    """Raise StoreError if the disk holding `path` has less than MIN_FREE_BYTES free."""
    try:
        stats = os.statvfs(path.parent)
    except OSError as exc:
        raise StoreError(f"cannot see the room left beside {path}: {exc.strerror}") from exc
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_FREE_BYTES:
        raise StoreError(f"the disk holding the database is full: {free // 1024} kB free")
