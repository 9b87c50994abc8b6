"""GitHub webhook registration over the REST API (`hookd github register`, and `serve
--tunnel ngrok --register`): create or update the webhook that points at a URL, remove it,
or deactivate it.

Endpoints ("REST API endpoints for repository webhooks" / "... for organization
webhooks"): `GET/POST /repos/{owner}/{repo}/hooks`, `PATCH/DELETE
/repos/{owner}/{repo}/hooks/{id}`, and the same under `/orgs/{org}/hooks`. A hook is found
by its `config.url`. The secret goes to GitHub and nowhere else: never into a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from hookd.config import Config
from hookd.core.vocabulary import Forge
from hookd.forge_rest import GITHUB_API_URL, forge_message
from hookd.relay import GitHubError

# "Events that trigger workflows" that are not webhook events, as their webhook event.
_WEBHOOK_EVENT = {"pull_request_target": "pull_request"}
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_ORGANIZATION = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True)
class HookOwner:
    """Whose webhooks: a repository (`owner/name`) or an organization."""

    kind: Literal["repos", "orgs"]
    name: str

    @classmethod
    def parse(cls, repo: str | None, org: str | None) -> HookOwner:
        """From `--repo OWNER/NAME` or `--org ORG` (exactly one). Raises GitHubError."""
        if repo is not None and org is None:
            if not _REPOSITORY.fullmatch(repo):
                raise GitHubError(f"--repo {repo!r}: expected OWNER/NAME")
            return cls("repos", repo)
        if org is not None and repo is None:
            if not _ORGANIZATION.fullmatch(org):
                raise GitHubError(f"--org {org!r}: expected an organization's login")
            return cls("orgs", org)
        raise GitHubError("give either --repo OWNER/NAME or --org ORG")

    @property
    def hooks_path(self) -> str:
        return f"/{self.kind}/{self.name}/hooks"

    def __str__(self) -> str:
        return self.name if self.kind == "repos" else f"organization {self.name}"


@dataclass(frozen=True)
class WebhookSettings:
    """What the webhook should be: JSON deliveries of `events` to `url`, signed with `secret`."""

    url: str
    secret: str = field(repr=False)
    events: tuple[str, ...]
    active: bool = True

    def body(self) -> dict[str, Any]:
        return {
            "name": "web",
            "active": self.active,
            "events": list(self.events),
            "config": {
                "url": self.url,
                "content_type": "json",
                "secret": self.secret,
                "insecure_ssl": "0",
            },
        }


@dataclass(frozen=True)
class Registered:
    """A webhook as GitHub holds it now. `created` when this call made it."""

    id: int
    url: str
    events: tuple[str, ...]
    created: bool


UrlTest = Callable[[str], bool]


class GitHubHooks:
    """GitHub's webhook endpoints through `client`, whose base URL is the API's and which
    carries the token. Every method raises GitHubError with GitHub's own message."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def hooks(self, owner: HookOwner) -> list[dict[str, Any]]:
        """Every webhook of `owner`, following the pages."""
        found: list[dict[str, Any]] = []
        url: str | None = f"{owner.hooks_path}?per_page=100"
        while url is not None:
            response = await self._call("GET", url, f"list the webhooks of {owner}")
            found.extend(hook for hook in response.json() if isinstance(hook, dict))
            url = response.links.get("next", {}).get("url")
        return found

    async def find(
        self, owner: HookOwner, url: str, replaces: UrlTest | None = None
    ) -> dict[str, Any] | None:
        """The webhook whose URL is `url`, else the first one whose URL `replaces` accepts."""
        hooks = await self.hooks(owner)
        exact = [hook for hook in hooks if _hook_url(hook) == url]
        if exact or replaces is None:
            return exact[0] if exact else None
        return next((hook for hook in hooks if replaces(_hook_url(hook))), None)

    async def register(
        self, owner: HookOwner, settings: WebhookSettings, replaces: UrlTest | None = None
    ) -> Registered:
        """Create the webhook, or update the one `find` finds so it matches `settings`."""
        existing = await self.find(owner, settings.url, replaces)
        if existing is None:
            response = await self._call(
                "POST", owner.hooks_path, f"create a webhook on {owner}", settings.body()
            )
        else:
            body = settings.body()
            del body["name"]
            response = await self._call(
                "PATCH",
                f"{owner.hooks_path}/{existing['id']}",
                f"update webhook {existing['id']} on {owner}",
                body,
            )
        hook = response.json()
        return Registered(
            id=int(hook["id"]),
            url=_hook_url(hook),
            events=tuple(hook.get("events") or settings.events),
            created=existing is None,
        )

    async def remove(self, owner: HookOwner, url: str) -> int | None:
        """Delete the webhook pointing at `url`; its id, or None when there is none."""
        existing = await self.find(owner, url)
        if existing is None:
            return None
        hook_id = int(existing["id"])
        await self._call(
            "DELETE", f"{owner.hooks_path}/{hook_id}", f"delete webhook {hook_id} on {owner}"
        )
        return hook_id

    async def deactivate(self, owner: HookOwner, hook_id: int) -> None:
        """Set the webhook `active: false`: GitHub keeps it but delivers nothing."""
        await self._call(
            "PATCH",
            f"{owner.hooks_path}/{hook_id}",
            f"deactivate webhook {hook_id} on {owner}",
            {"active": False},
        )

    async def _call(
        self, method: str, path: str, what: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        try:
            response = await self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise GitHubError(
                f"could not {what}: cannot reach GitHub's API at {self.client.base_url}: {exc}"
            ) from exc
        if not response.is_success:
            raise GitHubError(f"could not {what}: GitHub answered {_github_message(response)}")
        return response


def _hook_url(hook: Mapping[str, Any]) -> str:
    config = hook.get("config")
    return str(config.get("url", "")) if isinstance(config, dict) else ""


def _github_message(response: httpx.Response) -> str:
    """`422 Validation Failed (Hook already exists on this repository)`, from GitHub's body."""
    text = f"{response.status_code} {forge_message(response)}"
    if response.status_code == 404:
        text += ": no such repository or organization, or the token may not manage its webhooks"
    return text


@dataclass(frozen=True)
class RegistrationPlan:
    """Everything registration needs, read from the config and the environment."""

    owner: HookOwner
    endpoint: str
    path: str
    secret: str = field(repr=False)
    events: tuple[str, ...]
    api_url: str
    token: str = field(repr=False)

    def settings(self, url: str, active: bool = True) -> WebhookSettings:
        return WebhookSettings(url=url, secret=self.secret, events=self.events, active=active)


def plan_registration(
    config: Config,
    owner: HookOwner,
    *,
    endpoint: str | None = None,
    events: Sequence[str] = (),
    api_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> RegistrationPlan:
    """The registration of `endpoint` (default: the first GitHub endpoint) on `owner`.

    The token is `$GITHUB_TOKEN`, else the endpoint's `api_token`; the API is `api_url`,
    else the endpoint's `api_url`, else api.github.com; the events are `events`, else
    those the endpoint's hooks listen to. Raises GitHubError saying what is missing.
    """
    environ = os.environ if environ is None else environ
    name = endpoint or next(
        (key for key, value in config.endpoints.items() if value.forge is Forge.GITHUB), None
    )
    if name is None or name not in config.endpoints:
        raise GitHubError(
            f"no endpoint {name!r} in {config.path}"
            if name
            else f"no GitHub endpoint in {config.path}"
        )
    settings = config.endpoints[name]
    if settings.forge is not Forge.GITHUB:
        raise GitHubError(f"endpoint {name!r} is a {settings.forge} endpoint, not a GitHub one")
    secrets = config.specs[name].secrets
    if not secrets:
        raise GitHubError(f"endpoint {name!r} has no secret to give GitHub")
    token = environ.get("GITHUB_TOKEN") or (
        settings.api_token.get_secret_value() if settings.api_token else ""
    )
    if not token:
        raise GitHubError(
            f"set GITHUB_TOKEN (or endpoints.{name}.api_token) to a token that may manage "
            "webhooks (classic: admin:repo_hook or admin:org_hook; fine-grained: Webhooks: write)"
        )
    return RegistrationPlan(
        owner=owner,
        endpoint=name,
        path=config.endpoint_path(name),
        secret=secrets[0].decode("utf-8", "surrogateescape"),
        events=tuple(events) or hook_events(config, name),
        api_url=api_url or settings.api_url or GITHUB_API_URL,
        token=token,
    )


def hook_events(config: Config, endpoint: str) -> tuple[str, ...]:
    """The webhook events the endpoint's hooks listen to, in the order first named:
    `("*",)` if any hook takes every event, GitHub's default `("push",)` if none has hooks."""
    names: list[str] = []
    for rule in config.rules.get(endpoint, ()):
        if rule.trigger.every_event:
            return ("*",)
        for spec in rule.trigger.events:
            event = _WEBHOOK_EVENT.get(spec.event, spec.event)
            if event not in names:
                names.append(event)
    return tuple(names) or ("push",)
