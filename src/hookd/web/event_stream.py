"""Server-Sent Events (the WHATWG HTML standard's `text/event-stream`), as hookd writes
them: the job log stream of the API (`web.api_logs`) and the relay's channel stream
(`relay.server`).

Every event's data is one line of JSON, so any text or byte survives the line-based
format; `id:` is where a reconnecting EventSource resumes (`Last-Event-ID`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.responses import StreamingResponse

EVENT_STREAM = "text/event-stream"
KEEPALIVE = b": keep-alive\n\n"


def json_event(event: str, data: object, event_id: int | str | None = None) -> bytes:
    """One event named `event` whose data is `data` as JSON."""
    return encoded_event(event, orjson.dumps(data), event_id)


def encoded_event(event: str, data: bytes | str, event_id: int | str | None = None) -> bytes:
    """One event whose data is `data`, already one line of JSON."""
    line = data.encode() if isinstance(data, str) else data
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + line + b"\n\n"


def retry_after_ms(milliseconds: int) -> bytes:
    """The wait an EventSource makes before it reconnects."""
    return f"retry: {milliseconds}\n\n".encode()


def event_stream(events: AsyncIterator[bytes], cache_control: str) -> StreamingResponse:
    """The response that sends `events` as they come: never cached, never buffered by a
    proxy (nginx's `X-Accel-Buffering`)."""
    return StreamingResponse(
        events,
        media_type=EVENT_STREAM,
        headers={"Cache-Control": cache_control, "X-Accel-Buffering": "no"},
    )
