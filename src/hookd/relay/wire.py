"""One relayed request as it travels from the relay to a forwarder: the SSE event's data.

The body goes base64-encoded so its bytes arrive exactly as the forge sent them; headers
are a list of pairs, in order, repeats kept.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import orjson

from hookd.relay import RelayError

Pairs = tuple[tuple[str, str], ...]

# The largest event id: the largest integer every JSON reader (JavaScript's too) holds
# exactly, far below SQLite's 2**63 - 1.
MAX_EVENT_ID = 2**53 - 1
_EVENT_ID = re.compile(r"[0-9]{1,16}", re.ASCII)


def parse_event_id(text: str) -> int | None:
    """The event id `text` names (`Last-Event-ID`), or None unless it is a whole number
    from 0 to MAX_EVENT_ID in plain ASCII digits."""
    if not _EVENT_ID.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_EVENT_ID else None


def is_event_id(value: object) -> TypeGuard[int]:
    """Whether a JSON value is an event id: an integer from 0 to MAX_EVENT_ID."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_EVENT_ID


@dataclass(frozen=True)
class Relayed:
    """A request the forge sent to a channel. `id` is the relay's sequence number (a string,
    as SSE carries it; empty where the source has none, as on smee.io)."""

    id: str
    method: str
    headers: Pairs
    body: bytes = field(repr=False)
    query: str = ""
    received_at: float | None = None

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def encode_relayed(relayed: Relayed) -> str:
    """The event data for `relayed`: one line of JSON."""
    return orjson.dumps(
        {
            "id": int(relayed.id),
            "method": relayed.method,
            "query": relayed.query,
            "headers": [list(pair) for pair in relayed.headers],
            "body": base64.b64encode(relayed.body).decode("ascii"),
            "received_at": relayed.received_at,
        }
    ).decode("utf-8")


def decode_relayed(data: str) -> Relayed:
    """The request carried by a relay event. Raises RelayError for data that is not one."""
    try:
        content: Any = orjson.loads(data)
        headers = tuple((str(name), str(value)) for name, value in content["headers"])
        return Relayed(
            id=str(int(content["id"])),
            method=str(content["method"]),
            headers=headers,
            body=base64.b64decode(content["body"], validate=True),
            query=str(content.get("query") or ""),
            received_at=content.get("received_at"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise RelayError(f"the relay sent an event that is not a request: {exc}") from exc
