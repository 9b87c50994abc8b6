"""`hookd serve --tunnel ngrok [--register OWNER/NAME]`: a public URL for a hookd that the
forge cannot reach, opened for as long as the server runs.

The tunnel is a lifespan hook of `HookdApp`. When it cannot be opened (no
`NGROK_AUTHTOKEN`, no network, refused), it logs why and hookd goes on serving locally.
With a registration, the repository's webhook is pointed at the tunnel's URL once it is
open (the same hook again on each start: one on a URL of the provider with the
endpoint's path) and set `active: false` on exit, so no hook is left pointing nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from hookd.config import Config
from hookd.forge_rest import github_client
from hookd.relay import RelayError, TunnelError
from hookd.relay.github_hooks import (
    GitHubHooks,
    HookOwner,
    RegistrationPlan,
    plan_registration,
)

if TYPE_CHECKING:
    import ngrok

log = logging.getLogger("hookd.tunnel")

LifespanHook = Callable[[], AbstractAsyncContextManager[None]]
# The domains of ngrok's own URLs (free and paid plans, old and new).
NGROK_DOMAINS = ("ngrok-free.app", "ngrok-free.dev", "ngrok.app", "ngrok.dev", "ngrok.io")
NGROK_SETUP_HINT = (
    "ngrok needs an authtoken: set NGROK_AUTHTOKEN (see "
    "https://dashboard.ngrok.com/get-started/your-authtoken)"
)


class Tunnel(Protocol):
    """An open tunnel: its public base URL, until closed."""

    @property
    def url(self) -> str: ...

    async def close(self) -> None: ...


class TunnelOpener(Protocol):
    """A tunnel provider."""

    name: str

    async def open(self, address: str) -> Tunnel:
        """A tunnel to `address` (`host:port`). Raises TunnelError with a sentence."""
        ...

    def owns(self, url: str) -> bool:
        """Whether `url` is on one of the provider's public domains."""
        ...


@dataclass(frozen=True)
class NgrokTunnel:
    """An ngrok session and its one HTTP endpoint."""

    url: str
    session: ngrok.Session
    listener: ngrok.Listener

    async def close(self) -> None:
        await self.listener.close()
        await self.session.close()


class NgrokOpener:
    """Tunnels through ngrok's Agent SDK (no ngrok binary). `server_addr` points the
    session at another ngrok server than ngrok's cloud."""

    name = "ngrok"

    def __init__(
        self, authtoken: str | None, *, server_addr: str | None = None, timeout: float = 30.0
    ) -> None:
        self._authtoken = authtoken
        self._server_addr = server_addr
        self._timeout = timeout

    async def open(self, address: str) -> Tunnel:
        if not self._authtoken:
            raise TunnelError(NGROK_SETUP_HINT)
        import ngrok  # a native extension: loaded only when a tunnel is asked for

        builder = ngrok.SessionBuilder().authtoken(self._authtoken)
        builder = builder.client_info("hookd", version("hookd"))
        if self._server_addr:
            builder = builder.server_addr(self._server_addr)
        try:
            session = await asyncio.wait_for(builder.connect(), self._timeout)
            endpoint = session.http_endpoint().listen_and_forward(f"http://{address}")
            listener = await asyncio.wait_for(endpoint, self._timeout)
        except TimeoutError as exc:
            raise TunnelError(f"ngrok did not answer within {self._timeout:g} s") from exc
        except (ValueError, RuntimeError, OSError) as exc:
            reason = ": ".join(str(part) for part in exc.args) or type(exc).__name__
            raise TunnelError(f"ngrok could not open a tunnel: {reason}") from exc
        return NgrokTunnel(listener.url(), session, listener)

    def owns(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return any(host == domain or host.endswith(f".{domain}") for domain in NGROK_DOMAINS)


class TunnelRegistration:
    """Points a GitHub webhook at a tunnel while it is open; see the module docstring."""

    def __init__(self, plan: RegistrationPlan, owns: Callable[[str], bool]) -> None:
        self.plan = plan
        self._owns = owns
        self.hook_id: int | None = None

    def _replaces(self, url: str) -> bool:
        return self._owns(url) and urlsplit(url).path == self.plan.path

    async def point_at(self, base_url: str) -> None:
        url = f"{base_url.rstrip('/')}{self.plan.path}"
        async with github_client(self.plan.api_url, self.plan.token) as client:
            hooks = GitHubHooks(client)
            registered = await hooks.register(
                self.plan.owner, self.plan.settings(url), self._replaces
            )
        self.hook_id = registered.id
        log.info(
            "GitHub webhook %d on %s now points at %s (events: %s)",
            registered.id,
            self.plan.owner,
            url,
            ", ".join(registered.events),
        )

    async def deactivate(self) -> None:
        if self.hook_id is None:
            return
        async with github_client(self.plan.api_url, self.plan.token) as client:
            await GitHubHooks(client).deactivate(self.plan.owner, self.hook_id)
        log.info(
            "GitHub webhook %d on %s deactivated: its tunnel is closing",
            self.hook_id,
            self.plan.owner,
        )


def tunnel_hook(
    opener: TunnelOpener,
    address: str,
    paths: Mapping[str, str],
    registration: TunnelRegistration | None = None,
) -> LifespanHook:
    """A lifespan hook that opens a tunnel to `address` for as long as the app runs and
    logs the public URL of each endpoint (`paths`: endpoint name → path)."""

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[None]:
        try:
            tunnel = await opener.open(address)
        except TunnelError as exc:
            log.error("no %s tunnel: %s. hookd is serving locally only.", opener.name, exc)
            yield
            return
        log.info("%s tunnel open: %s -> http://%s", opener.name, tunnel.url, address)
        for name, path in paths.items():
            log.info("  %s: POST %s%s", name, tunnel.url.rstrip("/"), path)
        try:
            await _register(registration, tunnel.url)
            yield
        finally:
            await _deactivate(registration)
            await tunnel.close()

    return running


async def _register(registration: TunnelRegistration | None, url: str) -> None:
    if registration is None:
        return
    try:
        await registration.point_at(url)
    except RelayError as exc:
        log.error("the GitHub webhook was not pointed at the tunnel: %s", exc)


async def _deactivate(registration: TunnelRegistration | None) -> None:
    if registration is None:
        return
    try:
        await registration.deactivate()
    except RelayError as exc:
        log.error("the GitHub webhook could not be deactivated: %s", exc)


def serve_hooks(
    config: Config,
    tunnel: str | None,
    register: str | None,
    port: int,
    environ: Mapping[str, str] | None = None,
) -> list[LifespanHook]:
    """The lifespan hooks of `hookd serve --tunnel PROVIDER [--register OWNER/NAME]` for a
    server listening on `port`: none without a tunnel. Raises RelayError (before anything
    starts) when the registration lacks what it needs."""
    environ = os.environ if environ is None else environ
    if tunnel is None:
        if register is not None:
            raise RelayError("--register OWNER/NAME needs --tunnel ngrok")
        return []
    opener = NgrokOpener(environ.get("NGROK_AUTHTOKEN"))
    registration = None
    if register is not None:
        plan = plan_registration(config, HookOwner.parse(register, None), environ=environ)
        registration = TunnelRegistration(plan, opener.owns)
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a wildcard bind is reached on loopback
        host = "127.0.0.1"
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    paths = {name: config.endpoint_path(name) for name in config.endpoints}
    return [tunnel_hook(opener, address, paths, registration)]
