"""The relay: a small server for machines the forge cannot reach (`hookd relay`).

- `POST /channels` creates a channel and answers its public `url` and subscriber `token`
  (with an admin token configured, only for `Authorization: Bearer <admin token>`).
- `POST <url>`: the forge's delivery, any content type, kept byte for byte up to
  `max_body` (413 beyond), committed to disk before the 202.
- `GET <url>/events`: server-sent events for `Authorization: Bearer <token>`; each event
  carries one request (see `hookd.relay.wire`) with its sequence number as `id:`. A
  subscriber resumes after `Last-Event-ID`, else after what its name (`?subscriber=`)
  acknowledged last.
- `POST <url>/ack` `{"id": N, "subscriber": NAME}`: NAME handled everything up to N.

A wrong token and an unknown channel get the same 401: a stranger learns nothing. An
address that sent `auth_failures` wrong tokens (subscriber or admin) within `auth_window`
gets 429 until the oldest of them is that old, whatever token it sends. Deliveries beyond
a rate quota get 429 with Retry-After, beyond a storage quota 507 (`hookd.relay.quota`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hookd.background import in_background
from hookd.core.ratelimit import FailureLimiter, retry_after_header
from hookd.errors import StoreError
from hookd.relay.bell import Bell
from hookd.relay.quota import Intake, Quotas, Refusal, storage_refusal
from hookd.relay.storage import QuotaScope, RelayStorage, Usage
from hookd.relay.wire import MAX_EVENT_ID, encode_relayed, is_event_id, parse_event_id
from hookd.web.capped_body import content_length, read_capped
from hookd.web.event_stream import KEEPALIVE, encoded_event, event_stream, json_event

log = logging.getLogger("hookd.relay")

CHANNEL_ID = re.compile(r"[0-9a-f]{32}")
MAX_SUBSCRIBER = 200
MAX_ACK = 4096
# A refusal sent before the body was read closes the connection rather than read the
# rest, unless the body is small: then it has most likely arrived already, and closing
# on a client still sending could cost it the answer.
CLOSE = {"Connection": "close"}
SMALL_BODY = 64 * 1024


@dataclass(frozen=True)
class RelaySettings:
    """How the relay behaves. `public_url` is the base of channel URLs (default: the URL
    the channel was created through); `keepalive` is the seconds between SSE comments."""

    max_body: int = 25 * 1024 * 1024
    retention: float = 72 * 3600.0
    admin_token: str | None = field(default=None, repr=False)
    public_url: str | None = None
    keepalive: float = 15.0
    quotas: Quotas = field(default_factory=Quotas)
    auth_failures: int = 10
    auth_window: float = 60.0

    @property
    def prune_every(self) -> float:
        return min(60.0, max(0.5, self.retention / 4))


def error(status: int, sentence: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": sentence}, status_code=status, headers=headers)


UNAUTHORIZED = "This channel's events need its subscriber token: Authorization: Bearer <token>."
BAD_LAST_EVENT_ID = f"Last-Event-ID must be an event id: a whole number from 0 to {MAX_EVENT_ID}."


class RelayApp:
    """The relay's ASGI application over `storage`. `clock` gives seconds since the epoch."""

    def __init__(
        self,
        storage: RelayStorage,
        settings: RelaySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.bell = Bell()
        self.intake = Intake(settings.quotas, clock())
        self.guesses = FailureLimiter(settings.auth_failures, settings.auth_window)
        self.app = Starlette(
            routes=[
                Route("/healthz", self.healthz),
                Route("/channels", self.create_channel, methods=["POST"]),
                Route("/c/{channel}", self.receive, methods=["GET", "HEAD", "POST", "PUT"]),
                Route("/c/{channel}/events", self.events, methods=["GET"]),
                Route("/c/{channel}/ack", self.acknowledge, methods=["POST"]),
            ],
            lifespan=self.lifespan,
            exception_handlers={404: _not_found},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.storage.open()
        try:
            async with in_background(self._prune_forever(), "hookd-relay-prune"):
                yield
        finally:
            await self.storage.close()

    def end_streams(self) -> None:
        """End every open event stream (call it in the server's loop when stopping), so
        that shutting down does not wait on subscribers, who reconnect on their own."""
        self.bell.close()

    async def _prune_forever(self) -> None:
        while True:
            try:
                deleted = await self.storage.prune(self.clock() - self.settings.retention)
            except StoreError as exc:
                log.error("could not prune old requests: %s", exc)
            else:
                if deleted:
                    log.info("pruned %d requests older than the retention window", deleted)
            await asyncio.sleep(self.settings.prune_every)

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def create_channel(self, request: Request) -> Response:
        admin = self.settings.admin_token
        if admin is not None:
            client, now = self._client(request), self.clock()
            held = self._held_back(client, now)
            if held is not None:
                return held
            token = _bearer(request)
            if not _token_is(token, admin):
                if token is not None:
                    self.guesses.fail(client, now)
                return error(
                    401,
                    "Creating a channel needs the relay's admin token: "
                    "Authorization: Bearer <admin token>.",
                    {"WWW-Authenticate": "Bearer"},
                )
        try:
            channel, token = await self.storage.create_channel(self.clock())
        except StoreError as exc:
            return error(503, f"The relay could not create the channel: {exc}")
        base = (self.settings.public_url or str(request.base_url)).rstrip("/")
        log.info("created channel %s…", channel[:8])
        return JSONResponse({"url": f"{base}/c/{channel}", "token": token}, status_code=201)

    async def receive(self, request: Request) -> Response:
        channel = request.path_params["channel"]
        usage = await self.storage.usage(channel) if CHANNEL_ID.fullmatch(channel) else None
        if usage is None:
            return await _not_found(request, None)
        if request.method != "POST":
            return error(
                405,
                "This URL takes webhook deliveries: send them with POST. "
                "Subscribers read its /events.",
                {"Allow": "POST"},
            )
        refused = self._admit(request, channel, usage)
        if refused is not None:
            return refused
        body = await read_capped(request, self.settings.max_body)
        size = self.settings.max_body if body is None else len(body)
        self.intake.spend(channel, size, self.clock())
        if body is None:
            return self._too_large()
        return await self._store(request, channel, body)

    def _admit(self, request: Request, channel: str, usage: Usage) -> Response | None:
        """The answer refusing a delivery before its body is read, or None to read it."""
        declared = content_length(request)
        if declared is not None and declared > self.settings.max_body:
            return self._too_large()
        size = declared or 0
        refusal = self.intake.admit(channel, size, self.clock())
        if refusal is None:
            quotas = self.settings.quotas
            if usage.channel + max(size, 1) > quotas.channel_storage:
                refusal = self._full("channel")
            elif usage.total + max(size, 1) > quotas.total_storage:
                refusal = self._full("total")
        if refusal is None:
            return None
        closing = {} if declared is not None and declared <= SMALL_BODY else CLOSE
        if refusal.retry_after is None:
            return error(507, refusal.sentence, closing)
        wait = retry_after_header(refusal.retry_after)
        return error(429, refusal.sentence, {"Retry-After": wait, **closing})

    def _full(self, scope: QuotaScope) -> Refusal:
        return storage_refusal(scope, self.settings.quotas, self.settings.retention)

    def _too_large(self) -> Response:
        return error(413, f"The body is larger than {self.settings.max_body} bytes.", CLOSE)

    async def _store(self, request: Request, channel: str, body: bytes) -> Response:
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)
        query = request.scope.get("query_string", b"").decode("latin-1")
        quotas = Usage(self.settings.quotas.channel_storage, self.settings.quotas.total_storage)
        try:
            seq = await self.storage.add_request(
                channel, request.method, query, headers, body, self.clock(), quotas
            )
        except StoreError as exc:
            log.error("could not store a request for channel %s…: %s", channel[:8], exc)
            return error(503, "The relay could not store the request; send it again.")
        if isinstance(seq, str):
            log.warning("channel %s…: refused a request, the %s storage is full", channel[:8], seq)
            return error(507, self._full(seq).sentence)
        self.bell.ring(channel)
        log.info("channel %s…: stored request %d (%d bytes)", channel[:8], seq, len(body))
        return JSONResponse({"status": "stored", "id": seq}, status_code=202)

    def _client(self, request: Request) -> str | None:
        """The client's address; behind a proxy on this machine, uvicorn has taken it from
        the proxy's X-Forwarded-For (its proxy headers, trusted from loopback)."""
        return request.client.host if request.client else None

    def _held_back(self, client: str | None, now: float) -> Response | None:
        """429 for a client that sent too many wrong tokens lately, else None."""
        wait = self.guesses.retry_after(client, now)
        if wait is None:
            return None
        seconds = retry_after_header(wait)
        return error(
            429,
            f"Too many wrong tokens came from your address; try again in {seconds} s.",
            {"Retry-After": seconds},
        )

    async def _subscriber_channel(self, request: Request) -> str | Response:
        """The channel named in the path if the request carries its token, else the answer
        refusing it (a wrong token counts against the client's address)."""
        channel: str = request.path_params["channel"]
        token = _bearer(request)
        valid = (
            token is not None
            and CHANNEL_ID.fullmatch(channel) is not None
            and await self.storage.authorized(channel, token)
        )
        # Held back or not is decided after the lookup, with no await until the failure is
        # counted: concurrent guesses from one address cannot all pass before any counts.
        client, now = self._client(request), self.clock()
        held = self._held_back(client, now)
        if held is not None:
            return held
        if valid:
            return channel
        if token is not None:
            self.guesses.fail(client, now)
        return error(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})

    async def events(self, request: Request) -> Response:
        channel = await self._subscriber_channel(request)
        if isinstance(channel, Response):
            return channel
        subscriber = request.query_params.get("subscriber") or "default"
        if len(subscriber) > MAX_SUBSCRIBER:
            return error(400, f"A subscriber name has at most {MAX_SUBSCRIBER} characters.")
        last = request.headers.get("last-event-id", "").strip()
        if last:
            resumed = parse_event_id(last)
            if resumed is None:
                return error(400, BAD_LAST_EVENT_ID)
            cursor = resumed
        else:
            cursor = await self.storage.acknowledged(channel, subscriber)
        log.info("channel %s…: %s subscribed after %d", channel[:8], subscriber, cursor)
        return event_stream(self._stream(channel, cursor), "no-store")

    async def _stream(self, channel: str, cursor: int) -> AsyncIterator[bytes]:
        yield json_event("ready", {"after": cursor})
        while not self.bell.closed:
            wake = self.bell.listen(channel)
            pending = await self.storage.requests_after(channel, cursor)
            for relayed in pending:
                yield encoded_event("delivery", encode_relayed(relayed), relayed.id)
                cursor = int(relayed.id)
            if not pending and not await self.bell.wait(wake, self.settings.keepalive):
                yield KEEPALIVE

    async def acknowledge(self, request: Request) -> Response:
        channel = await self._subscriber_channel(request)
        if isinstance(channel, Response):
            return channel
        body = await read_capped(request, MAX_ACK)
        if body is None:
            return error(413, f"An acknowledgement is at most {MAX_ACK} bytes of JSON.", CLOSE)
        parsed = _parse_ack(body)
        if isinstance(parsed, str):
            return error(400, parsed)
        seq, subscriber = parsed
        try:
            mark = await self.storage.acknowledge(channel, subscriber, seq, self.clock())
        except StoreError as exc:
            log.error("could not record an acknowledgement: %s", exc)
            return error(503, "The relay could not record the acknowledgement; send it again.")
        return JSONResponse({"acknowledged": mark, "subscriber": subscriber})


