"""Retention: delete deliveries (with their jobs and logs) older than an age, once with
`hookd prune --older-than`, or daily inside `hookd serve` when `server.retention` is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from hookd.errors import StoreError
from hookd.store.base import Store

log = logging.getLogger("hookd.retention")

DAY_SECONDS = 24 * 3600.0


async def prune_older_than(store: Store, age_seconds: float, now: datetime) -> tuple[int, datetime]:
    """Delete what was received more than `age_seconds` before `now`; return how many
    deliveries went and the cut-off moment."""
    before = now - timedelta(seconds=age_seconds)
    return await store.prune(before), before


@contextlib.asynccontextmanager
async def daily_prune(
    store: Store, age_seconds: float, interval: float = DAY_SECONDS
) -> AsyncIterator[None]:
    """While open, prune at once and then every `interval` seconds; a failed run is
    logged and the next one tried on schedule."""

    async def loop() -> None:
        while True:
            try:
                removed, before = await prune_older_than(store, age_seconds, datetime.now(UTC))
            except StoreError as exc:
                log.error("retention: could not prune: %s", exc)
            else:
                log.info("retention: pruned %d deliveries received before %s", removed, before)
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="hookd-retention")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
