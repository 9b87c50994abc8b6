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

A wrong token and an unknown channel get the same 401: a stranger learns nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hookd.errors import StoreError
from hookd.relay.storage import RelayStorage
from hookd.relay.wire import encode_relayed

log = logging.getLogger("hookd.relay")

CHANNEL_ID = re.compile(r"[0-9a-f]{32}")
MAX_SUBSCRIBER = 200


@dataclass(frozen=True)
class RelaySettings:
    """How the relay behaves. `public_url` is the base of channel URLs (default: the URL
    the channel was created through); `keepalive` is the seconds between SSE comments."""

    max_body: int = 25 * 1024 * 1024
    retention: float = 72 * 3600.0
    admin_token: str | None = field(default=None, repr=False)
    public_url: str | None = None
    keepalive: float = 15.0

    @property
    def prune_every(self) -> float:
        return min(60.0, max(0.5, self.retention / 4))


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


def error(status: int, sentence: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": sentence}, status_code=status, headers=headers)


UNAUTHORIZED = "This channel's events need its subscriber token: Authorization: Bearer <token>."


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
        pruning = asyncio.create_task(self._prune_forever(), name="hookd-relay-prune")
        try:
            yield
        finally:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
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
        if admin is not None and not _token_is(_bearer(request), admin):
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
        if not CHANNEL_ID.fullmatch(channel) or not await self.storage.channel_exists(channel):
            return await _not_found(request, None)
        if request.method != "POST":
            return error(
                405,
                "This URL takes webhook deliveries: send them with POST. "
                "Subscribers read its /events.",
                {"Allow": "POST"},
            )
        body = await _read_capped(request, self.settings.max_body)
        if body is None:
            return error(413, f"The body is larger than {self.settings.max_body} bytes.")
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)
        query = request.scope.get("query_string", b"").decode("latin-1")
        try:
            seq = await self.storage.add_request(
                channel, request.method, query, headers, body, self.clock()
            )
        except StoreError as exc:
            log.error("could not store a request for channel %s…: %s", channel[:8], exc)
            return error(503, "The relay could not store the request; send it again.")
        self.bell.ring(channel)
        log.info("channel %s…: stored request %d (%d bytes)", channel[:8], seq, len(body))
        return JSONResponse({"status": "stored", "id": seq}, status_code=202)

    async def _subscriber_channel(self, request: Request) -> str | None:
        """The channel named in the path if the request carries its token, else None."""
        channel: str = request.path_params["channel"]
        token = _bearer(request)
        if token is None or not CHANNEL_ID.fullmatch(channel):
            return None
        return channel if await self.storage.authorized(channel, token) else None

    async def events(self, request: Request) -> Response:
        channel = await self._subscriber_channel(request)
        if channel is None:
            return error(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
        subscriber = request.query_params.get("subscriber") or "default"
        if len(subscriber) > MAX_SUBSCRIBER:
            return error(400, f"A subscriber name has at most {MAX_SUBSCRIBER} characters.")
        last = request.headers.get("last-event-id", "").strip()
        cursor = (
            int(last) if last.isdigit() else await self.storage.acknowledged(channel, subscriber)
        )
        log.info("channel %s…: %s subscribed after %d", channel[:8], subscriber, cursor)
        return StreamingResponse(
            self._stream(channel, cursor),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, channel: str, cursor: int) -> AsyncIterator[str]:
        ready = orjson.dumps({"after": cursor}).decode()
        yield f"event: ready\ndata: {ready}\n\n"
        while not self.bell.closed:
            wake = self.bell.listen(channel)
            pending = await self.storage.requests_after(channel, cursor)
            for relayed in pending:
                yield f"id: {relayed.id}\nevent: delivery\ndata: {encode_relayed(relayed)}\n\n"
                cursor = int(relayed.id)
            if not pending and not await self.bell.wait(wake, self.settings.keepalive):
                yield ": keepalive\n\n"

    async def acknowledge(self, request: Request) -> Response:
        channel = await self._subscriber_channel(request)
        if channel is None:
            return error(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
        parsed = _parse_ack(await request.body())
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
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return 'Expected JSON {"id": <event id>, "subscriber": "<name>"}.'
    if not isinstance(subscriber, str) or not 0 < len(subscriber) <= MAX_SUBSCRIBER:
        return f"A subscriber name has 1 to {MAX_SUBSCRIBER} characters."
    return seq, subscriber


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _token_is(sent: str | None, expected: str) -> bool:
    presented = (sent or "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(presented, expected.encode("utf-8", "surrogateescape"))


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The request's body, or None as soon as it is larger than `cap` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _not_found(_request: Request, _exc: Exception | None) -> Response:
    """Unknown paths and channels get one sentence and no hint of which exist."""
    return error(404, "Not found.")
