"""`endpoints.<name>.catch_up`: asking the forge again for deliveries it failed to make
(see `hookd.catch_up`). On by default for GitHub and GitLab endpoints; it needs the
endpoint's API credentials (`api_token`, or a GitHub App's `app_id` + `private_key_file`
for the App's own hook) and does nothing without them but say so once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hookd.core.units import parse_duration

if TYPE_CHECKING:
    from hookd.config.model import EndpointSettings
    from hookd.config.yamlsource import Source

# How long each forge keeps its record of a hook's deliveries.
HORIZONS = {"github": 3 * 24 * 3600.0, "gitlab": 7 * 24 * 3600.0}
GITHUB_KINDS = ("repository", "organization", "app")
GITLAB_KINDS = ("project", "group")


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_duration(value)
    return value


Seconds = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CatchUpHook(_Strict):
    """A hook named in the config: exactly one of `repository` (owner/name),
    `organization`, `app: true` (GitHub), `project` or `group` (GitLab: id or full path),
    with the hook's `id` (not for the App's one hook)."""

    repository: str | None = None
    organization: str | None = None
    app: bool = False
    project: str | int | None = None
    group: str | int | None = None
    id: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_owner(self) -> CatchUpHook:
        named = [kind for kind in (*GITHUB_KINDS, *GITLAB_KINDS) if getattr(self, kind)]
        if len(named) != 1:
            raise ValueError("give exactly one of repository, organization, app, project or group")
        if self.repository is not None and self.repository.count("/") != 1:
            raise ValueError(f"repository must be owner/name, got {self.repository!r}")
        if self.app and self.id is not None:
            raise ValueError("a GitHub App has one hook: give app: true without an id")
        if not self.app and self.id is None:
            raise ValueError(f"the {named[0]}'s hook needs its id")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in (*GITHUB_KINDS, *GITLAB_KINDS) if getattr(self, kind))

    @property
    def path(self) -> str:
        """The hook's path in the forge's REST API."""
        if self.app:
            return "/app/hook"
        if self.repository is not None:
            owner, name = self.repository.split("/")
            return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/hooks/{self.id}"
        if self.organization is not None:
            return f"/orgs/{quote(self.organization, safe='')}/hooks/{self.id}"
        collection = "projects" if self.project is not None else "groups"
        owner_id = str(self.project if self.project is not None else self.group)
        return f"/{collection}/{quote(owner_id, safe='')}/hooks/{self.id}"


class CatchUpSettings(_Strict):
    enabled: bool = True
    # How often `hookd serve` catches up, besides once at its start.
    interval: Seconds = 600.0
    # How far back to look at most: the forge's own horizon (3d GitHub, 7d GitLab) if unset.
    since: Seconds | None = None
    hooks: list[CatchUpHook] = Field(default_factory=list)

    def horizon(self, forge: str) -> float:
        return self.since if self.since is not None else HORIZONS.get(forge, 0.0)


def check_catch_up(name: str, endpoint: EndpointSettings, source: Source) -> None:
    """What the model alone cannot tell: which hooks and horizons fit the endpoint's forge."""
    settings = endpoint.catch_up
    where = ("endpoints", name, "catch_up")
    kinds = {"github": GITHUB_KINDS, "gitlab": GITLAB_KINDS}.get(endpoint.forge, ())
    for index, hook in enumerate(settings.hooks):
        if hook.kind not in kinds:
            source.problem(
                (*where, "hooks", index),
                f"a {endpoint.forge} endpoint cannot catch up from a {hook.kind}'s hook"
                + (f" (it takes {', '.join(kinds)})" if kinds else ""),
            )
    horizon = HORIZONS.get(endpoint.forge)
    if settings.since is not None and horizon is not None and settings.since > horizon:
        source.problem(
            (*where, "since"),
            f"{endpoint.forge} keeps deliveries for {horizon / 86400:g} days; "
            f"since may be at most {horizon / 3600:g}h",
        )
