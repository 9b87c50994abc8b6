"""Whether a store could commit a delivery now, as `Store.probe` answers it.

The backend's probe is a real write that goes the way a delivery's does (and waits for the
disk as one does). It runs at most once per PROBE_SECONDS however often it is asked, so
`/readyz` cannot be used to load the disk; callers in between get what it last found. A
delivery the store could not record makes it answer "not ready" at once, until a probe
started after that failure passes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from hookd.errors import StoreError

log = logging.getLogger("hookd.store")

PROBE_SECONDS = 1.0
# How long a caller waits for a probe in flight before it is told "not ready": a write
# that takes longer is one a forge would be kept waiting for too.
WAIT_SECONDS = 2.0


class Readiness:
    """Runs `probe` (which raises StoreError saying why the store cannot take writes) at
    most once per PROBE_SECONDS, one run at a time, shared by every caller. Use it on one
    event loop."""

    def __init__(self, probe: Callable[[], Awaitable[None]]) -> None:
        self._probe = probe
        self._running: asyncio.Task[None] | None = None
        self._started = -PROBE_SECONDS
        self._failure: str | None = None
        self._failures = 0  # how many failures were reported, so a probe knows if it saw all

    def failed(self, reason: str) -> None:
        """A write the store should have taken failed: not ready until a probe passes."""
        self._failure = reason
        self._failures += 1

    async def check(self) -> None:
        """Return if the store could commit a delivery now; raise StoreError saying why not."""
        if self._running is None and time.monotonic() - self._started >= PROBE_SECONDS:
            self._started = time.monotonic()
            self._running = asyncio.ensure_future(self._run(self._failures))
        if self._running is not None:
            done, _ = await asyncio.wait([self._running], timeout=WAIT_SECONDS)
            if not done:
                raise StoreError(f"the database did not take a write within {WAIT_SECONDS:g}s")
        if self._failure is not None:
            raise StoreError(self._failure)

    async def close(self) -> None:
        """Let a probe in flight finish (the store closes after it)."""
        if self._running is not None:
            await asyncio.wait([self._running])

    async def _run(self, failures_before: int) -> None:
        try:
            await self._probe()
        except StoreError as exc:
            self._failure = str(exc)
        except Exception as exc:  # a probe that breaks is a store not ready
            log.error("the store's readiness probe failed", exc_info=exc)
            self._failure = f"the readiness probe failed: {exc}"
        else:
            if self._failures == failures_before:  # no write failed since it started
                self._failure = None
        finally:
            self._running = None
