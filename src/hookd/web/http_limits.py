"""The HTTP edge: what one connection may make the server hold, and for how long.

uvicorn's httptools protocol sets no limit on a request's head (a 200 MB header or 50,000
header fields are buffered whole) and no deadline on a connection that has not finished its
head (a connection sending a byte a second stays open forever). `LimitedHttpProtocol` adds
them where the bytes arrive, before httptools buffers anything: the head (request line and
header fields) at most `max_header_bytes` and `MAX_HEADER_FIELDS` fields (431), the head
within `header_timeout` and no gap in a body over `body_timeout` (408), and at most
`max_connections` open connections (the excess 503). Each refusal is a status and a JSON
sentence, and the connection is closed after it.

`uvicorn_config` builds the server configuration `hookd serve` and `hookd relay` both run.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from hookd.config.model import ServerSettings
from hookd.deliverylog import LogBudget

log = logging.getLogger("hookd.http")

MAX_HEADER_FIELDS = 100
# After a refusal the rest of the request is read and dropped for this long before the
# connection is closed: closing a socket with unread data sends a reset, which can destroy
# the answer before the client reads it.
LINGER_SECONDS = 1.0
# Open files kept free of connections: the database, log files, the listener, each job's
# pipes (FILES_PER_WORKER per worker), and the connections refused past the limit, each
# open until its first bytes are read.
FILES_RESERVED = 128
FILES_PER_WORKER = 8
DEFAULT_MAX_CONNECTIONS = 1000


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The edge's limits; `max_connections` is the effective figure (see `connection_limit`)."""

    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @classmethod
    def from_settings(cls, server: ServerSettings, max_connections: int) -> HttpLimits:
        return cls(
            max_header_bytes=server.max_header_bytes,
            header_timeout=server.header_timeout,
            body_timeout=server.body_timeout,
            keepalive_timeout=server.keepalive_timeout,
            max_connections=max_connections,
        )


class LimitedConfig(uvicorn.Config):
    """uvicorn's configuration, carrying the limits to each connection's protocol."""

    def __init__(self, app: Any, limits: HttpLimits, **options: Any) -> None:
        super().__init__(app, **options)
        self.limits = limits


def uvicorn_config(
    app: Any, limits: HttpLimits, *, graceful_shutdown: int, proxy_headers: bool = False
) -> LimitedConfig:
    """The configuration of a hookd HTTP server for `app`: uvloop, httptools behind
    `LimitedHttpProtocol`, no access log, no WebSockets. `proxy_headers` lets uvicorn take
    the client's address from a loopback proxy's X-Forwarded-For."""
    return LimitedConfig(
        app,
        limits,
        loop="uvloop",
        http=LimitedHttpProtocol,
        ws="none",
        lifespan="on",
        access_log=False,
        proxy_headers=proxy_headers,
        log_level="warning",
        timeout_keep_alive=max(1, math.ceil(limits.keepalive_timeout)),
        timeout_graceful_shutdown=graceful_shutdown,
    )


