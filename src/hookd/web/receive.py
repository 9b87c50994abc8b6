"""The receiver: `POST <endpoint path>`. It streams the body under the size cap through the
signature check, verifies before parsing, and answers 2xx only after the store committed.

What anyone on the network can make it do without the secret is bounded: a rejected request
is counted in metrics, kept in a sample of the newest per endpoint (its claimed event and
delivery id cut short), and logged at most once a second per endpoint and reason; a client
over `server.reject_limit` rejected requests a minute gets 429 for the rest, neither stored
nor logged one by one. A request that verifies is accepted whatever its address sent before.
A body its endpoint accepted within `replay_window` is a duplicate, whatever delivery id it
comes with: the forges sign only the body."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from hookd.config import Config
from hookd.config.live import LiveConfig
from hookd.core.delivery import Body, Delivery, Headers, Rejection
from hookd.core.forges import begin_delivery, identify
from hookd.core.ratelimit import FailureLimiter, retry_after_header
from hookd.core.vocabulary import DeliveryStatus
from hookd.deliverylog import cut, log_delivery, rejection_log
from hookd.errors import StoreError
from hookd.intake import plan, untraced_reason
from hookd.store.base import Store
from hookd.store.records import Recorded, RejectedRequest, ReplayGuard
from hookd.web.body_budget import BodyBudget, Hold
from hookd.web.capped_body import declared_length
from hookd.web.clientip import client_address, is_allowed
from hookd.web.metrics import EventLabels, count_delivery, count_rejection, rejection_reason
from hookd.web.rejections import RejectionSample

log = logging.getLogger("hookd.receive")

_CUT_SHORT = Rejection(408, "The connection ended before the whole body arrived.")
BODY_LEFT_UNREAD = frozenset({408, 413, 503})
"""Answers given before the whole body was read: the connection closes rather than drain it."""


@dataclass(frozen=True, slots=True)
class _Request:
    path: str
    endpoint: str
    headers: Headers
    client: str | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The answer to a request, and what its log line says of it; `rejected` is the reason
    a rejected request is counted under (metrics.REJECTION_REASONS), `budget` the reason
    its log line shares a budget under (rejected requests, and replayed bodies)."""

    status: int
    content: dict[str, Any]
    event: str | None
    delivery_id: str | None
    reason: str | None = None
    rejected: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    budget: str | None = None


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
    """Answers deliveries for every endpoint path of the configuration in force. A request
    is decided wholly by the configuration it started under (`HookdApp` reads it once and
    passes it in): a reload meanwhile changes the next request, not this one. The request
    limits are the server's, fixed at start."""

    def __init__(self, live: LiveConfig, store: Store) -> None:
        config = live.config
        self.store = store
        self.max_body = config.server.max_body
        self.limiter = FailureLimiter(config.server.reject_limit, window=REJECT_WINDOW)
        self.rejection_log = rejection_log()
        self.sample = RejectionSample(store)
        self.event_labels = EventLabels(config)
        live.listen(self._reloaded)
        self.budget = BodyBudget(config.server.inflight_budget)
        self.retry_after = retry_after_header(config.server.body_timeout).encode()

    def _reloaded(self, _old: Config, new: Config) -> None:
        self.event_labels = EventLabels(new)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, config: Config) -> None:
        """Answer a request to one of `config`'s endpoint paths."""
        started = time.perf_counter()
        name = config.routes[scope["path"]]
        if scope["method"] != "POST":
            await send_json(
                send,
                405,
                {"error": "This URL takes webhook deliveries: send them with POST."},
                [(b"allow", b"POST")],
            )
            return
        headers = Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
        endpoint = config.endpoints[name]
        peer = scope.get("client")
        client = client_address(
            peer[0] if peer else None, _forwarded_for(headers), endpoint.trusted_proxies
        )
        request = _Request(path=scope["path"], endpoint=name, headers=headers, client=client)
        with self.budget.hold() as hold:
            outcome = await self._receive(config, request, receive, hold)
        status, content = outcome.status, outcome.content
        closing = [(b"connection", b"close")] if status in BODY_LEFT_UNREAD else []
        if status == 503:
            closing.append((b"retry-after", self.retry_after))
        await send_json(send, status, content, [*closing, *outcome.headers])
        self._report(name, outcome, started)

    def _report(self, name: str, outcome: _Outcome, started: float) -> None:
        """Log and count the answer to a request: a rejected one within the log's budget."""
        content = outcome.content
        if outcome.rejected is not None:
            count_rejection(name, outcome.rejected)
        if outcome.budget is None or self.rejection_log.admit((name, outcome.budget)):
            log_delivery(
                endpoint=name,
                event=outcome.event,
                delivery=outcome.delivery_id,
                id=content.get("id"),
                outcome=content.get("status", "rejected"),
                status=outcome.status,
                hooks=content.get("hooks", []),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                reason=outcome.reason,
            )
        event = self.event_labels.label(name, outcome.event)
        count_delivery(name, event, outcome.status, content.get("status"))

    async def _receive(
        self, config: Config, request: _Request, receive: Receive, hold: Hold
    ) -> _Outcome:
        endpoint = config.endpoints[request.endpoint]
        client = request.client
        if endpoint.allow_ips is not None and not is_allowed(client, endpoint.allow_ips):
            rejection = Rejection(403, f"Deliveries from {client} are not accepted here.")
            return await self._reject(config, request, rejection, 0)
        declared = declared_length(request.headers.get("content-length"))
        if declared is not None and declared > self.max_body:
            return await self._reject(config, request, self._too_large(), declared)
        if not hold.admits(declared or 0):
            return await self._reject(config, request, self._busy(), declared or 0)
        reception = begin_delivery(config.specs[request.endpoint], request.headers, time.time())
        if isinstance(reception, Rejection):
            return await self._reject(config, request, reception, declared or 0)
        digest = hashlib.sha256() if endpoint.replay_window else None
        update = reception.update if digest is None else _both(reception.update, digest.update)
        received = await self._read_body(receive, update, hold)
        if received.refusal is not None:
            return await self._reject(config, request, received.refusal, received.size)
        result = reception.finish(received.body)
        if isinstance(result, Rejection):
            return await self._reject(config, request, result, received.size)
        guard = None
        if digest is not None and not result.is_ping:  # a ping runs nothing: no need
            guard = ReplayGuard(digest.digest(), timedelta(seconds=endpoint.replay_window))
        return await self._accept(config, result, client, guard)

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

    async def _accept(
        self, config: Config, delivery: Delivery, client: str | None, guard: ReplayGuard | None
    ) -> _Outcome:
        decided = plan(config, delivery)
        try:
            recorded = await self.store.record_delivery(
                delivery,
                received_at=datetime.now(UTC),
                remote_addr=client,
                trace=decided.trace,
                jobs=decided.jobs,
                guard=guard,
                config=config.version or None,
            )
        except StoreError as exc:
            log.error("could not record delivery %s: %s", delivery.delivery_id, exc)
            content: dict[str, Any] = {
                "error": "hookd could not store this delivery; please redeliver it."
            }
            return _Outcome(503, content, delivery.event, delivery.delivery_id, str(exc))
        if recorded.status == DeliveryStatus.DUPLICATE:
            # A captured body sent again and again costs no row and a log line a second.
            budget = "replayed" if recorded.same_body else None
            content = _duplicate(recorded)
            return _Outcome(200, content, delivery.event, delivery.delivery_id, budget=budget)
        if delivery.is_ping:
            content = {"status": "pong", "id": recorded.id, "delivery": delivery.delivery_id}
            return _Outcome(200, content, delivery.event, delivery.delivery_id)
        answer: dict[str, Any] = {
            "delivery": delivery.delivery_id,
            "id": recorded.id,
            "event": delivery.event,
            "hooks": list(recorded.hooks),
            "status": "queued",
        }
        if not recorded.hooks:  # recorded, and nothing to run: say so, and why
            answer["status"] = "unmatched"
            answer["reason"] = _unmatched(config, delivery, recorded.id, len(decided.trace))
        return _Outcome(202, answer, delivery.event, delivery.delivery_id)

    async def _reject(
        self, config: Config, request: _Request, rejection: Rejection, size: int
    ) -> _Outcome:
        """Answer a request that is no delivery: record a sample of it, or, for a client
        over the reject limit, answer 429 and record nothing (its failure still counts)."""
        identity = identify(config.specs[request.endpoint], request.headers)
        event, delivery = cut(identity.event), cut(identity.delivery_id)
        # A 503 says hookd is busy, not that the client failed: it is never held against it.
        if rejection.status != 503:
            now = time.monotonic()
            wait = self.limiter.retry_after(request.client, now)
            self.limiter.fail(request.client, now)
            if wait is not None:
                return self._held_back(rejection, event, delivery, wait)
        record = RejectedRequest(
            endpoint=request.endpoint,
            path=request.path,
            status=rejection.status,
            reason=rejection.reason,
            remote_addr=request.client,
            size=size,
            received_at=datetime.now(UTC),
            event=event,
            delivery=delivery,
        )
        await self.sample.add(record)
        return _Outcome(
            rejection.status,
            {"error": rejection.reason},
            event,
            delivery,
            rejection.reason,
            rejected=rejection_reason(rejection.status),
            budget=rejection_reason(rejection.status),
        )

    def _held_back(
        self, rejection: Rejection, event: str | None, delivery: str | None, wait: float
    ) -> _Outcome:
        """The 429 for a client over the reject limit, for a request rejected as `rejection`."""
        retry = (b"retry-after", retry_after_header(wait).encode())
        closing = ((b"connection", b"close"),) if rejection.status in BODY_LEFT_UNREAD else ()
        limited = (
            f"This address sent {self.limiter.limit} rejected requests within "
            f"{REJECT_WINDOW:g}s: hookd answers its further rejected requests 429 and keeps no "
            "record of them (a delivery that verifies is still accepted)."
        )
        return _Outcome(
            429,
            {"error": f"{rejection.reason} {limited}"},
            event,
            delivery,
            rejection.reason,
            rejected=rejection_reason(429),
            headers=(retry, *closing),
            budget=rejection_reason(429),
        )


