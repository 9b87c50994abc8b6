"""Ask a forge's API for a delivery's changed files (`fetch`), within bounds: at most
`MAX_PAGES` pages of at most `MAX_ANSWER_BYTES` each, file names of at most `MAX_NAME_BYTES`
(with the forge's cap on the number of files, what is kept with the delivery stays small),
`REQUEST_TIMEOUT` per request and `TOTAL_TIMEOUT` in all; redirects are not followed
(forge_rest), and the token is only ever in the request's headers, never in a message. A
listing that reaches its forge's cap is too large: `Fetched.files` is None and `reason` says
so, as it does for any failure."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from hookd.changed_files.apis import Listing
from hookd.forge_rest import MESSAGE_CAP, forge_client

MAX_PAGES = 40
MAX_ANSWER_BYTES = 8 * 1024 * 1024
MAX_NAME_BYTES = 4096  # Linux's PATH_MAX: no repository holds a longer path
REQUEST_TIMEOUT = 20.0
TOTAL_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the API said: every changed file (`files`), or None and why not (`reason`).
    `lasting`: worth keeping with the delivery (a complete list, or one too large)."""

    files: tuple[str, ...] | None
    source: str
    reason: str | None = None
    lasting: bool = True


class _Failed(Exception):
    pass


async def fetch(base: str, headers: Mapping[str, str], listing: Listing) -> Fetched:
    """Every file `listing` names, page after page; a failure is a `Fetched` saying why."""
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT):
            return await _pages(base, headers, listing)
    except TimeoutError:
        why = f"{listing.source} did not answer within {TOTAL_TIMEOUT:g}s"
        return Fetched(None, listing.source, why, lasting=False)
    except _Failed as exc:
        return Fetched(None, listing.source, str(exc), lasting=False)


async def _pages(base: str, headers: Mapping[str, str], listing: Listing) -> Fetched:
    files: dict[str, None] = {}
    params = dict(listing.params)
    async with forge_client(headers, base) as client:
        for page in range(1, MAX_PAGES + 1):
            response, data = await _get(client, listing, params)
            items = listing.items(data)
            if items is None:
                raise _Failed(f"{listing.source} answered something other than a list of files")
            for entry in items:
                if isinstance(entry, Mapping):
                    files.update((_bounded(name, listing), None) for name in listing.names(entry))
            if listing.too_large(data) or len(items) >= listing.cap or len(files) >= listing.cap:
                return _too_large(listing)
            following = listing.next_page(response, data, int(params.get("page", page)))
            if following is None or not items:
                return Fetched(tuple(files), listing.source)
            params = {**params, **following}
    return _too_large(listing, f"more than {MAX_PAGES} pages")


def _bounded(name: str, listing: Listing) -> str:
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise _Failed(f"{listing.source} listed a file name longer than {MAX_NAME_BYTES} bytes")
    return name


def _too_large(listing: Listing, why: str | None = None) -> Fetched:
    what = why or f"{listing.cap} files or more, the most it lists"
    return Fetched(None, listing.source, f"the diff is too large: {listing.source} lists {what}")


async def _get(
    client: httpx.AsyncClient, listing: Listing, params: Mapping[str, str]
) -> tuple[httpx.Response, Any]:
    where = f"GET {listing.path}"
    try:
        request = client.build_request("GET", listing.path, params=params, timeout=REQUEST_TIMEOUT)
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise _Failed(f"{where} answered more than {MAX_ANSWER_BYTES} bytes")
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise _Failed(f"{where}: {type(exc).__name__}") from None
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
        if response.is_success:
            raise _Failed(f"{where} answered something other than JSON") from None
    if not response.is_success:
        raise _Failed(f"{where} answered {response.status_code}: {_message(data, body)}")
    return response, data


def _message(data: Any, body: bytes | bytearray) -> str:
    """The forge's own words: `message` or `error`, else the start of the body."""
    if isinstance(data, Mapping):
        for key in ("message", "error"):
            found = data.get(key)
            if isinstance(found, str) and found:
                return found[:MESSAGE_CAP]
            if isinstance(found, Mapping) and isinstance(found.get("message"), str):
                return str(found["message"])[:MESSAGE_CAP]
    text = bytes(body[:MESSAGE_CAP]).decode("utf-8", "replace").strip()
    return text or "no message"
