"""`hookd worker`: job workers only, against the configured database. Run as many as needed
on as many machines, beside `hookd serve --workers 0` receivers, all on one PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import click
import uvloop

from hookd.cli.options import (
    config_option,
    database_option,
    harden_process,
    lease_seconds_option,
    log_format_option,
    store_config,
    watch_option,
)
from hookd.config import Config
from hookd.config.live import LiveConfig
from hookd.deliverylog import configure_logging
from hookd.reload import Reloader, reloading
from hookd.store import store_for
from hookd.store.database_url import display_url
from hookd.worker.pool import LEASE_SECONDS, WorkerPool

log = logging.getLogger("hookd.worker")


@click.command()
@config_option
@database_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    envvar="HOOKD_WORKERS",
    help="Jobs this process runs at once [env: HOOKD_WORKERS; default: server.workers, "
    "else the CPU count].",
)
@lease_seconds_option(LEASE_SECONDS)
@log_format_option
@watch_option
def worker(
    config_file: Path | None,
    database: str | None,
    workers: int | None,
    lease_seconds: float,
    log_format: str | None,
    watch: float,
) -> None:
    """Run job workers only (no HTTP), against the configured database. SIGTERM or Ctrl-C
    stops claiming, gives running jobs 30 s to finish, then hands them back to the queue.
    SIGHUP or a change to the config file reloads it (hooks, workers) in this process."""
    harden_process()

    def load() -> Config:
        config = store_config(config_file, database)
        if log_format is None:
            return config
        server = config.server.model_copy(update={"log_format": log_format})
        return dataclasses.replace(config, server=server)

    config = load()
    configure_logging(config.server.log_format)
    uvloop.run(_work(config, load, workers, lease_seconds, watch))


async def _work(
    config: Config,
    load: Callable[[], Config],
    size: int | None,
    lease_seconds: float,
    watch: float,
) -> None:
    """Open the store (a StoreError here ends the command with its one-line reason), run the
    pool until SIGTERM or SIGINT, then stop it gracefully."""
    store = store_for(config.database)
    await store.open()
    try:
        reloader = Reloader(LiveConfig(config), load, store)
        pool = WorkerPool(store, reloader.live, size, lease_seconds=lease_seconds)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _on_signal, signum, stopping)
        async with pool.running(), reloading(reloader, watch):
            click.echo(
                f"hookd worker {pool.name}: {pool.size} job workers on "
                f"{display_url(config.database)}"
            )
            await stopping.wait()
    finally:
        await store.close()
    log.info("hookd worker stopped")


def _on_signal(signum: int, stopping: asyncio.Event) -> None:
    if stopping.is_set():
        log.info("already stopping; running jobs are finishing or being handed back")
        return
    log.info("%s: stopping; running jobs get their grace period", signal.Signals(signum).name)
    stopping.set()