def _parse_ack(body: bytes) -> tuple[int, str] | str:
    """`(id, subscriber)` from an acknowledgement's JSON body, or the sentence saying why not."""
    try:
        content = orjson.loads(body)
    except orjson.JSONDecodeError:
        content = None
    if not isinstance(content, dict):
        content = {}
    seq, subscriber = content.get("id"), content.get("subscriber", "default")
    if not is_event_id(seq):
        return (
            'Expected JSON {"id": <event id>, "subscriber": "<name>"}, the event id a whole '
            f"number from 0 to {MAX_EVENT_ID}."
        )
    if not isinstance(subscriber, str) or not 0 < len(subscriber) <= MAX_SUBSCRIBER:
        return f"A subscriber name has 1 to {MAX_SUBSCRIBER} characters."
    return seq, subscriber


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _token_is(sent: str | None, expected: str) -> bool:
    """Whether `sent` is `expected`, in time that tells nothing of either (their digests
    are compared, so not even the length shows)."""
    presented = hashlib.sha256((sent or "").encode("utf-8", "surrogateescape")).digest()
    wanted = hashlib.sha256(expected.encode("utf-8", "surrogateescape")).digest()
    return hmac.compare_digest(presented, wanted) and sent is not None


async def _not_found(_request: Request, _exc: Exception | None) -> Response:
    """Unknown paths and channels get one sentence and no hint of which exist."""
    return error(404, "Not found.")