def connection_limit(configured: int, *, workers: int) -> int:
    """Raise this process's soft open-file limit to its hard limit, and return how many
    connections fit under it with room for everything else: `configured`, or fewer (logged)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
    if soft == resource.RLIM_INFINITY:
        log.info("no open-file limit: serving at most %d connections", configured)
        return configured
    room = soft - FILES_RESERVED - FILES_PER_WORKER * workers
    effective = max(1, min(configured, room))
    if effective < configured:
        log.warning(
            "open-file limit %d: serving at most %d connections, not server.max_connections "
            "%d (raise LimitNOFILE or ulimit -n)",
            soft,
            effective,
            configured,
        )
    else:
        log.info("open-file limit %d: serving at most %d connections", soft, effective)
    return effective


def _log_count(verb: str, count: int, kind: str) -> None:
    log.warning("%s %d request%s: %s", verb, count, "" if count == 1 else "s", kind)


# Refusals logged at most once a second per kind, each line with how many it stands for: a
# flood of refusals must not become a flood of log lines, nor go uncounted.
_notes: LogBudget[tuple[str, str]] = LogBudget(lambda key, count: _log_count(key[0], count, key[1]))


def _note(kind: str, verb: str = "refused") -> None:
    if _notes.admit((verb, kind)):
        _log_count(verb, 1, kind)


def refusal(status: int, sentence: str) -> bytes:
    """A whole HTTP response: `status`, `{"error": sentence}`, and `Connection: close`."""
    body = orjson.dumps({"error": sentence})
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n"
    ).encode()
    return head + b"\r\n" + body


_REASONS = {
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with hookd's limits (see the module's docstring).

    A request's head is counted from the first byte after the previous request's end, and
    httptools is fed at most the bytes the head may still take, so it never buffers more
    than `max_header_bytes`. One timer per connection: the head's deadline while a head is
    arriving, then the body's gap deadline while a body is, else none."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, LimitedConfig)
        self.limits = config.limits
        self._in_head = True
        self._head_bytes = 0
        self._too_many = False
        self._refused = False
        self._close_on_data = False
        self._timer: asyncio.TimerHandle | None = None
        self._last_body = 0.0
        self._answers = _AnswerTransport(self)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        if over:
            # Closed as soon as the request's first bytes are read (and dropped): its file
            # is needed back, and closing with unread data would reset the connection.
            self._close_on_data = True
            self._refuse(503, "This server has too many open connections; please retry.")
        else:
            self._arm(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:  # lingering after a refusal: the rest of the request is dropped
            if self._close_on_data:
                self.transport.close()
            return
        while data:
            if self._in_head:
                room = self.limits.max_header_bytes - self._head_bytes
                piece, data = data[:room], data[room:]
                self._head_bytes += len(piece)
            else:
                piece, data = data, b""
            super().data_received(piece)
            if self._refused or self.transport.is_closing():
                return
            if self._too_many:
                self._refuse(431, f"The request has more than {MAX_HEADER_FIELDS} header fields.")
                return
            if self._in_head and self._head_bytes >= self.limits.max_header_bytes:
                limit = self.limits.max_header_bytes
                self._refuse(431, f"The request's headers are larger than {limit} bytes.")
                return
        self._time_what_is_unfinished()

    def _time_what_is_unfinished(self) -> None:
        """Arm the deadline of a head or body this read left unfinished, if none runs: a
        request read whole in one go costs no timer. A head behind a request still being
        answered waits for that answer (uvicorn's keep-alive timer follows it)."""
        if self._timer is not None:
            return
        if not self._in_head:
            self._last_body = self.loop.time()
            self._arm(self.limits.body_timeout, self._body_timed_out)
        elif self._head_bytes and (self.cycle is None or self.cycle.response_complete):
            self._arm(self.limits.header_timeout, self._head_timed_out)

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's on_header, inline (it runs for every field of every request).
        if len(self.headers) >= MAX_HEADER_FIELDS:
            self._too_many = True  # refused once the parser returns
            return
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        if self._too_many:
            return  # the application never sees this request
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.transport = self._answers

    def on_body(self, body: bytes) -> None:
        self._last_body = self.loop.time()
        if not self._too_many:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes = True, 0
        if not self._too_many:
            super().on_message_complete()

    def _unsupported_upgrade_warning(self) -> None:
        # hookd serves no WebSocket: an Upgrade header is ignored and the request answered
        # as plain HTTP, and noted once a second at most (uvicorn warns twice per request).
        _note("an Upgrade header, ignored", verb="saw")

    def _head_timed_out(self) -> None:
        self._timer = None
        timeout = self.limits.header_timeout
        self._refuse(408, f"The request's headers did not arrive within {timeout:g} seconds.")

    def _body_timed_out(self) -> None:
        self._timer = None
        now = self.loop.time()
        if self.flow.read_paused:
            self._last_body = now  # hookd stopped reading: not the client's gap
        waited = now - self._last_body
        if waited < self.limits.body_timeout:
            self._arm(self.limits.body_timeout - waited, self._body_timed_out)
            return
        timeout = self.limits.body_timeout
        self._refuse(408, f"The body stopped arriving for more than {timeout:g} seconds.")

    def close_after_answer(self) -> None:
        """Close once an answer is written: at once when the request was read whole, else
        after lingering (an early 413 or 503 must reach the client, not a reset)."""
        if self._in_head or self._refused:
            self.transport.close()
            return
        self._refused = True
        self._linger()

    def _refuse(self, status: int, sentence: str) -> None:
        """Answer `status` with `sentence` and close, after LINGER_SECONDS of dropping what
        the client still sends. A request the application is reading sees a disconnect."""
        self._refused = True
        self._disarm()
        _note(f"{status} {sentence}")
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:
                self.transport.close()  # an answer is under way: no second one
                return
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.write(refusal(status, sentence))
        self._linger()

    def _linger(self) -> None:
        self._disarm()
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(LINGER_SECONDS, self.transport.close)

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _AnswerTransport(asyncio.Transport):
    """The transport as a request's cycle sees it: what uvicorn closes after an answer with
    `Connection: close` closes through `close_after_answer`."""

    def __init__(self, protocol: LimitedHttpProtocol) -> None:
        super().__init__()
        self._protocol = protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._protocol.transport.write(data)

    def is_closing(self) -> bool:
        return self._protocol.transport.is_closing()

    def close(self) -> None:
        self._protocol.close_after_answer()
