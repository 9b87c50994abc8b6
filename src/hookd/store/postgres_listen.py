"""Waking idle workers: one connection per process LISTENs on the jobs channel, and every
commit that makes work claimable is followed by a NOTIFY on it. Without them a worker would
only see new work at its next poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import psycopg

from hookd.errors import StoreError
from hookd.store import queries as q
from hookd.store.dialect import POSTGRESQL
from hookd.store.postgres_connect import connect, one_line
from hookd.store.postgres_url import Target

log = logging.getLogger("hookd.store")

LISTEN = q.LISTEN.sql(POSTGRESQL)
NOTIFY = q.NOTIFY.sql(POSTGRESQL)
RECONNECT_SECONDS = 1.0


class Notifier:
    """Sends NOTIFY after the commits that made work claimable, outside their transactions:
    a NOTIFY inside one holds PostgreSQL's global notify lock across the commit's WAL flush,
    which serializes every receiver's commits. At most one NOTIFY is in flight per process;
    commits made meanwhile are covered by one more after it."""

    def __init__(self, send: Callable[[], Awaitable[object]]) -> None:
        self._send = send
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Say that something committed: a NOTIFY that starts after now will be sent."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._run(), name="hookd-postgres-notify")

    async def flush(self) -> None:
        """Wait for the NOTIFYs owed (before closing the store)."""
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self._send()
            except StoreError as exc:  # workers still poll: a lost wake-up only delays them
                log.debug("could not notify workers: %s", exc)
            if not self._again:
                return


class Listener:
    """Sets an event on every notification. Started on the first wait, so a process that
    only receives holds no listening connection. While the connection is down it retries
    every RECONNECT_SECONDS and wakes waiters whenever it (re)connects, since notifications
    sent meanwhile were lost."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._work = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, timeout: float) -> None:
        """Return on a notification (or a reconnection), or after `timeout` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="hookd-postgres-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)
        self._work.clear()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        failing = False
        while True:
            try:
                async with await connect(self._target) as connection:
                    await connection.execute(LISTEN)
                    if failing:
                        log.info("listening for new jobs again")
                    failing = False
                    self._work.set()
                    async for _ in connection.notifies():
                        self._work.set()
            except (StoreError, psycopg.Error) as exc:
                if not failing:
                    log.warning(
                        "cannot listen for new jobs (polling meanwhile): %s",
                        one_line(exc, self._target),
                    )
                failing = True
            await asyncio.sleep(RECONNECT_SECONDS)