def _unmatched(config: Config, delivery: Delivery, recorded: str, considered: int) -> str:
    """Why a delivery runs no hook, for its answer (`hookd show` gives each hook's reason)."""
    if not considered:
        return untraced_reason(config, delivery.endpoint, delivery.event, DeliveryStatus.ACCEPTED)
    if considered == 1:
        which = f"the one hook of endpoint {delivery.endpoint!r} does not run"
    else:
        which = f"none of the {considered} hooks of endpoint {delivery.endpoint!r} runs"
    return f"{which} on this delivery; `hookd show {recorded}` says why"


def _duplicate(recorded: Recorded) -> dict[str, Any]:
    """The answer to a duplicate: the first delivery's ids, and why when it was its body."""
    content: dict[str, Any] = {
        "status": "duplicate",
        "id": recorded.id,
        "delivery": recorded.delivery,
    }
    if recorded.same_body:
        content["reason"] = (
            f"This endpoint accepted the same body as delivery {recorded.delivery} "
            f"({recorded.id}) within its replay window; nothing runs again."
        )
    return content


REJECT_WINDOW = 60.0
"""The window `server.reject_limit` counts a client's rejected requests in, in seconds."""


def _both(
    first: Callable[[bytes], None], second: Callable[[bytes], None]
) -> Callable[[bytes], None]:
    """One callable feeding each chunk of the body to both."""

    def update(chunk: bytes) -> None:
        first(chunk)
        second(chunk)

    return update


def _forwarded_for(headers: Headers) -> str | None:
    """Every X-Forwarded-For line, in order, as one list: a proxy may add its own line
    after one the client sent (RFC 9110 5.3), and the rightmost hops are the trusted ones."""
    hops = [value for name, value in headers.items_raw() if name.lower() == "x-forwarded-for"]
    return ", ".join(hops) if hops else None
