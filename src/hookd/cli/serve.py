"""`hookd serve`: the receiver (and, with the rules work, the job workers) in one process."""

from __future__ import annotations

import dataclasses
import gc
import os
import socket
from pathlib import Path
from shlex import quote

import click
import uvicorn
import uvloop

from hookd.catch_up.schedule import catch_up_hooks
from hookd.cli.options import (
    config_option,
    database_option,
    harden_process,
    lease_seconds_option,
    log_format_option,
    watch_option,
    with_database,
)
from hookd.config import DEFAULT_CONFIG, Config, config_path, load_config, token_problem
from hookd.config.live import LiveConfig
from hookd.config.template import write_initial_config
from hookd.deliverylog import configure_logging
from hookd.errors import ConfigError
from hookd.relay.tunnel import serve_hooks
from hookd.reload import Reloader, reloading
from hookd.store import store_for
from hookd.store.database_url import display_url
from hookd.web.app import HookdApp
from hookd.web.http_limits import HttpLimits, connection_limit, uvicorn_config
from hookd.web.timed_store import TimedStore
from hookd.worker.pool import LEASE_SECONDS, WorkerPool


@click.command()
@config_option
@click.option("--host", envvar="HOOKD_HOST", help="Address to listen on [env: HOOKD_HOST].")
@click.option("--port", envvar="HOOKD_PORT", type=int, help="Port; 0 picks one [env: HOOKD_PORT].")
@database_option
@log_format_option
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    envvar="HOOKD_WORKERS",
    help="Job workers in this process; 0 receives only [env: HOOKD_WORKERS; default: CPU count].",
)
@lease_seconds_option(LEASE_SECONDS)
@watch_option
@click.option(
    "--tunnel",
    type=click.Choice(["ngrok"]),
    envvar="HOOKD_TUNNEL",
    help="Open a public tunnel to this server while it runs; ngrok reads NGROK_AUTHTOKEN "
    "[env: HOOKD_TUNNEL].",
)
@click.option(
    "--register",
    metavar="OWNER/NAME",
    envvar="HOOKD_REGISTER",
    help="With --tunnel: point OWNER/NAME's GitHub webhook at the tunnel while hookd runs and "
    "deactivate it on exit; needs GITHUB_TOKEN or the endpoint's api_token "
    "[env: HOOKD_REGISTER].",
)
def serve(
    config_file: Path | None,
    host: str | None,
    port: int | None,
    database: str | None,
    log_format: str | None,
    workers: int | None,
    lease_seconds: float,
    watch: float,
    tunnel: str | None,
    register: str | None,
) -> None:
    """Receive deliveries. With no config file, first write one as `hookd init` does.
    SIGHUP, `hookd reload` or a change to the config file or its secret files reloads it."""
    harden_process()
    path = config_path(config_file, os.environ)
    if not path.exists():
        written = write_initial_config(path.parent)
        click.echo(
            f"No config at {path}: wrote {written.config} with a new secret in {written.secret}."
        )
        if written.ignore is not None:
            click.echo(f"{written.ignore} keeps the secret and the database out of git.")

    def load() -> Config:
        return _with_overrides(load_config(path), host, port, database, log_format)

    config = load()
    configure_logging(config.server.log_format)
    # Migrate and check the database before listening: an unreachable one is one clear
    # line and exit 1, not a traceback from inside the server's start-up.
    uvloop.run(_check_database(config.database))
    listener = _listen(config.server.host, config.server.port)
    tunnel_hooks = serve_hooks(config, tunnel, register, listener.getsockname()[1])
    _print_banner(config, listener.getsockname()[1])
    store = TimedStore(store_for(config.database))
    reloader = Reloader(LiveConfig(config), load, store)
    pool = WorkerPool(store, reloader.live, workers, lease_seconds=lease_seconds)
    services = [lambda: reloading(reloader, watch), *tunnel_hooks, *catch_up_hooks(config, store)]
    app = HookdApp(reloader, store, [*([pool.running] if workers != 0 else []), *services])
    connections = connection_limit(config.server.max_connections, workers=pool.size)
    limits = HttpLimits.from_settings(config.server, connections)
    # hookd decides whom to believe per endpoint (trusted_proxies), not uvicorn.
    server = uvicorn.Server(uvicorn_config(app, limits, graceful_shutdown=30))
    # What start-up built lives as long as the process: frozen, the collector's full passes
    # skip it instead of walking it again and again under load.
    gc.freeze()
    uvloop.run(server.serve(sockets=[listener]))


async def _check_database(url: str) -> None:
    store = store_for(url)
    try:
        await store.open()
    finally:
        await store.close()


def _with_overrides(
    config: Config, host: str | None, port: int | None, database: str | None, log_format: str | None
) -> Config:
    updates = {
        key: value
        for key, value in (
            ("host", host), ("port", port), ("log_format", log_format),
        )
        if value is not None
    }  # fmt: skip
    if not updates:
        return with_database(config, database)
    server = config.server.model_copy(update=updates)
    problem = token_problem(server)
    if problem is not None:
        raise ConfigError([f"--host {server.host}: server.token {problem}"])
    return with_database(dataclasses.replace(config, server=server), database)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _print_banner(config: Config, port: int) -> None:
    host = config.server.host
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    click.echo(f"hookd is listening on {base}")
    for name, endpoint in config.endpoints.items():
        if endpoint.secret_file:
            files = (str(config.path.parent / file) for file in endpoint.secret_file)
            where = f"secret in {', '.join(files)}"
        elif endpoint.secret:
            where = f"secret in {config.path} (endpoints.{name}.secret)"
        else:
            where = "no secret (insecure)"
        click.echo(f"  {name} ({endpoint.forge}): POST {base}{config.endpoint_path(name)}  {where}")
    click.echo(f"  database: {display_url(config.database)}")
    # The port may not be the file's (--port, 0) and the config not ./hookd.yaml: say both.
    local = base if host not in ("0.0.0.0", "::", "") else f"http://127.0.0.1:{port}"  # noqa: S104
    first = config.endpoint_path(next(iter(config.endpoints)))
    option = "" if config.path == Path(DEFAULT_CONFIG) else f" --config {quote(str(config.path))}"
    click.echo(
        f"Try it from another shell: hookd send push{option} --url {local}{first}"
        f"   (then: hookd deliveries{option})"
    )
