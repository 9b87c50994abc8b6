"""Checkpoints of the SQLite writer's database: copying the WAL back into the database
file, and keeping the WAL bounded so that a full disk heals once some room is freed.

Checkpoints run on a connection and thread of their own at most every CHECKPOINT_SECONDS,
not inside whichever commit crossed SQLite's threshold: that commit took tens of
milliseconds, and every write waiting behind it did too. Each ends by syncing the database
file, and while that sync runs the writer's syncs of the WAL wait for the disk too: a
checkpoint a second under steady ingest copied about 40 MB, and its sync held the WAL's
back 20-90 ms, once a second, which set the deliveries' p99 (74-102 ms at 1,450 a second).
Four rounds a second copy a quarter of that each, and the p99 fell to 39-56 ms; ten rounds
a second rewrote the same pages more often, for more bytes and CPU and no lower p99.

When a checkpoint has copied all of the WAL, the next commit writes from its start again
and shrinks the file to JOURNAL_SIZE_LIMIT (SQLite never shrinks it otherwise). Under
steady writes a passive checkpoint never finds it all copied: commits go on while it runs.
So past that size a round goes on with passive passes, each copying what was committed
during the one before (a round's worth, then a few milliseconds' worth), until a pass
finds almost nothing new; then it asks the writer for a catch-up (`catch_up_wanted`), which
the writer runs itself between two batches (`catch_up`): a passive checkpoint with no
commit under way, which copies the last few pages and lets the next commit start the WAL
afresh. It holds commits back 3-17 ms at 1,400 deliveries a second. Holding them back for
a blocking checkpoint of all a round's commits (FULL, as before) took 70-160 ms, every few
seconds: the database file's pages are scattered, and syncing them is slow.

A batch that fails in the database (disk full, I/O error, a damaged page) is followed by a
checkpoint that waits for readers, copies all of the WAL and truncates it to nothing: on a
full disk, that is the room the next commit needs (the writer's `reclaim` asks for one
too, when the store sees the disk nearly full). The rounds truncate too while
the disk has less room left than the WAL file takes: else new deliveries fill the WAL's
unused space while the database file cannot grow to take them, and all of that must fit on
the disk at once before the WAL can shrink.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger("hookd.store")

CHECKPOINT_SECONDS = 0.25
# Above what a second of the fastest ingest measured writes into the WAL (so a normal
# checkpoint round never truncates a file the next second grows again), far below what
# an unchecked WAL reaches when checkpoints fall behind.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
CATCH_UP_PASSES = 4
"""Passive passes a round makes at most, past JOURNAL_SIZE_LIMIT, before the catch-up."""
CATCH_UP_FRAMES = 64
"""A pass that finds at most this many pages committed since the one before ends them."""


class Checkpoints:
    """Runs checkpoints on request, one at a time and at most once per CHECKPOINT_SECONDS.
    `wal`: the WAL file, for its size (None: an in-memory database). Use on one loop."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self.wal: Path | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="hookd-sqlite-checkpoint")
        self._connection: sqlite3.Connection | None = None
        self._running: asyncio.Task[None] | None = None
        self._last = time.monotonic()
        self.catch_up_wanted = False
        """Whether the last round left the WAL past JOURNAL_SIZE_LIMIT: the writer should
        run `catch_up` between two batches."""

    def request(self, mode: str) -> None:
        """Start a checkpoint in `mode` (PASSIVE or TRUNCATE) unless one runs or ran less
        than CHECKPOINT_SECONDS ago. A passive one waits, too, for the writer's catch-up
        that the last round asked for: run beside it, either finds the other holding the
        checkpoint lock and copies nothing. When rounds took longer than CHECKPOINT_SECONDS
        (a busy machine), each next round began as the last ended, the catch-up found it
        running, and the WAL was never started afresh."""
        if self._running is not None or time.monotonic() - self._last < CHECKPOINT_SECONDS:
            return
        if mode == "PASSIVE" and self.catch_up_wanted:
            return
        self._last = time.monotonic()
        self._running = asyncio.get_running_loop().create_task(self._checkpoint(mode))

    async def stop(self) -> None:
        """Let a checkpoint in flight finish, then close the connection."""
        if self._running is not None:
            await asyncio.shield(self._running)
        loop = asyncio.get_running_loop()
        if self._connection is not None:
            await loop.run_in_executor(self._thread, self._connection.close)
            self._connection = None
        self._thread.shutdown(wait=True)

    async def _checkpoint(self, mode: str) -> None:
        """Copy what the WAL holds into the database file. PASSIVE waits on no one: frames
        a reader still needs stay for the next round. TRUNCATE waits (up to the busy
        timeout) for readers and the writer, then empties the WAL file."""
        loop = asyncio.get_running_loop()
        try:
            if await loop.run_in_executor(self._thread, self._run, mode):
                self.catch_up_wanted = True
        except sqlite3.Error as exc:
            log.warning("the store could not checkpoint its write-ahead log: %s", exc)
        finally:
            self._running = None

    def _run(self, mode: str) -> bool:
        """Checkpoint in `mode`; whether the writer should catch up."""
        if self._connection is None:
            self._connection = self._connect()
        if mode == "PASSIVE" and self._wal_crowds_disk():
            mode = "TRUNCATE"
        checkpoint = f"PRAGMA wal_checkpoint({mode})"
        (busy, logged, _) = self._connection.execute(checkpoint).fetchone()
        if busy and mode == "TRUNCATE":
            log.warning("the store could not truncate its write-ahead log: readers held it")
        if mode != "PASSIVE" or self._wal_size() <= JOURNAL_SIZE_LIMIT:
            return False
        for _ in range(CATCH_UP_PASSES):
            (_, now, _) = self._connection.execute(checkpoint).fetchone()
            committed_meanwhile, logged = now - logged, now
            if committed_meanwhile <= CATCH_UP_FRAMES:
                break
        return True

    def catch_up(self, connection: sqlite3.Connection) -> None:
        """On the writer's connection and thread, between two batches: copy what the last
        round left, so that the next commit starts the WAL afresh. A reader of an older
        snapshot or another process's commit may keep it from copying all: the next round
        asks again."""
        self.catch_up_wanted = False
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the writer goes on: its next batch meets any real fault
            log.debug("the writer's catch-up checkpoint did not run: %s", exc)

    def _wal_size(self) -> int:
        try:
            return self.wal.stat().st_size if self.wal is not None else 0
        except OSError:
            return 0

    def _wal_crowds_disk(self) -> bool:
        """Whether the disk has less room left than the WAL file takes: then the space the
        WAL holds beyond what it uses (it only shrinks to JOURNAL_SIZE_LIMIT) is returned,
        so that the database file, which each checkpoint makes grow, has it."""
        if self.wal is None:
            return False
        try:
            stats = os.statvfs(self.wal.parent)
        except OSError:
            return False
        return stats.f_bavail * stats.f_frsize < self._wal_size()
