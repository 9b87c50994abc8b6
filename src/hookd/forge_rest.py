"""The one HTTP client hookd speaks to a forge's REST API with, and how it reads the
forge's answers: the `github:`/`gitlab:` steps (`actions.forge_api`) and webhook
registration (`relay.github_hooks`) both use it.

httpx directly rather than an SDK: hookd uses a handful of endpoints. Redirects are not
followed (a token is never sent on to another host). GitHub's headers name the REST API
version the endpoints were written against.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from hookd import __version__

USER_AGENT = f"hookd/{__version__}"
TIMEOUT = 30.0
MESSAGE_CAP = 500
GITHUB_API_URL = "https://api.github.com"
GITHUB_HEADERS: Mapping[str, str] = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}


def forge_client(headers: Mapping[str, str], base_url: str = "") -> httpx.AsyncClient:
    """A client sending `headers` (and hookd's User-Agent) with every request, to paths
    under `base_url` when one is given."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        timeout=TIMEOUT,
        headers={"User-Agent": USER_AGENT, **headers},
        follow_redirects=False,
    )


def github_client(api_url: str, token: str) -> httpx.AsyncClient:
    """A client for GitHub's REST API at `api_url`, authenticated with `token`."""
    return forge_client({**GITHUB_HEADERS, "Authorization": f"Bearer {token}"}, api_url)


def answer_json(response: httpx.Response) -> Any:
    """The answer's JSON; None for an empty body or one that is not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def forge_message(response: httpx.Response) -> str:
    """The forge's own words: `message` (GitHub, GitLab) or `error` (GitLab), with GitHub's
    `errors` details; else the start of the body."""
    data = answer_json(response)
    if isinstance(data, Mapping):
        text = _flatten(data.get("message", data.get("error")))
        details = [_flatten(item) for item in data.get("errors") or [] if item]
        if details and isinstance(data.get("errors"), list):
            text = f"{text} ({'; '.join(details)})" if text else "; ".join(details)
        if text:
            return text[:MESSAGE_CAP]
    body = response.text.strip()
    return body[:MESSAGE_CAP] if body else response.reason_phrase or "no message"


def _flatten(value: Any) -> str:
    """GitHub's `errors` entries, GitLab's `{"title": ["can't be blank"]}`, or plain text."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if "message" in value:
            return _flatten(value["message"])
        if "code" in value:
            return " ".join(
                str(value[key]) for key in ("resource", "field", "code") if key in value
            )
        return "; ".join(f"{key} {_flatten(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_flatten(item) for item in value)
    return "" if value is None else str(value)
