"""Catch-up inside `hookd serve`: once at the start (a restart is when deliveries were
missed), then each endpoint every `catch_up.interval`. A reason an endpoint cannot catch
up is logged once per process; a failed run is logged and the next one tried on time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from hookd.background import in_background
from hookd.catch_up.run import FORGES, catch_up, missing_credentials
from hookd.config import Config
from hookd.errors import HookdError
from hookd.store.base import Store

log = logging.getLogger("hookd.catch_up")


def catch_up_hooks(
    config: Config, store: Store
) -> list[Callable[[], contextlib.AbstractAsyncContextManager[None]]]:
    """The lifespan hook that catches up, when an endpoint has catch-up on."""
    intervals = {
        name: settings.catch_up.interval
        for name, settings in config.endpoints.items()
        if settings.forge in FORGES and settings.catch_up.enabled
    }
    if not intervals:
        return []
    return [lambda: catching_up(config, store, intervals)]


@contextlib.asynccontextmanager
async def catching_up(
    config: Config, store: Store, intervals: dict[str, float]
) -> AsyncIterator[None]:
    said: set[str] = set()
    for name in intervals:  # said now, before the server answers anything
        missing = missing_credentials(name, config.endpoints[name])
        if missing is not None:
            said.add(missing)
            log.warning("%s", missing)
    due = dict.fromkeys(intervals, 0.0)

    async def loop() -> None:
        while True:
            now = time.monotonic()
            ready = [name for name, at in due.items() if at <= now]
            try:
                summary = await catch_up(config, store, endpoints=ready)
            except HookdError as exc:
                log.error("catch-up failed: %s", exc)
            else:
                for reason in summary.skipped if summary else ():
                    if reason not in said:
                        said.add(reason)
                        log.warning("%s", reason)
            # Next time on schedule, whether this one ran, failed, or another process was
            # catching up just now.
            for name in ready:
                due[name] = now + intervals[name]
            await asyncio.sleep(max(min(due.values()) - time.monotonic(), 1.0))

    async with in_background(loop(), "hookd-catch-up"):
        yield
