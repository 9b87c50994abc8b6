"""The receiver: `POST <endpoint path>`. It streams the body under the size cap through the
signature check, verifies before parsing, and answers 2xx only after the store committed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from hookd.config import Config
from hookd.core.delivery import Body, Delivery, Headers, Rejection
from hookd.core.forges import begin_delivery, identify
from hookd.core.ratelimit import retry_after_header
from hookd.deliverylog import log_delivery
from hookd.errors import StoreError
from hookd.intake import plan
from hookd.store.base import Store
from hookd.store.records import RejectedRequest
from hookd.web.body_budget import BodyBudget, Hold
from hookd.web.clientip import client_address, is_allowed
from hookd.web.metrics import count_delivery

log = logging.getLogger("hookd.receive")

_CUT_SHORT = Rejection(408, "The connection ended before the whole body arrived.")


@dataclass(frozen=True, slots=True)
class _Request:
    path: str
    endpoint: str
    headers: Headers
    client: str | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The answer to a request, and what its log line says of it."""

    status: int
    content: dict[str, Any]
    event: str | None
    delivery_id: str | None
    reason: str | None = None


class Received:
    """A request's body, read up to the cap; `refusal` when it was not read whole."""

    __slots__ = ("body", "refusal", "size")

    def __init__(self, body: Body, size: int, refusal: Rejection | None = None) -> None:
        self.body, self.size, self.refusal = body, size, refusal


