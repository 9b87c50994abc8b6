"""Waking idle workers in one process: one per job made claimable, not all of them per
commit. With eight idle workers, waking all on every delivery sent eight claims after each
one, seven of which found nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

# Wake-ups kept for workers not yet waiting (one that found nothing a moment before the job
# was committed must not sleep through it). More than this are not needed: a worker that is
# busy claims again as soon as its job ends.
KEPT = 64


class Wakeups:
    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._kept = 0

    def give(self, count: int) -> None:
        """`count` jobs became claimable: wake as many waiting workers, oldest first."""
        for _ in range(count):
            while self._waiting and self._waiting[0].done():  # timed out
                self._waiting.popleft()
            if self._waiting:
                self._waiting.popleft().set_result(None)
            else:
                self._kept = min(self._kept + 1, KEPT)

    async def wait(self, timeout: float) -> None:
        """Return when woken, or after `timeout` seconds at the latest."""
        if self._kept:
            self._kept -= 1
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(woken)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken, timeout)
