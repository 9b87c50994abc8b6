"""Run a coroutine against the configured store from a synchronous command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hookd.config import Config
from hookd.store import store_for
from hookd.store.base import Store

T = TypeVar("T")


def with_store(config: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = store_for(config.database)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())
