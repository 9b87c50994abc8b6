"""The configuration in force in a running process: one reference, replaced whole by a
reload (`hookd.reload`), never changed in place.

Whoever decides something reads `live.config` once and keeps that `Config` to the end of
what it decides: a delivery being received when a reload lands finishes under the
configuration it started with; the next one reads the new one. Listeners hear of each
replacement (old, new) right after it, on the event loop."""

from __future__ import annotations

from collections.abc import Callable

from hookd.config import Config

Listener = Callable[[Config, Config], None]


class LiveConfig:
    __slots__ = ("_listeners", "config")

    def __init__(self, config: Config) -> None:
        self.config = config
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def replace(self, new: Config) -> Config:
        """Put `new` in force (one assignment) and tell the listeners; the old one."""
        old, self.config = self.config, new
        for listener in self._listeners:
            listener(old, new)
        return old
