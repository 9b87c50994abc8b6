"""Which hooks deliver to an endpoint: those its config names under `catch_up.hooks`, and,
on GitHub, those hookd learns from the deliveries it stored.

GitHub names the hook in every delivery: `X-GitHub-Hook-ID`, and what it belongs to in
`X-GitHub-Hook-Installation-Target-Type` (`repository`, `organization`, `integration` for
an App) and `-ID`. The stored deliveries' headers are read at catch-up time, each once
(from where the last read stopped), so receiving a delivery costs nothing more. GitLab's
deliveries do not name their hook: its hooks come from the config.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import orjson

from hookd.catch_up.records import HookState, SeenDelivery
from hookd.config import Config
from hookd.config.model import EndpointSettings
from hookd.errors import StoreError
from hookd.store import store_for
from hookd.store.base import Store
from hookd.store.ids import ALPHABET

log = logging.getLogger("hookd.catch_up")
BATCH = 500
HOOK_ID = "x-github-hook-id"
TARGET_TYPE = "x-github-hook-installation-target-type"


def id_floor(moment: datetime) -> str:
    """The smallest delivery id made at `moment` (ids start with their milliseconds)."""
    value = int(moment.timestamp() * 1000) << 80
    return "".join(ALPHABET[(value >> shift) & 31] for shift in range(125, -5, -5))


def hook_path(seen: SeenDelivery, organization: str | None = None) -> str | None:
    """The API path of the GitHub hook that sent `seen`, or None if its headers name none
    hookd can ask (or the repository or organization is unknown)."""
    headers = {name.lower(): value for name, value in seen.headers}
    hook_id, kind = headers.get(HOOK_ID, ""), headers.get(TARGET_TYPE, "")
    if kind == "integration":
        return "/app/hook"
    if not hook_id.isdigit():
        return None
    if kind == "repository" and seen.repository and seen.repository.count("/") == 1:
        owner, name = seen.repository.split("/")
        return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/hooks/{hook_id}"
    if kind == "organization":
        login = organization or (seen.repository.split("/")[0] if seen.repository else None)
        return f"/orgs/{quote(login, safe='')}/hooks/{hook_id}" if login else None
    return None


async def learn(
    store: Store, endpoint: str, now: datetime, horizon: float, *, save: bool = True
) -> list[HookState]:
    """The endpoint's known hooks, with those named by deliveries stored since the last
    read added (and, with `save`, remembered with where the read stopped)."""
    records = store.catch_up()
    known = {state.hook: state for state in await records.hooks(endpoint)}
    after = await records.scanned_through(endpoint) or id_floor(now - timedelta(seconds=horizon))
    found: dict[str, HookState] = {}
    last = None
    while True:
        batch = await records.new_deliveries(endpoint, after, BATCH)
        for seen in batch:
            path = await _path(store, seen, [*known, *found])
            if path is not None and path not in known and path not in found:
                found[path] = HookState(path, now)
                log.info("catch-up: %s learned of the hook %s from a delivery", endpoint, path)
        if batch:
            last = after = batch[-1].id
        if len(batch) < BATCH:
            break
    if save and (found or last is not None):
        await records.save_hooks(endpoint, list(found.values()), scanned_through=last)
    return [*known.values(), *found.values()]


async def _path(store: Store, seen: SeenDelivery, paths: Iterable[str]) -> str | None:
    """`hook_path`, reading an organization hook's delivery body for the organization's
    login when the delivery names no repository (an `organization` or `member` event) and
    the hook is not known yet."""
    path = hook_path(seen)
    if path is not None or seen.repository:
        return path
    headers = {name.lower(): value for name, value in seen.headers}
    if headers.get(TARGET_TYPE) != "organization":
        return None
    suffix = f"/hooks/{headers.get(HOOK_ID, '')}"
    if any(p.startswith("/orgs/") and p.endswith(suffix) for p in paths):
        return None
    detail = await store.get_delivery(seen.id)
    try:
        payload = orjson.loads(bytes(detail.body or b""))
    except orjson.JSONDecodeError:
        return None
    organization = payload.get("organization") if isinstance(payload, dict) else None
    login = organization.get("login") if isinstance(organization, dict) else None
    return hook_path(seen, login) if isinstance(login, str) and login else None


def configured(
    settings: EndpointSettings, known: Iterable[HookState], now: datetime
) -> list[HookState]:
    """`known` with the hooks the config names that are not among them yet."""
    states = {state.hook: state for state in known}
    for hook in settings.catch_up.hooks:
        states.setdefault(hook.path, HookState(hook.path, now))
    return list(states.values())


async def remember(config: Config, endpoint: str, path: str) -> str | None:
    """Record a hook `hookd github register` made, so catch-up looks at it before it has
    delivered anything; a sentence saying why not if the store could not be written."""
    store = store_for(config.database)
    try:
        await store.open()
        try:
            await store.catch_up().save_hooks(endpoint, [HookState(path, datetime.now(UTC))])
        finally:
            await store.close()
    except StoreError as exc:
        return f"(catch-up learns of it from its first delivery: it could not be recorded: {exc})"
    return None
