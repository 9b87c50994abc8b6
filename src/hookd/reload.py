"""Reload: read `hookd.yaml` (and the secret files it names) again while hookd runs.

A reload is asked for by SIGHUP, by `POST /api/reload` (`hookd reload`), or by a change to
the config file or one of its secret files (`watch_files` polls their size, mtime and
inode). The new file is loaded and validated whole on a thread; only a configuration
without a single problem replaces the one in force, in one assignment on the event loop
(`LiveConfig.replace`). On any problem the running configuration stays and each problem
is logged as `FILE:LINE: ...`. Every reload is counted in
`hookd_config_reloads_total{outcome}`: `applied`, `unchanged` (same file and secrets),
`failed`.

What takes effect: endpoints (paths, forges, secrets: a rotated secret is checked from the
next delivery on), hooks, the number of workers (unless `--workers` fixed it) and
retention. The listen address, the database, the token and the request limits are fixed
when the server starts; a reload that changes them says so in the log. Queued jobs of a
hook the reload removed are cancelled, saying why. Each process reloads its own file:
several sharing one PostgreSQL database each do it on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hookd.background import in_background
from hookd.config import Config, secret_files
from hookd.config.live import LiveConfig
from hookd.config.model import ServerSettings
from hookd.errors import ConfigError, StoreError
from hookd.store.base import Store
from hookd.web.metrics import count_reload

log = logging.getLogger("hookd.reload")

Outcome = Literal["applied", "unchanged", "failed"]

WATCH_SECONDS = 1.0
"""How often the config file and its secret files are looked at, by default."""

RESTART_ONLY = frozenset(ServerSettings.model_fields) - {"workers", "retention"}
"""`server` settings a running server cannot change: they take effect on a restart."""


@dataclass(frozen=True, slots=True)
class ReloadResult:
    outcome: Outcome
    config: str
    """The short hash of the configuration in force afterwards."""
    previous: str
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "config": self.config,
            "previous": self.previous,
            "problems": list(self.problems),
        }


class Reloader:
    """Loads the configuration again with `load` and puts it in force, one at a time."""

    def __init__(self, live: LiveConfig, load: Callable[[], Config], store: Store) -> None:
        self.live, self._load, self._store = live, load, store
        self._lock = asyncio.Lock()

    async def reload(self, cause: str) -> ReloadResult:
        async with self._lock:
            old = self.live.config
            try:
                new = await asyncio.to_thread(self._load)
            except ConfigError as exc:
                return self._failed(old, cause, tuple(exc.problems))
            except Exception as exc:  # a reload must never take the server down
                log.exception("reload (%s) failed inside hookd", cause)
                return self._failed(old, cause, (f"{old.path}: {exc}",))
            if new.version == old.version:
                count_reload("unchanged")
                log.info("reload (%s): configuration %s unchanged", cause, old.version)
                return ReloadResult("unchanged", old.version, old.version)
            self.live.replace(new)
            count_reload("applied")
            log.info(
                "reload (%s): configuration %s in force (was %s)%s",
                cause, new.version, old.version, _changes(old, new),
            )  # fmt: skip
            for key in _restart_only(old, new):
                log.warning("reload: server.%s changed; it takes effect when hookd restarts", key)
            await self._cancel_removed(old, new)
            return ReloadResult("applied", new.version, old.version)

    def _failed(self, old: Config, cause: str, problems: tuple[str, ...]) -> ReloadResult:
        count_reload("failed")
        for problem in problems:
            log.error("%s", problem)
        log.error(
            "reload (%s) failed with %d problems: configuration %s stays in force",
            cause, len(problems), old.version,
        )  # fmt: skip
        return ReloadResult("failed", old.version, old.version, problems)

    async def _cancel_removed(self, old: Config, new: Config) -> None:
        removed = sorted(set(old.hooks) - set(new.hooks))
        if not removed:
            return
        reason = f"cancelled: its hook was removed from the configuration ({new.version})"
        try:
            cancelled = await self._store.cancel_queued_jobs(removed, reason, datetime.now(UTC))
        except StoreError as exc:
            log.error("reload: could not cancel the queued jobs of removed hooks: %s", exc)
            return
        if cancelled:
            log.info("reload: cancelled %d queued jobs of %s", cancelled, ", ".join(removed))


def _changes(old: Config, new: Config) -> str:
    """What a reload changed, in names: endpoints and hooks added and removed."""
    parts = []
    for kind, before, after in (
        ("endpoints", old.endpoints, new.endpoints),
        ("hooks", old.hooks, new.hooks),
    ):
        added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
        if added:
            parts.append(f"{kind} added: {', '.join(added)}")
        if removed:
            parts.append(f"{kind} removed: {', '.join(removed)}")
    return f"; {'; '.join(parts)}" if parts else ""


def _restart_only(old: Config, new: Config) -> list[str]:
    before, after = old.server.model_dump(), new.server.model_dump()
    return sorted(key for key in RESTART_ONLY if before.get(key) != after.get(key))


Stamp = tuple[int, int, int] | None


def _stamps(config: Config) -> dict[Path, Stamp]:
    """Size, mtime and inode of the config file and each secret file (None: missing)."""
    stamps: dict[Path, Stamp] = {}
    for path in (config.path, *secret_files(config)):
        try:
            found = os.stat(path)
        except OSError:
            stamps[path] = None
        else:
            stamps[path] = (found.st_mtime_ns, found.st_size, found.st_ino)
    return stamps


async def watch_files(reloader: Reloader, interval: float) -> None:
    """Reload when the config file or a secret file it names changes. A change is acted on
    once two looks `interval` apart agree (an editor's save, a file written in pieces);
    a file caught half-written fails validation and keeps the configuration in force."""
    seen = _stamps(reloader.live.config)
    while True:
        await asyncio.sleep(interval)
        now = _stamps(reloader.live.config)
        if now == seen:
            continue
        while True:
            await asyncio.sleep(interval)
            again = _stamps(reloader.live.config)
            if again == now:
                break
            now = again
        await reloader.reload("file changed")
        # Files the new configuration names are watched from now on; those looked at
        # before the load keep that look, so a change made during it is not missed.
        current = _stamps(reloader.live.config)
        seen = {path: now.get(path, stamp) for path, stamp in current.items()}


@contextlib.asynccontextmanager
async def reloading(reloader: Reloader, watch_seconds: float) -> AsyncIterator[None]:
    """While open: reload on SIGHUP, and (unless `watch_seconds` is 0) on a file change."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[ReloadResult]] = set()

    def on_hangup() -> None:
        task = loop.create_task(reloader.reload("SIGHUP"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    watching = (
        in_background(watch_files(reloader, watch_seconds), "hookd-watch-config")
        if watch_seconds > 0
        else contextlib.nullcontext()
    )
    try:
        async with watching:
            yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        for task in list(tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
