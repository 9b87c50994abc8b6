"""`hookd forward`: subscribe to a relay channel (or a smee.io channel) and replay each
delivery to the local receiver.

The replay carries the stored bytes and headers unchanged, less hop-by-hop headers, so the
forge's signature still verifies at hookd. A delivery is acknowledged to the relay only
after the local receiver answered it: 2xx, or a 4xx that sending again cannot fix. A 5xx,
408, 425, 429 or an unreachable receiver is retried with backoff, in order, and not
acknowledged meanwhile. A lost subscription is resumed with backoff after the last
acknowledged delivery, so none is lost and, within one run, none is sent twice; a
delivery answered but not yet acknowledged when the forwarder died is sent once more,
and hookd answers it `duplicate` by its delivery id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse

from hookd.core.endpoint import SignatureScheme
from hookd.core.forge_profiles import profile
from hookd.core.retry import backoff_delay
from hookd.relay import RefusedError, RelayError
from hookd.relay.wire import Pairs, Relayed, decode_relayed

log = logging.getLogger("hookd.forward")

# RFC 9110 7.6.1 (Connection) and the framing headers the local request sets itself.
HOP_BY_HOP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# 4xx answers that a later attempt may get past: timeout, too early, rate limited.
RETRYABLE_4XX = frozenset({408, 425, 429})
STREAM_TIMEOUT = httpx.Timeout(10.0, read=90.0)  # the relay sends a comment every 15 s
LOCAL_TIMEOUT = httpx.Timeout(30.0)
RETRY_CAP = 30.0

SMEE_REWRITES = (
    "the local receiver answered 401: the signature no longer matches the body because "
    "smee.io re-serializes JSON bodies (their bytes change on the way). Use a hookd relay "
    "(`hookd relay`), which keeps the bytes, or `hookd forward --resign` to re-sign "
    "deliveries with the local endpoint's secret."
)


class Channel(Protocol):
    """Where deliveries come from: a hookd relay channel or a smee.io channel."""

    @property
    def label(self) -> str:
        """What the source is called in messages."""
        ...

    @property
    def reserializes(self) -> bool:
        """Whether bodies arrive re-serialized, so a forge's signature may no longer match."""
        ...

    def subscription(self, last_id: str | None) -> tuple[str, dict[str, str]]:
        """The events URL and request headers, resuming after `last_id` when given."""
        ...

    def parse(self, event: ServerSentEvent) -> Relayed | None:
        """The delivery an event carries; None for events that carry none (ready, ping)."""
        ...

    async def acknowledge(self, client: httpx.AsyncClient, relayed: Relayed) -> None:
        """Tell the source `relayed` was handled. Raises RelayError when it cannot."""
        ...


