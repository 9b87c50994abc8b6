"""smee.io channels as a source for `hookd forward`.

smee.io's server (probot/smee.io, lib/server.js) turns each POST to a channel into one
server-sent event whose data is a JSON object: the request's headers as top-level keys
(lower-case, as Node gives them), plus `body` (the body parsed by Express's JSON or
urlencoded parser), `query` (the parsed query string) and `timestamp` (milliseconds). It
also sends `ready` and `ping` events with `{}`. smee-client (probot/smee-client, index.ts)
posts `body` back out with superagent: JSON re-serialized with `JSON.stringify`, a form
re-encoded, the headers set from the other keys, `host` dropped, the query merged into
the target's. `parse_smee` rebuilds that same request.

smee.io keeps nothing and has no tokens: a delivery sent while no client listens is lost,
and anyone who knows a channel's URL can read it. Re-serialization changes the bytes, so
a forge's signature usually fails at hookd; `hookd forward --resign` is the way around.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from httpx_sse import ServerSentEvent

from hookd.relay import RelayError
from hookd.relay.wire import Relayed

_NOT_HEADERS = frozenset({"body", "query", "timestamp"})
FORM = "application/x-www-form-urlencoded"


def is_smee_url(url: str) -> bool:
    """Whether `url` is a channel on smee.io itself."""
    host = urlsplit(url).hostname or ""
    return host == "smee.io" or host.endswith(".smee.io")


@dataclass(frozen=True)
class SmeeChannel:
    """A smee.io channel (or a self-hosted smee server's): subscribe to `url` itself."""

    url: str
    label: str = "smee.io channel"
    reserializes: bool = True

    def subscription(self, last_id: str | None) -> tuple[str, dict[str, str]]:
        # smee keeps no history, so there is nothing to resume from.
        return self.url, {}

    def parse(self, event: ServerSentEvent) -> Relayed | None:
        return parse_smee(event.data, event.id) if event.event == "message" else None

    async def acknowledge(self, client: httpx.AsyncClient, relayed: Relayed) -> None:
        """smee has no acknowledgements: what it sent is gone from it already."""


def parse_smee(data: str, event_id: str = "") -> Relayed:
    """The request smee-client would send for one smee event's `data`.
    Raises RelayError for data that is not a smee delivery."""
    try:
        content = json.loads(data)
    except json.JSONDecodeError as exc:
        raise RelayError(f"the smee.io channel sent an event that is not JSON: {exc}") from exc
    if not isinstance(content, dict):
        raise RelayError("the smee.io channel sent an event that is not a JSON object")
    headers = tuple(
        (name, _header_value(value))
        for name, value in content.items()
        if name not in _NOT_HEADERS and value is not None
    )
    content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
    query = content.get("query")
    timestamp = content.get("timestamp")
    return Relayed(
        id=event_id or str(timestamp or ""),
        method="POST",
        headers=headers,
        body=smee_body(content.get("body"), content_type),
        query=urlencode(query, doseq=True) if isinstance(query, dict) else "",
        received_at=timestamp / 1000 if isinstance(timestamp, int | float) else None,
    )


def smee_body(body: Any, content_type: str) -> bytes:
    """`body` serialized as superagent serializes it for `content_type`: a form's fields
    URL-encoded, anything else as compact JSON (JSON.stringify), a string as it is."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == FORM and isinstance(body, dict):
        return urlencode(body, doseq=True).encode("ascii")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _header_value(value: Any) -> str:
    # Node gives a repeated header (set-cookie) as a list.
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
