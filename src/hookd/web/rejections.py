"""The sample of rejected requests the store keeps, written in batches: what a flood of
requests without the secret may cost the database is a few transactions a second, whatever
its rate."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from hookd.errors import StoreError
from hookd.store.base import Store
from hookd.store.records import REJECTIONS_KEPT, RejectedRequest

log = logging.getLogger("hookd.receive")

SPACING = 0.1
"""Seconds between two batches: the first rejected request after a quiet spell is written
at once, those that follow it within this long together in the next batch."""

_Waiting = tuple[RejectedRequest, "asyncio.Future[None]"]


class RejectionSample:
    """Writes rejected requests to the store, a batch at a time (`Store.record_rejections`),
    keeping the newest `keep` per endpoint. `add` returns once its request is written (or
    dropped: newer ones of its endpoint filled the batch, or the store failed), so a request
    is listed by the time it is answered, and a client that keeps failing waits for a batch
    each time. Use on one event loop."""

    def __init__(self, store: Store, keep: int = REJECTIONS_KEPT, spacing: float = SPACING) -> None:
        self.store = store
        self.keep = keep
        self.spacing = spacing
        self._waiting: dict[str | None, deque[_Waiting]] = {}
        self._writing: asyncio.Task[None] | None = None

    async def add(self, rejected: RejectedRequest) -> None:
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        queue = self._waiting.setdefault(rejected.endpoint, deque())
        if len(queue) == self.keep:  # it would be trimmed right after: never write it
            _settle(queue.popleft()[1])
        queue.append((rejected, written))
        if self._writing is None:
            self._writing = loop.create_task(self._write_batches())
        await written

    async def _write_batches(self) -> None:
        """Write what waits, then let `spacing` pass before the next batch; end once a
        batch found nothing waiting."""
        try:
            while self._waiting:
                batch = [entry for queue in self._waiting.values() for entry in queue]
                self._waiting = {}
                await self._write(batch)
                await asyncio.sleep(self.spacing)
        finally:
            self._writing = None

    async def _write(self, batch: list[_Waiting]) -> None:
        try:
            await self.store.record_rejections([rejected for rejected, _ in batch], self.keep)
        except StoreError as exc:
            log.error("could not record %d rejected requests: %s", len(batch), exc)
        finally:
            for _, written in batch:
                _settle(written)


def _settle(written: asyncio.Future[None]) -> None:
    if not written.done():  # its request may have been cancelled meanwhile
        written.set_result(None)
