"""`hookd relay`, `hookd forward` and `hookd github register`: receiving on a machine the
forge cannot reach, and pointing GitHub's webhook at hookd."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
import httpx
import uvicorn
import uvloop
from click.decorators import FC

from hookd.catch_up.hooks import remember
from hookd.cli.options import config_option, read_config
from hookd.cli.send import local_url
from hookd.cli.serve import _listen
from hookd.config import Config, is_loopback
from hookd.core.units import parse_duration, parse_size
from hookd.deliverylog import configure_logging
from hookd.forge_rest import github_client
from hookd.relay.client import Channel, Forwarder, RelayChannel, Resigner
from hookd.relay.github_hooks import (
    GitHubHooks,
    HookOwner,
    RegistrationPlan,
    plan_registration,
)
from hookd.relay.quota import Quotas
from hookd.relay.server import RelayApp, RelaySettings
from hookd.relay.smee import SmeeChannel, is_smee_url
from hookd.relay.storage import RelayStorage
from hookd.web.http_limits import (
    DEFAULT_MAX_CONNECTIONS,
    HttpLimits,
    connection_limit,
    uvicorn_config,
)

T = TypeVar("T")

# An admin token anyone on the network may try: long enough that guessing it, even
# unthrottled, is hopeless (a random one has ~6 bits a character).
MIN_ADMIN_TOKEN = 16

RESIGN_WARNING = (
    "warning: --resign re-signs every delivery with the local endpoint's secret, so hookd "
    "can no longer tell a forged delivery from a real one: the origin is trusted on the "
    "relay's word."
)


def _quota_option(name: str, default: int | str, sentence: str) -> Callable[[FC], FC]:
    """An option for one of the relay's quotas, named as its `Quotas` field: a count when
    `default` is one, else a size."""
    env = f"HOOKD_RELAY_{name.upper().replace('-', '_')}"
    return click.option(
        f"--{name}",
        name.replace("-", "_"),
        type=click.IntRange(min=1) if isinstance(default, int) else str,
        default=default,
        show_default=True,
        envvar=env,
        help=f"{sentence} [env: {env}].",
    )


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="HOOKD_RELAY_HOST",
    help="Address to listen on [env: HOOKD_RELAY_HOST]; beyond loopback an --admin-token "
    f"of at least {MIN_ADMIN_TOKEN} characters is required.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8090,
    show_default=True,
    envvar="HOOKD_RELAY_PORT",
    help="Port; 0 picks one [env: HOOKD_RELAY_PORT].",
)
@click.option(
    "--db",
    "database",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("hookd-relay.db"),
    show_default=True,
    envvar="HOOKD_RELAY_DB",
    help="The relay's SQLite file [env: HOOKD_RELAY_DB].",
)
@click.option(
    "--admin-token",
    envvar="HOOKD_RELAY_TOKEN",
    help="Bearer token that creating a channel needs [env: HOOKD_RELAY_TOKEN].",
)
@click.option(
    "--retention",
    default="72h",
    show_default=True,
    envvar="HOOKD_RELAY_RETENTION",
    help="How long requests are kept, acknowledged or not [env: HOOKD_RELAY_RETENTION].",
)
@click.option(
    "--max-body",
    default="25MB",
    show_default=True,
    envvar="HOOKD_RELAY_MAX_BODY",
    help="Larger requests get 413 [env: HOOKD_RELAY_MAX_BODY].",
)
@click.option(
    "--public-url",
    envvar="HOOKD_RELAY_PUBLIC_URL",
    help="Base of channel URLs, e.g. https://relay.example.com [env: HOOKD_RELAY_PUBLIC_URL; "
    "default: the URL a channel is created through].",
)
@_quota_option("channel-requests", 600, "Requests a minute one channel takes; more get 429")
@_quota_option("channel-bytes", "100MB", "Bytes a minute one channel takes; more get 429")
@_quota_option("channel-storage", "1GB", "Bytes one channel stores; more get 507")
@_quota_option("total-requests", 6000, "Requests a minute all channels take; more get 429")
@_quota_option("total-bytes", "1GB", "Bytes a minute all channels take; more get 429")
@_quota_option("total-storage", "10GB", "Bytes all channels store; more get 507")
@click.option(
    "--auth-failures",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    envvar="HOOKD_RELAY_AUTH_FAILURES",
    help="Wrong tokens (subscriber or admin) one address may send within --auth-window "
    "before it gets 429; 0 turns this off [env: HOOKD_RELAY_AUTH_FAILURES].",
)
@click.option(
    "--auth-window",
    default="1m",
    show_default=True,
    envvar="HOOKD_RELAY_AUTH_WINDOW",
    help="The window --auth-failures counts in [env: HOOKD_RELAY_AUTH_WINDOW].",
)
def relay(
    host: str,
    port: int,
    database: Path,
    admin_token: str | None,
    retention: str,
    max_body: str,
    public_url: str | None,
    auth_failures: int,
    auth_window: str,
    **quotas: int | str,
) -> None:
    """Run a relay: channels a forge posts to, read by `hookd forward` on your laptop.

    Create a channel with `POST /channels`; it answers the URL to give the forge and the
    token a subscriber needs.
    """
    _check_admin_token(host, admin_token)
    window = _parsed(parse_duration, auth_window, "--auth-window")
    if window <= 0:
        raise click.BadParameter("the window must be longer than 0 s", param_hint="--auth-window")
    settings = RelaySettings(
        max_body=_parsed(parse_size, max_body, "--max-body"),
        retention=_parsed(parse_duration, retention, "--retention"),
        admin_token=admin_token or None,
        public_url=public_url,
        quotas=_quotas(quotas),
        auth_failures=auth_failures,
        auth_window=window,
    )
    storage = RelayStorage(database)
    storage.create()  # a database that cannot be opened is one sentence, before serving
    configure_logging("text")
    # The same head, body and time limits as `hookd serve`, at their defaults; the
    # connection limit is logged before the banner says the relay is listening.
    limits = HttpLimits(max_connections=connection_limit(DEFAULT_MAX_CONNECTIONS, workers=0))
    listener = _listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{listener.getsockname()[1]}"
    click.echo(f"hookd relay is listening on {base}")
    auth = " -H 'Authorization: Bearer $HOOKD_RELAY_TOKEN'" if admin_token else ""
    click.echo(f"Create a channel: curl -X POST{auth} {base}/channels")
    app = RelayApp(storage, settings)
    config = uvicorn_config(app, limits, graceful_shutdown=10, proxy_headers=True)
    server = _RelayServer(app, config)
    uvloop.run(server.serve(sockets=[listener]))


class _RelayServer(uvicorn.Server):
    """uvicorn's server, which also ends the relay's event streams when a signal asks it
    to stop: otherwise shutdown would wait on subscribers, who never hang up."""

    def __init__(self, app: RelayApp, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.relay = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # Called by signal.signal in the loop's thread, between two of its steps.
        asyncio.get_running_loop().call_soon_threadsafe(self.relay.end_streams)


def _check_admin_token(host: str, admin_token: str | None) -> None:
    """Refuse, before anything binds, to listen beyond loopback with no admin token or one
    short enough to guess."""
    if is_loopback(host):
        return
    if not admin_token:
        raise click.UsageError(
            f"--host {host}: set --admin-token (or HOOKD_RELAY_TOKEN) when listening beyond "
            "loopback, so that strangers cannot create channels"
        )
    if len(admin_token) < MIN_ADMIN_TOKEN:
        raise click.UsageError(
            f"--host {host}: the admin token is shorter than {MIN_ADMIN_TOKEN} characters; a "
            "relay that listens beyond loopback needs a longer one, so that it cannot be "
            "guessed (make one with: python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )


def _quotas(options: dict[str, int | str]) -> Quotas:
    """The quotas from their options: counts as they are, sizes parsed."""
    values = {
        name: value
        if isinstance(value, int)
        else _parsed(parse_size, value, f"--{name.replace('_', '-')}")
        for name, value in options.items()
    }
    try:
        return Quotas(**values)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _parsed(parse: Callable[[str], T], text: str, option: str) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


@click.command()
@click.argument("url")
@click.option(
    "--token",
    envvar="HOOKD_FORWARD_TOKEN",
    help="The channel's subscriber token, as POST /channels gave it [env: HOOKD_FORWARD_TOKEN]. "
    "Not used for smee.io.",
)
@click.option(
    "--to",
    "target",
    help="The local receiver's URL [default: the endpoint's URL on this machine, from the config].",
)
@click.option("--endpoint", help="The local endpoint (default: the first configured).")
@click.option(
    "--name",
    default=socket.gethostname,
    envvar="HOOKD_FORWARD_NAME",
    help="This subscriber's name: the relay remembers what it acknowledged, and a forwarder "
    "of the same name resumes there [env: HOOKD_FORWARD_NAME; default: this machine's name].",
)
@click.option(
    "--smee",
    is_flag=True,
    help="Read URL as a smee.io channel (the default for https://smee.io/ URLs).",
)
@click.option(
    "--resign",
    is_flag=True,
    help="Re-sign each delivery with the local endpoint's secret (for smee.io, which "
    "re-serializes bodies). hookd then trusts the relay's word for where it came from.",
)
@config_option
def forward(
    url: str,
    token: str | None,
    target: str | None,
    endpoint: str | None,
    name: str,
    smee: bool,
    resign: bool,
    config_file: Path | None,
) -> None:
    """Deliver a relay channel's (or smee.io channel's) deliveries to the local hookd.

    Each delivery is replayed byte for byte, acknowledged after hookd answered it, and
    nothing is lost while this command is stopped: it resumes where it left off.
    """
    channel: Channel
    if smee or is_smee_url(url):
        channel = SmeeChannel(url)
    elif not token:
        raise click.UsageError("--token is required for a relay channel (POST /channels gave it)")
    else:
        channel = RelayChannel(url, token, name)
    target, resigner = _local_side(config_file, target, endpoint, resign)
    if not target.startswith(("http://", "https://")):
        raise click.BadParameter(f"{target!r} is not an http(s) URL", param_hint="--to")
    if resigner is not None:
        click.echo(RESIGN_WARNING, err=True)
    configure_logging("text")
    click.echo(f"Forwarding {url} to {target}")
    asyncio.run(_until_signalled(_forward(channel, target, resigner)))


def _local_side(
    config_file: Path | None, target: str | None, endpoint: str | None, resign: bool
) -> tuple[str, Resigner | None]:
    """The URL to deliver to and, with --resign, the re-signer; the config is read only
    when one of them needs it."""
    if target is not None and not resign:
        return target, None
    config = read_config(config_file)
    chosen = _endpoint(config, endpoint)
    return target or local_url(config, chosen), _resigner(config, chosen) if resign else None


def _endpoint(config: Config, name: str | None) -> str:
    chosen = name or next(iter(config.endpoints))
    if chosen not in config.endpoints:
        raise click.BadParameter(
            f"no endpoint {chosen!r} in {config.path}", param_hint="--endpoint"
        )
    return chosen


def _resigner(config: Config, name: str) -> Resigner:
    spec = config.specs[name]
    if not spec.secrets:
        raise click.UsageError(f"--resign: endpoint {name!r} has no secret to sign with")
    return Resigner(spec.forge, spec.secrets[0], spec.signature)


async def _forward(channel: Channel, target: str, resigner: Resigner | None) -> None:
    async with httpx.AsyncClient() as client:
        await Forwarder(channel, target, client, resign=resigner).run()


async def _until_signalled(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` until it ends or SIGINT/SIGTERM cancels it."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        click.echo("Stopped.")


@click.group()
def github() -> None:
    """GitHub: point a repository's (or organization's) webhook at hookd."""


@github.command()
@click.option("--repo", metavar="OWNER/NAME", help="The repository whose webhook to manage.")
@click.option("--org", metavar="ORG", help="The organization whose webhook to manage.")
@click.option("--url", required=True, help="The URL GitHub delivers to.")
@click.option(
    "--events",
    multiple=True,
    help="Events to subscribe to, repeated or comma-separated [default: those the endpoint's "
    "hooks listen to; '*' when one takes every event].",
)
@click.option(
    "--endpoint",
    help="The endpoint whose secret GitHub signs with [default: the first GitHub endpoint].",
)
@click.option("--remove", is_flag=True, help="Delete the webhook that points at --url.")
@click.option(
    "--api-url",
    envvar="GITHUB_API_URL",
    help="GitHub's REST API, for GitHub Enterprise Server [env: GITHUB_API_URL; default: the "
    "endpoint's api_url, else https://api.github.com].",
)
@config_option
def register(
    repo: str | None,
    org: str | None,
    url: str,
    events: tuple[str, ...],
    endpoint: str | None,
    remove: bool,
    api_url: str | None,
    config_file: Path | None,
) -> None:
    """Create or update the webhook that delivers to URL, signed with the endpoint's secret,
    as JSON, for the events its hooks need. Needs GITHUB_TOKEN (or the endpoint's api_token)
    with the right to manage webhooks."""
    owner = HookOwner.parse(repo, org)
    names = tuple(event.strip() for item in events for event in item.split(",") if event.strip())
    config = read_config(config_file)
    plan = plan_registration(config, owner, endpoint=endpoint, events=names, api_url=api_url)
    click.echo(asyncio.run(_register(config, plan, url, remove)))


async def _register(config: Config, plan: RegistrationPlan, url: str, remove: bool) -> str:
    owner = plan.owner
    async with github_client(plan.api_url, plan.token) as client:
        hooks = GitHubHooks(client)
        if remove:
            removed = await hooks.remove(owner, url)
            if removed is None:
                return f"No webhook on {owner} points at {url}: nothing to remove."
            return f"Removed webhook {removed} from {owner} (it pointed at {url})."
        registered = await hooks.register(owner, plan.settings(url))
    verb = "Created" if registered.created else "Updated"
    events = ", ".join(registered.events)
    said = f"{verb} webhook {registered.id} on {owner}: {url} (events: {events})."
    problem = await remember(config, plan.endpoint, f"{owner.hooks_path}/{registered.id}")
    return f"{said}\n{problem}" if problem else said
