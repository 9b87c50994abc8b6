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

from starlette.requests import Request
from starlette.responses import Response

from hookd.core.vocabulary import FINISHED_JOB_STATUSES
from hookd.errors import NotFound
from hookd.store.base import Store
from hookd.store.records import iso
from hookd.web.event_stream import (
    EVENT_STREAM,
    KEEPALIVE,
    event_stream,
    json_event,
    retry_after_ms,
)

POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0
# A stream ends after this long even while the job runs; the browser reconnects at once
# with Last-Event-ID. A server shutting down waits for open responses, so this bounds how
# long a watched log can hold it up.
STREAM_SECONDS = 20.0


async def log_response(store: Store, request: Request, offset: int) -> Response:
    job_id = request.path_params["id"]
    job = await store.get_job(job_id)
    if EVENT_STREAM in request.headers.get("accept", ""):
        resumed = request.headers.get("last-event-id", "")
        start = int(resumed) if resumed.isdigit() else offset
        return event_stream(log_events(store, job_id, start), "no-cache")
    text = await store.read_log(job_id, offset)
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"X-Job-Status": job.status, "Cache-Control": "no-cache"},
    )


async def log_events(store: Store, job_id: str, offset: int) -> AsyncIterator[bytes]:
    """The log from byte `offset` as it grows, then `end`. Each poll reads the job's state
    before its log: a job seen ended has flushed all its output, so nothing is missed."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    started = last_sent = time.monotonic()
    yield retry_after_ms(1000)
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
                yield json_event("log", text, offset - pending)
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
                yield json_event("log", tail, offset)
            yield json_event("end", ending, offset)
            return
        now = time.monotonic()
        if now - started > STREAM_SECONDS:
            return
        if now - last_sent > KEEPALIVE_SECONDS:
            yield KEEPALIVE
            last_sent = now
        await asyncio.sleep(POLL_SECONDS)
