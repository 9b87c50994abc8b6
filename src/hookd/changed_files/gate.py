"""When a job whose paths filter waits on the forge's API starts (`NewJob.paths_filter`):
the delivery's changed files, fetched once per delivery and kept with it (the store's
`delivery_files`), then the filter decided on them (core.rules.decide_paths).

Not matching, the job finishes `cancelled` with the sentence of why; matching, it runs.
When the files cannot all be known (no answer, an error, a diff too large) it runs, and its
log says so with GitHub Actions' rule. Every job of the delivery sees the files as
`hookd.changed_files`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hookd.actions.base import ActionResult, failure
from hookd.actions.forge_api import Api, ForgeError, StepError
from hookd.actions.github_app import endpoint_token
from hookd.changed_files.apis import FILE_APIS
from hookd.changed_files.fetch import Fetched, fetch
from hookd.config import Config
from hookd.config.model import EndpointSettings
from hookd.core.delivery import Delivery
from hookd.core.rules import PendingPaths, decide_paths, undetermined
from hookd.core.vocabulary import JobStatus
from hookd.forge_rest import GITHUB_HEADERS, forge_client
from hookd.store.base import Store
from hookd.store.records import JobRecord, KeptFiles

Output = Callable[[bytes], Awaitable[None]]

_fetching: dict[tuple[str, str], asyncio.Lock] = {}
"""One fetch at a time per delivery and ref in this process: the jobs of one delivery that
start together wait for the first one's answer rather than ask again."""


@dataclass(frozen=True, slots=True)
class Gate:
    """How a job's start went: `stop` is how it ends without running (None: it runs);
    `files` the delivery's changed files as an API listed them, when known."""

    stop: ActionResult | None
    files: tuple[str, ...] | None


async def known_files(store: Store, job: JobRecord, delivery: Delivery) -> tuple[str, ...] | None:
    """The changed files kept for the job's delivery, if an API listed them. Files are only
    ever fetched for a payload that does not list them all: for one that does, the store is
    not asked."""
    if delivery.facts.listed_files(delivery.event, delivery.payload) is not None:
        return None
    kept = await store.kept_files(job.delivery_id, job.ref or "")
    return None if kept is None else kept.files


async def paths_gate(
    store: Store, config: Config, job: JobRecord, delivery: Delivery, output: Output
) -> Gate:
    """Decide the job's pending paths filter (see the module's docstring)."""
    try:
        pending = PendingPaths.from_json(json.loads(job.paths_filter or ""))
    except ValueError as exc:
        return Gate(failure(f"the job's paths filter cannot be read: {exc}", retryable=False), None)
    kept = await _files(store, config, job, delivery)
    if kept.files is None:
        why = kept.reason or f"{kept.source} did not list them"
        await output(f"[hookd: {undetermined(pending.where, why)}]\n".encode())
        return Gate(None, None)
    reason = decide_paths(pending, kept.files, kept.source)
    if reason is not None:
        await output(f"[hookd: {reason}; the job does not run]\n".encode())
        return Gate(ActionResult(JobStatus.CANCELLED, None, reason, retryable=False), kept.files)
    count = len(kept.files)
    await output(
        f"[hookd: {pending.where}: matched by the {count} changed file"
        f"{'' if count == 1 else 's'} {kept.source} lists]\n".encode()
    )
    return Gate(None, kept.files)


async def _files(store: Store, config: Config, job: JobRecord, delivery: Delivery) -> KeptFiles:
    ref = job.ref or ""
    kept = await store.kept_files(job.delivery_id, ref)
    if kept is not None:
        return kept
    key = (job.delivery_id, ref)
    lock = _fetching.setdefault(key, asyncio.Lock())
    try:
        async with lock:
            kept = await store.kept_files(job.delivery_id, ref)
            if kept is not None:
                return kept
            fetched = await ask(config, delivery)
            kept = KeptFiles(fetched.files, fetched.source, fetched.reason)
            if fetched.lasting:
                await store.keep_files(job.delivery_id, ref, kept, datetime.now(UTC))
            return kept
    finally:
        if not lock.locked() and _fetching.get(key) is lock:
            del _fetching[key]


async def ask(config: Config, delivery: Delivery) -> Fetched:
    """The delivery's changed files from its forge's API, with its endpoint's credentials."""
    api = FILE_APIS.get(delivery.forge)
    endpoint = config.endpoints.get(delivery.endpoint)
    if api is None or endpoint is None:
        return Fetched(None, "the forge's API", "hookd cannot ask this forge's API", lasting=False)
    listing = api.listing(delivery)
    if isinstance(listing, str):
        return Fetched(None, api.label, listing, lasting=False)
    base = (endpoint.api_url or api.default_url or "").rstrip("/")
    if not base:
        return Fetched(
            None, listing.source, f"endpoint {delivery.endpoint!r} has no api_url", lasting=False
        )
    try:
        token = await _token(base, endpoint, config.path.parent, delivery)
    except (StepError, ForgeError) as exc:
        why = f"the GitHub App's installation token: {exc}"
        return Fetched(None, listing.source, why, lasting=False)
    if token is None:
        return Fetched(
            None, listing.source, f"endpoint {delivery.endpoint!r} has no api_token", lasting=False
        )
    return await fetch(base, api.headers(token), listing)


async def _token(
    base: str, endpoint: EndpointSettings, folder: Path, delivery: Delivery
) -> str | None:
    """The endpoint's token for its forge's API at `base` (`endpoint_token`), asking GitHub
    for its App's installation token, if need be, with nothing written to a job's log."""

    async def quiet(chunk: bytes) -> None:
        return None

    async with forge_client(GITHUB_HEADERS) as client:
        return await endpoint_token(Api(client, base, quiet), endpoint, delivery.payload, folder)
