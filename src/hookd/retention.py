"""Retention: delete deliveries (with their jobs and logs) older than an age, once with
`hookd prune --older-than`, or daily inside `hookd serve` when `server.retention` is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from hookd.background import in_background
from hookd.config import Config
from hookd.config.live import LiveConfig
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
    store: Store, live: LiveConfig, interval: float = DAY_SECONDS
) -> AsyncIterator[None]:
    """While open, prune at the `server.retention` in force: at once and then every
    `interval` seconds, and at once again when a reload changes it; nothing while it is
    unset. A failed run is logged and the next one tried on schedule."""
    changed = asyncio.Event()

    def reloaded(old: Config, new: Config) -> None:
        if old.server.retention != new.server.retention:
            changed.set()

    async def loop() -> None:
        while True:
            changed.clear()
            age_seconds = live.config.server.retention
            if age_seconds is not None:
                await _prune(store, age_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), interval)

    live.listen(reloaded)
    async with in_background(loop(), "hookd-retention"):
        yield


async def _prune(store: Store, age_seconds: float) -> None:
    try:
        removed, before = await prune_older_than(store, age_seconds, datetime.now(UTC))
    except StoreError as exc:
        log.error("retention: could not prune: %s", exc)
    else:
        log.info("retention: pruned %d deliveries received before %s", removed, before)
