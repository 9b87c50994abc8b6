"""A hook's delivery records and redeliveries, through the forge's REST API.

GitHub ("Repository webhooks", "Organization webhooks", "Webhooks" for an App): `GET
{hook}/deliveries?per_page=100`, newest first, the next page's `cursor` in the `Link`
header's rel="next"; `POST {hook}/deliveries/{id}/attempts` answers 202. GitLab ("Project
webhooks", "Group webhooks"): `GET {hook}/events?per_page=100&page=N`, the next page in
`X-Next-Page`; `POST {hook}/events/{id}/resend`.

A rate limit (403/429 with `Retry-After`, or `X-RateLimit-Remaining: 0`) is waited out and
the request made again; a 404 means the hook is gone (`HookGone`); any other failure is a
`CatchUpError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from hookd.actions.forge_api import rate_limit_until
from hookd.actions.gitlab_steps import GITLAB_API
from hookd.catch_up.selection import Attempt, github_attempt, gitlab_attempt
from hookd.core.vocabulary import Forge
from hookd.errors import HookdError
from hookd.forge_rest import GITHUB_API_URL, answer_json, forge_message

log = logging.getLogger("hookd.catch_up")
PER_PAGE = 100
MAX_PAGES = 1000


class CatchUpError(HookdError):
    """The forge could not be asked (an answer other than 2xx, 404 or a rate limit)."""


class HookGone(CatchUpError):
    """The forge answered 404 for the hook."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None
    message: str


def _github_next(response: httpx.Response) -> dict[str, str] | None:
    """GitHub's next page: the `cursor` of rel="next". Only the cursor is taken from the
    link: the request stays on the configured API."""
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    cursor = parse_qs(urlsplit(link).query).get("cursor")
    return {"cursor": cursor[0]} if cursor else None


def _gitlab_next(response: httpx.Response) -> dict[str, str] | None:
    """GitLab's next page number, `X-Next-Page`."""
    page = response.headers.get("x-next-page", "").strip()
    return {"page": page} if page.isdigit() else None


@dataclass(frozen=True, slots=True)
class CatchUpApi:
    """How one forge's REST API lists a hook's delivery attempts and resends one."""

    api_url: str
    listing: str
    """Under the hook's path: where its attempts are listed."""
    read: Callable[[Mapping[str, Any]], Attempt | None]
    next_page: Callable[[httpx.Response], dict[str, str] | None]
    resend: str
    """Under the hook's path, with `{id}`: where an attempt is asked for again."""
    learns_hooks: bool
    """Its deliveries name the hook they came from (GitHub's `X-GitHub-Hook-ID`)."""


APIS: Mapping[str, CatchUpApi] = {
    Forge.GITHUB: CatchUpApi(
        api_url=GITHUB_API_URL, listing="deliveries", read=github_attempt,
        next_page=_github_next, resend="deliveries/{id}/attempts", learns_hooks=True,
    ),
    Forge.GITLAB: CatchUpApi(
        api_url=GITLAB_API, listing="events", read=gitlab_attempt, next_page=_gitlab_next,
        resend="events/{id}/resend", learns_hooks=False,
    ),
}  # fmt: skip
"""The forges hookd catches up from."""


@dataclass
class HookApi:
    """One hook at `path` on the forge's API at `base`, asked with `client` and the `auth`
    headers."""

    client: httpx.AsyncClient
    api: CatchUpApi
    base: str
    path: str
    auth: Mapping[str, str]

    async def attempts(self, since: datetime) -> AsyncIterator[Attempt]:
        """The hook's recorded attempts, newest first, down to `since` (the page that
        reaches past it is the last one read)."""
        params: dict[str, str] = {"per_page": str(PER_PAGE)}
        listing = f"{self.path}/{self.api.listing}"
        for _page in range(MAX_PAGES):
            response = await self._request("GET", listing, params)
            if response.status_code == 404:
                raise HookGone(f"GET {listing} answered 404: {forge_message(response)}")
            if not response.is_success:
                raise CatchUpError(
                    f"GET {listing} answered {response.status_code}: {forge_message(response)}"
                )
            items = answer_json(response)
            if not isinstance(items, list):
                raise CatchUpError(f"GET {listing} answered something other than a list")
            read = self.api.read
            oldest: datetime | None = None
            for item in items:
                attempt = read(item) if isinstance(item, Mapping) else None
                if attempt is None:
                    continue
                if attempt.at is not None:
                    oldest = attempt.at if oldest is None else min(oldest, attempt.at)
                yield attempt
            following = self.api.next_page(response)
            if not items or following is None or (oldest is not None and oldest < since):
                return
            params = {**params, **following}
        log.warning("catch-up: %s has more than %d pages; read the newest", self.path, MAX_PAGES)

    async def redeliver(self, forge_id: str) -> Answer:
        """Ask the forge to deliver this attempt's delivery again."""
        path = f"{self.path}/{self.api.resend.format(id=forge_id)}"
        try:
            response = await self._request("POST", path, None)
        except CatchUpError as exc:
            return Answer(None, str(exc))
        return Answer(response.status_code, forge_message(response))

    async def _request(
        self, method: str, path: str, params: Mapping[str, str] | None
    ) -> httpx.Response:
        """The forge's answer, after waiting out every rate limit it names."""
        while True:
            try:
                response = await self.client.request(
                    method, self.base.rstrip("/") + path, params=params, headers=self.auth
                )
            except httpx.HTTPError as exc:
                raise CatchUpError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            now = datetime.now(UTC)
            status = response.status_code
            until = rate_limit_until(status, response.headers, forge_message(response), now)
            if until is None:
                return response
            wait = (until - now).total_seconds()
            log.info("catch-up: %s %s is rate limited; waiting %.0fs", method, path, wait)
            await asyncio.sleep(wait)