@dataclass(frozen=True)
class RelayChannel:
    """A channel of a hookd relay: `url` as `POST /channels` gave it, with its token."""

    url: str
    token: str = field(repr=False)
    subscriber: str
    label: str = "relay"
    reserializes: bool = False

    def subscription(self, last_id: str | None) -> tuple[str, dict[str, str]]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        return (
            f"{self.url.rstrip('/')}/events?subscriber={quote(self.subscriber, safe='')}",
            headers,
        )

    def parse(self, event: ServerSentEvent) -> Relayed | None:
        return decode_relayed(event.data) if event.event == "delivery" else None

    async def acknowledge(self, client: httpx.AsyncClient, relayed: Relayed) -> None:
        try:
            response = await client.post(
                f"{self.url.rstrip('/')}/ack",
                json={"id": int(relayed.id), "subscriber": self.subscriber},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=LOCAL_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise RelayError(f"could not acknowledge delivery {relayed.id}: {exc}") from exc
        if not response.is_success:
            raise RelayError(
                f"the relay refused the acknowledgement of delivery {relayed.id}: "
                f"{response.status_code} {response.text}"
            )


@dataclass(frozen=True)
class Resigner:
    """Replaces a delivery's signature headers with ones computed with the local secret."""

    forge: str
    secret: bytes = field(repr=False)
    scheme: SignatureScheme

    def __call__(self, headers: Pairs, body: bytes) -> Pairs:
        fresh = profile(self.forge).sign(self.secret, body, self.scheme, time.time())
        replaced = {name.lower() for name in fresh}
        kept = tuple((name, value) for name, value in headers if name.lower() not in replaced)
        return kept + tuple(fresh.items())


def forwardable(headers: Pairs) -> Pairs:
    """The headers to replay: all but the hop-by-hop ones, in order."""
    return tuple((name, value) for name, value in headers if name.lower() not in HOP_BY_HOP)


def with_query(url: str, query: str) -> str:
    """`url` with the delivery's query string added to its own."""
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


class Forwarder:
    """Replays `channel`'s deliveries to `target` until cancelled. `sleep` and `jitter`
    are injectable so backoff can be tested without waiting."""

    def __init__(
        self,
        channel: Channel,
        target: str,
        client: httpx.AsyncClient,
        *,
        resign: Resigner | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.channel = channel
        self.target = target
        self.client = client
        self.resign = resign
        self.sleep = sleep
        self.jitter = jitter
        self.last_id: str | None = None
        self._connected = False

    async def run(self) -> None:
        """Subscribe, and subscribe again with backoff whenever the stream is lost.
        Returns never; raises RefusedError when the source refuses the subscriber."""
        failures = 0
        while True:
            self._connected = False
            try:
                await self._subscribe()
                reason = "the stream ended"
            except RefusedError:
                raise
            except (httpx.HTTPError, SSEError, RelayError) as exc:
                reason = str(exc) or type(exc).__name__
            failures = 1 if self._connected else failures + 1
            delay = backoff_delay(failures, base=1.0, cap=RETRY_CAP, jitter=self.jitter())
            log.warning(
                "lost the %s: %s; reconnecting in %.1f s", self.channel.label, reason, delay
            )
            await self.sleep(delay)

    async def _subscribe(self) -> None:
        """Read one subscription to its end."""
        url, headers = self.channel.subscription(self.last_id)
        async with aconnect_sse(
            self.client, "GET", url, headers=headers, timeout=STREAM_TIMEOUT
        ) as source:
            response = source.response
            if response.status_code in (401, 403, 404, 410):
                await response.aread()
                raise RefusedError(
                    f"the {self.channel.label} refused the subscription "
                    f"({response.status_code}): {_reason(response)}"
                )
            if response.status_code != 200:
                raise RelayError(f"the {self.channel.label} answered {response.status_code}")
            self._connected = True
            log.info("Connected to the %s; forwarding to %s", self.channel.label, self.target)
            async for event in source.aiter_sse():
                relayed = self.channel.parse(event)
                if relayed is not None:
                    await self.handle(relayed)

    async def handle(self, relayed: Relayed) -> None:
        """Deliver `relayed`, then acknowledge it to the source."""
        status = await self.deliver(relayed)
        if status == 401 and self.channel.reserializes and self.resign is None:
            log.warning("delivery %s: %s", relayed.id or "(no id)", SMEE_REWRITES)
        try:
            await self.channel.acknowledge(self.client, relayed)
        except RelayError as exc:
            # The next acknowledgement covers this one, and a reconnection resumes after it.
            log.warning("%s", exc)
        self.last_id = relayed.id or None

    async def deliver(self, relayed: Relayed) -> int:
        """Send `relayed` to the target until it answers with a final status; returns it."""
        headers = forwardable(relayed.headers)
        if self.resign is not None:
            headers = self.resign(headers, relayed.body)
        url = with_query(self.target, relayed.query)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.client.request(
                    relayed.method,
                    url,
                    content=relayed.body,
                    headers=list(headers),
                    timeout=LOCAL_TIMEOUT,
                )
            except httpx.HTTPError as exc:
                problem = f"could not reach {url}: {str(exc) or type(exc).__name__}"
            else:
                status = response.status_code
                if status < 500 and status not in RETRYABLE_4XX:
                    log.info("%s %s -> %d (delivery %s)", relayed.method, url, status, relayed.id)
                    return status
                problem = f"{url} answered {status}"
            delay = backoff_delay(attempt, base=1.0, cap=RETRY_CAP, jitter=self.jitter())
            log.warning("delivery %s: %s; trying again in %.1f s", relayed.id, problem, delay)
            await self.sleep(delay)


def _reason(response: httpx.Response) -> str:
    """The sentence in a JSON `{"error": ...}` answer, else the body's text."""
    try:
        content = response.json()
    except ValueError:
        content = None
    if isinstance(content, dict) and isinstance(content.get("error"), str):
        return str(content["error"])
    return response.text.strip()[:200] or "no reason given"
