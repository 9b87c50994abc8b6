"""`GET /api/jobs/{id}/log`: the job's output as plain text, or, for a client that accepts
`text/event-stream`, as Server-Sent Events until the job ends.

The stream sends `log` events whose data is a JSON string (so any byte of output survives
the line-based format) with `id:` the byte offset reached, so an EventSource that
reconnects resumes from `Last-Event-ID` without loss or repetition; then one `end` event
with the job's status, exit code, error and end time. A job that already ended gets the rest of its
log and `end` at once: a browser's EventSource cannot read a plain-text answer."""

from __future__ import annotations

import asyncio
import codecs
import time
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hookd.errors import NotFound
from hookd.store.base import Store
from hookd.store.records import FINISHED_JOB_STATUSES, iso

POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0
# A stream ends after this long even while the job runs; the browser reconnects at once
# with Last-Event-ID. A server shutting down waits for open responses, so this bounds how
# long a watched log can hold it up.
STREAM_SECONDS = 20.0
EVENT_STREAM = "text/event-stream"


async def log_response(store: Store, request: Request, offset: int) -> Response:
    job_id = request.path_params["id"]
    job = await store.get_job(job_id)
    if EVENT_STREAM in request.headers.get("accept", ""):
        resumed = request.headers.get("last-event-id", "")
        start = int(resumed) if resumed.isdigit() else offset
        return StreamingResponse(
            log_events(store, job_id, start),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    text = await store.read_log(job_id, offset)
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"X-Job-Status": job.status, "Cache-Control": "no-cache"},
    )


def sse(event: str, data: object, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


async def log_events(store: Store, job_id: str, offset: int) -> AsyncIterator[bytes]:
    """The log from byte `offset` as it grows, then `end`. Each poll reads the job's state
    before its log: a job seen ended has flushed all its output, so nothing is missed."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    started = last_sent = time.monotonic()
    yield b"retry: 1000\n\n"
    while True:
        try:
            job = await store.get_job(job_id)
            chunk = await store.read_log(job_id, offset)
        except NotFound:
            return
        if chunk:
            offset += len(chunk)
            text = decoder.decode(chunk)
            if text:
                pending = len(decoder.getstate()[0])
                yield sse("log", text, offset - pending)
                last_sent = time.monotonic()
        if job.status in FINISHED_JOB_STATUSES:
            ending = {
                "status": job.status,
                "exit_code": job.exit_code,
                "error": job.error,
                "finished_at": iso(job.finished_at),
            }
            tail = decoder.decode(b"", final=True)
            if tail:
                yield sse("log", tail, offset)
            yield sse("end", ending, offset)
            return
        now = time.monotonic()
        if now - started > STREAM_SECONDS:
            return
        if now - last_sent > KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = now
        await asyncio.sleep(POLL_SECONDS)
