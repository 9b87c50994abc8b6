"""Waking a relay channel's subscribers when a request arrives."""

from __future__ import annotations

import asyncio


class Bell:
    """Wakes a channel's subscribers when a request arrives. Take `listen` before reading
    the store and `wait` on it after, so a request stored in between is not missed."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.closed = False

    def listen(self, channel: str) -> asyncio.Event:
        if self.closed:
            rung = asyncio.Event()
            rung.set()
            return rung
        return self._events.setdefault(channel, asyncio.Event())

    def close(self) -> None:
        """Wake every subscriber for good: the server is stopping."""
        self.closed = True
        for event in self._events.values():
            event.set()
        self._events.clear()

    def ring(self, channel: str) -> None:
        event = self._events.pop(channel, None)
        if event is not None:
            event.set()

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float) -> bool:
        """True when rung, False when `timeout` seconds passed first."""
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True
