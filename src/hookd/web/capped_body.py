"""Reading a request's body up to a cap, for the requests that are not deliveries: the
relay's deliveries and acknowledgements, the dashboard's forms.

A delivery to `hookd serve` is read by `web.receive` instead (it shares `declared_length`),
which also counts each chunk in the server's body budget and hashes it as it arrives (the
hot path).
"""

from __future__ import annotations

from starlette.requests import Request


def content_length(request: Request) -> int | None:
    """The declared body length (the HTTP parser has checked it is a number), or None."""
    return declared_length(request.headers.get("content-length"))


def declared_length(value: str | None) -> int | None:
    """A Content-Length header's value as a number, or None when absent or not ASCII
    digits (`str.isdigit` alone also takes digits `int` refuses, such as '²')."""
    declared = (value or "").strip()
    return int(declared) if declared.isascii() and declared.isdigit() else None


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The request's body, read piece by piece as it arrives, or None as soon as it is
    larger than `cap` bytes (at once when its declared length is)."""
    declared = content_length(request)
    if declared is not None and declared > cap:
        return None
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > cap:
            return None
        body += chunk
    return bytes(body)
