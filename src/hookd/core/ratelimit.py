"""Counting a client's failures in a sliding window, to slow a client that keeps failing
(wrong secret, guessed token) without ever slowing a request that succeeds.

Sans-I/O: the caller passes the time. Memory is bounded twice: each client keeps at most
`limit` timestamps, and at most `max_clients` clients are kept (the least recently seen is
forgotten first, so a flood of new addresses can at worst reset old counts, never grow memory).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque


class FailureLimiter:
    """`limit` failures within `window` seconds make a client wait until the oldest of them
    is `window` old. `limit` 0 turns the limiter off."""

    __slots__ = ("_clients", "limit", "max_clients", "window")

    def __init__(self, limit: int, window: float = 60.0, max_clients: int = 10_000) -> None:
        if limit < 0 or window <= 0 or max_clients <= 0:
            raise ValueError("limit must be >= 0, window and max_clients > 0")
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str | None, now: float) -> float | None:
        """Seconds until `client` may fail again, or None when it is not held back."""
        if not self.limit or client is None:
            return None
        failures = self._clients.get(client_key(client))
        if failures is None or len(failures) < self.limit:
            return None
        wait = failures[0] + self.window - now
        return wait if wait > 0 else None

    def fail(self, client: str | None, now: float) -> None:
        """Count one failure of `client` at `now`."""
        if not self.limit or client is None:
            return
        key = client_key(client)
        failures = self._clients.get(key)
        if failures is None:
            failures = deque(maxlen=self.limit)
            self._clients[key] = failures
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        failures.append(now)

    def __len__(self) -> int:
        return len(self._clients)


def client_key(address: str) -> str:
    """The unit a client is counted in: an IPv4 address, or the /64 an IPv6 address is in
    (one host is routinely given a whole /64, so counting single IPv6 addresses would let it
    change address at every try)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


def retry_after_header(seconds: float) -> str:
    """A `Retry-After` value (RFC 9110 10.2.3: whole seconds), never 0 for a real wait."""
    return str(max(1, int(seconds + 0.999)))