async def send_json(
    send: Send,
    status: int,
    content: dict[str, Any],
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
) -> None:
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Receiver:
    """An ASGI app answering deliveries for every endpoint path of the config."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.max_body = config.server.max_body
        self.budget = BodyBudget(config.server.inflight_budget)
        self.retry_after = retry_after_header(config.server.body_timeout).encode()

    def handles(self, path: str) -> bool:
        return path in self.config.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        name = self.config.routes[scope["path"]]
        if scope["method"] != "POST":
            await send_json(
                send,
                405,
                {"error": "This URL takes webhook deliveries: send them with POST."},
                [(b"allow", b"POST")],
            )
            return
        headers = Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
        endpoint = self.config.endpoints[name]
        peer = scope.get("client")
        client = client_address(
            peer[0] if peer else None, _forwarded_for(headers), endpoint.trusted_proxies
        )
        request = _Request(path=scope["path"], endpoint=name, headers=headers, client=client)
        with self.budget.hold() as hold:
            outcome = await self._receive(request, receive, hold)
        status, content = outcome.status, outcome.content
        # After a 408, 413 or 503 the rest of the body may be unread: close, not drain it.
        closing = [(b"connection", b"close")] if status in (408, 413, 503) else []
        if status == 503:
            closing.append((b"retry-after", self.retry_after))
        await send_json(send, status, content, closing)
        log_delivery(
            endpoint=name,
            event=outcome.event,
            delivery=outcome.delivery_id,
            id=content.get("id"),
            outcome=content.get("status", "rejected"),
            status=status,
            hooks=content.get("hooks", []),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            reason=outcome.reason,
        )
        count_delivery(name, outcome.event, status, content.get("status"))

    async def _receive(self, request: _Request, receive: Receive, hold: Hold) -> _Outcome:
        endpoint = self.config.endpoints[request.endpoint]
        client = request.client
        if endpoint.allow_ips is not None and not is_allowed(client, endpoint.allow_ips):
            rejection = Rejection(403, f"Deliveries from {client} are not accepted here.")
            return await self._reject(request, rejection, 0)
        declared = _content_length(request.headers)
        if declared is not None and declared > self.max_body:
            return await self._reject(request, self._too_large(), declared)
        if not hold.admits(declared or 0):
            return await self._reject(request, self._busy(), declared or 0)
        reception = begin_delivery(self.config.specs[request.endpoint], request.headers)
        if isinstance(reception, Rejection):
            return await self._reject(request, reception, declared or 0)
        received = await self._read_body(receive, reception.update, hold)
        if received.refusal is not None:
            return await self._reject(request, received.refusal, received.size)
        result = reception.finish(received.body)
        if isinstance(result, Rejection):
            return await self._reject(request, result, received.size)
        return await self._accept(result, client)

    def _too_large(self) -> Rejection:
        return Rejection(
            413, f"The body is larger than this endpoint's limit of {self.max_body} bytes."
        )

    def _busy(self) -> Rejection:
        return Rejection(
            503, "hookd is holding as many request bodies as it may; please retry shortly."
        )

    async def _read_body(
        self, receive: Receive, update: Callable[[bytes], None], hold: Hold
    ) -> Received:
        """Read the body up to the cap, holding no more than has arrived: each chunk is
        counted in the server's budget before it is kept, whatever Content-Length claimed.
        A body in one chunk is kept as it came; a longer one grows one buffer (glibc grows a
        large block in place with mremap: no copy, no second body in memory)."""
        message = await receive()
        if message["type"] == "http.disconnect":
            return Received(b"", 0, _CUT_SHORT)
        chunk = message.get("body", b"")
        if not message.get("more_body", False):
            if len(chunk) > self.max_body:
                return Received(b"", len(chunk), self._too_large())
            if not hold.grow(len(chunk)):
                return Received(b"", len(chunk), self._busy())
            update(chunk)
            return Received(chunk, len(chunk))
        buffer = bytearray()
        while True:
            if len(buffer) + len(chunk) > self.max_body:
                return Received(b"", len(buffer) + len(chunk), self._too_large())
            if not hold.grow(len(chunk)):
                return Received(b"", len(buffer) + len(chunk), self._busy())
            update(chunk)
            buffer += chunk
            if not message.get("more_body", False):
                return Received(buffer, len(buffer))
            message = await receive()
            if message["type"] == "http.disconnect":
                return Received(b"", len(buffer), _CUT_SHORT)
            chunk = message.get("body", b"")

    async def _accept(self, delivery: Delivery, client: str | None) -> _Outcome:
        decided = plan(self.config, delivery)
        try:
            recorded = await self.store.record_delivery(
                delivery,
                received_at=datetime.now(UTC),
                remote_addr=client,
                trace=decided.trace,
                jobs=decided.jobs,
            )
        except StoreError as exc:
            log.error("could not record delivery %s: %s", delivery.delivery_id, exc)
            content: dict[str, Any] = {
                "error": "hookd could not store this delivery; please redeliver it."
            }
            return _Outcome(503, content, delivery.event, delivery.delivery_id, str(exc))
        if recorded.status == "duplicate":
            content = {"status": "duplicate", "id": recorded.id, "delivery": delivery.delivery_id}
            return _Outcome(200, content, delivery.event, delivery.delivery_id)
        if delivery.is_ping:
            content = {"status": "pong", "id": recorded.id, "delivery": delivery.delivery_id}
            return _Outcome(200, content, delivery.event, delivery.delivery_id)
        return _Outcome(
            202,
            {
                "delivery": delivery.delivery_id,
                "id": recorded.id,
                "event": delivery.event,
                "hooks": list(recorded.hooks),
                "status": "queued",
            },
            delivery.event,
            delivery.delivery_id,
        )

    async def _reject(self, request: _Request, rejection: Rejection, size: int) -> _Outcome:
        identity = identify(self.config.specs[request.endpoint], request.headers)
        record = RejectedRequest(
            endpoint=request.endpoint,
            path=request.path,
            status=rejection.status,
            reason=rejection.reason,
            remote_addr=request.client,
            size=size,
            received_at=datetime.now(UTC),
            event=identity.event,
            delivery=identity.delivery_id,
        )
        try:
            await self.store.record_rejection(record)
        except StoreError as exc:
            log.error("could not record a rejected request: %s", exc)
        return _Outcome(
            rejection.status,
            {"error": rejection.reason},
            identity.event,
            identity.delivery_id,
            rejection.reason,
        )


def _forwarded_for(headers: Headers) -> str | None:
    """Every X-Forwarded-For line, in order, as one list: a proxy may add its own line
    after one the client sent (RFC 9110 5.3), and the rightmost hops are the trusted ones."""
    hops = [value for name, value in headers.items_raw() if name.lower() == "x-forwarded-for"]
    return ", ".join(hops) if hops else None


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)
