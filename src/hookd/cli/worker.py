"""`hookd worker`: job workers only, against the configured database. Run as many as needed
on as many machines, beside `hookd serve --workers 0` receivers, all on one PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
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
)
from hookd.config import Config
from hookd.deliverylog import configure_logging
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
def worker(
    config_file: Path | None,
    database: str | None,
    workers: int | None,
    lease_seconds: float,
    log_format: str | None,
) -> None:
    """Run job workers only (no HTTP), against the configured database. SIGTERM or Ctrl-C
    stops claiming, gives running jobs 30 s to finish, then hands them back to the queue."""
    harden_process()
    config = store_config(config_file, database)
    if log_format is not None:
        server = config.server.model_copy(update={"log_format": log_format})
        config = dataclasses.replace(config, server=server)
    configure_logging(config.server.log_format)
    size = workers or config.server.workers or os.cpu_count() or 1
    uvloop.run(_work(config, size, lease_seconds))


async def _work(config: Config, size: int, lease_seconds: float) -> None:
    """Open the store (a StoreError here ends the command with its one-line reason), run the
    pool until SIGTERM or SIGINT, then stop it gracefully."""
    store = store_for(config.database)
    await store.open()
    try:
        pool = WorkerPool(store, config, size, lease_seconds=lease_seconds)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _on_signal, signum, stopping)
        async with pool.running():
            click.echo(
                f"hookd worker {pool.name}: {size} job workers on {display_url(config.database)}"
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
