"""Which REST endpoint lists a delivery's changed files, per forge (`FILE_APIS`).

- GitHub: `GET /repos/{owner}/{repo}/pulls/{number}/files?per_page=100&page=N` ("List pull
  requests files": "Responses include a maximum of 3000 files"), and for a push
  `GET /repos/{owner}/{repo}/compare/{before}...{after}` ("Compare two commits": the list
  of changed files "includes up to 300 changed files for the entire comparison").
- GitLab: `GET /projects/:id/merge_requests/:iid/diffs?per_page=100&page=N` ("List merge
  request diffs", next page in `X-Next-Page`), and for a push
  `GET /projects/:id/repository/compare?from=&to=` ("Compare branches, tags or commits";
  `compare_timeout` when GitLab gave up).
- Gitea and Forgejo: `GET /repos/{owner}/{repo}/pulls/{index}/files?limit=50&page=N`
  ("List changed files of a pull request", `X-HasMore` while pages remain).
- Bitbucket Cloud: `GET /2.0/repositories/{workspace}/{slug}/pullrequests/{id}/diffstat`
  and `GET /2.0/repositories/{workspace}/{slug}/diffstat/{after}..{before}` ("diffstat":
  pages linked by `next`; only its `page` is taken, so requests stay on the configured API).

A listing that reaches its forge's documented cap is "too large": the files cannot all be
known, and the hook runs, as GitHub Actions runs a workflow whose diff it could not make.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from hookd.core.delivery import Delivery
from hookd.core.facts import ZERO_SHA
from hookd.core.vocabulary import Forge
from hookd.forge_rest import GITHUB_API_URL, GITHUB_HEADERS

GITLAB_API_URL = "https://gitlab.com/api/v4"
BITBUCKET_API_URL = "https://api.bitbucket.org"

NextPage = Callable[[httpx.Response, Any, int], dict[str, str] | None]
"""From an answer, its JSON and its page number: the parameters of the next page, or None."""


@dataclass(frozen=True, slots=True)
class Listing:
    """One API request (and its pages) that lists a delivery's changed files."""

    path: str
    """Under the API's base URL, path segments quoted."""
    params: Mapping[str, str]
    source: str
    """In sentences: `GitHub's pull request files API`."""
    items: Callable[[Any], list[Any] | None]
    """The answer's list of file entries (None: not the shape expected)."""
    names: Callable[[Mapping[str, Any]], tuple[str, ...]]
    """The paths one entry names (a rename names both)."""
    next_page: NextPage
    cap: int
    """The forge lists at most this many: a listing that reaches it is too large."""
    too_large: Callable[[Any], bool] = lambda data: False
    """The answer says the forge did not list every file."""


@dataclass(frozen=True, slots=True)
class FileApi:
    """How one forge's REST API lists a delivery's changed files."""

    label: str
    """`GitHub's API`, in the trace."""
    default_url: str | None
    """Where the API is when the endpoint gives no `api_url` (None: it must)."""
    headers: Callable[[str], dict[str, str]]
    """The headers of a request authenticated with a token."""
    listing: Callable[[Delivery], Listing | str]
    """The request for the delivery's files, or why there is none."""


def _segment(value: object) -> str:
    return quote(str(value), safe="")


def _owner_repo(delivery: Delivery) -> str | None:
    name = delivery.repository
    if not name or name.count("/") != 1:
        return None
    owner, repo = name.split("/")
    return f"{_segment(owner)}/{_segment(repo)}"


def _number(payload: Mapping[str, Any], *path: str) -> int | None:
    value: Any = payload
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _push_range(delivery: Delivery) -> tuple[str, str] | str:
    before, after = delivery.before, delivery.sha
    if not before or not after:
        return "the push names no before and after commits"
    if before == ZERO_SHA:
        return "the push created the ref, so there is no earlier commit to compare with"
    if after == ZERO_SHA:
        return "the push deleted the ref"
    return before, after


def _list(key: str | None) -> Callable[[Any], list[Any] | None]:
    def items(data: Any) -> list[Any] | None:
        found = data.get(key) if key is not None and isinstance(data, Mapping) else data
        return found if isinstance(found, list) else None

    return items


def _names(*keys: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    def names(entry: Mapping[str, Any]) -> tuple[str, ...]:
        found: list[str] = []
        for key in keys:
            value: Any = entry
            for step in key.split("."):
                value = value.get(step) if isinstance(value, Mapping) else None
            if isinstance(value, str) and value and value not in found:
                found.append(value)
        return tuple(found)

    return names


def _numbered(response: httpx.Response, data: Any, page: int) -> dict[str, str] | None:
    """GitHub's pages: another while the `Link` header has rel="next"."""
    return {"page": str(page + 1)} if response.links.get("next") else None


def _gitlab_next(response: httpx.Response, data: Any, page: int) -> dict[str, str] | None:
    found = response.headers.get("x-next-page", "").strip()
    return {"page": found} if found.isdigit() else None


def _gitea_next(response: httpx.Response, data: Any, page: int) -> dict[str, str] | None:
    more = response.headers.get("x-hasmore", "").strip().lower() == "true"
    return {"page": str(page + 1)} if more or response.links.get("next") else None


def _bitbucket_next(response: httpx.Response, data: Any, page: int) -> dict[str, str] | None:
    link = data.get("next") if isinstance(data, Mapping) else None
    if not isinstance(link, str):
        return None
    found = parse_qs(urlsplit(link).query).get("page")
    return {"page": found[0]} if found and found[0].isdigit() else None


def _none(response: httpx.Response, data: Any, page: int) -> dict[str, str] | None:
    return None


# -- GitHub ------------------------------------------------------------------------------


def _github_listing(delivery: Delivery) -> Listing | str:
    repo = _owner_repo(delivery)
    if repo is None:
        return "the delivery names no owner/repository"
    if delivery.event.startswith("pull_request"):
        number = _number(delivery.payload, "pull_request", "number")
        if number is None:
            return "the delivery names no pull request number"
        return Listing(
            path=f"/repos/{repo}/pulls/{number}/files", params={"per_page": "100"},
            source="GitHub's pull request files API", items=_list(None),
            names=_names("filename", "previous_filename"), next_page=_numbered, cap=3000,
        )  # fmt: skip
    found = _push_range(delivery)
    if isinstance(found, str):
        return found
    before, after = found
    return Listing(
        path=f"/repos/{repo}/compare/{_segment(before)}...{_segment(after)}", params={},
        source="GitHub's compare API", items=_list("files"),
        names=_names("filename", "previous_filename"), next_page=_none, cap=300,
    )  # fmt: skip


# -- GitLab ------------------------------------------------------------------------------


def _gitlab_project(payload: Mapping[str, Any], repository: str | None) -> str | None:
    found = _number(payload, "project", "id") or _number(payload, "project_id")
    if found is not None:
        return str(found)
    return _segment(repository) if repository else None


def _gitlab_listing(delivery: Delivery) -> Listing | str:
    project = _gitlab_project(delivery.payload, delivery.repository)
    if project is None:
        return "the delivery names no project"
    names = _names("new_path", "old_path")
    if delivery.event.startswith("pull_request"):
        iid = _number(delivery.payload, "object_attributes", "iid")
        if iid is None:
            return "the delivery names no merge request iid"
        return Listing(
            path=f"/projects/{project}/merge_requests/{iid}/diffs", params={"per_page": "100"},
            source="GitLab's merge request diffs API", items=_list(None), names=names,
            next_page=_gitlab_next, cap=3000,
        )  # fmt: skip
    found = _push_range(delivery)
    if isinstance(found, str):
        return found
    before, after = found
    return Listing(
        path=f"/projects/{project}/repository/compare", params={"from": before, "to": after},
        source="GitLab's compare API", items=_list("diffs"), names=names, next_page=_none,
        cap=3000, too_large=lambda data: isinstance(data, Mapping)
        and bool(data.get("compare_timeout") or data.get("overflow")),
    )  # fmt: skip


# -- Gitea and Forgejo -------------------------------------------------------------------


def _gitea_listing(delivery: Delivery) -> Listing | str:
    repo = _owner_repo(delivery)
    if repo is None:
        return "the delivery names no owner/repository"
    if not delivery.event.startswith("pull_request"):
        return "hookd asks this forge's API only for a pull request's files"
    number = _number(delivery.payload, "pull_request", "number")
    if number is None:
        return "the delivery names no pull request number"
    return Listing(
        path=f"/repos/{repo}/pulls/{number}/files", params={"limit": "50"},
        source="the pull request files API", items=_list(None),
        names=_names("filename", "previous_filename"), next_page=_gitea_next, cap=3000,
    )  # fmt: skip


# -- Bitbucket Cloud ---------------------------------------------------------------------


def _bitbucket_listing(delivery: Delivery) -> Listing | str:
    repo = _owner_repo(delivery)
    if repo is None:
        return "the delivery names no workspace/repository"
    base = f"/2.0/repositories/{repo}"
    if delivery.event.startswith("pull_request"):
        number = _number(delivery.payload, "pullrequest", "id")
        if number is None:
            return "the delivery names no pull request id"
        path, source = (
            f"{base}/pullrequests/{number}/diffstat",
            "Bitbucket's pull request diffstat API",
        )
    else:
        found = _push_range(delivery)
        if isinstance(found, str):
            return found
        before, after = found
        path = f"{base}/diffstat/{_segment(after)}..{_segment(before)}"
        source = "Bitbucket's diffstat API"
    return Listing(
        path=path, params={"pagelen": "500"}, source=source, items=_list("values"),
        names=_names("new.path", "old.path"), next_page=_bitbucket_next, cap=3000,
    )  # fmt: skip


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


FILE_APIS: Mapping[str, FileApi] = {
    Forge.GITHUB: FileApi(
        "GitHub's API",
        GITHUB_API_URL,
        lambda token: {**GITHUB_HEADERS, **_bearer(token)},
        _github_listing,
    ),
    Forge.GITLAB: FileApi(
        "GitLab's API", GITLAB_API_URL, lambda token: {"PRIVATE-TOKEN": token}, _gitlab_listing
    ),
    Forge.GITEA: FileApi(
        "Gitea's API", None, lambda token: {"Authorization": f"token {token}"}, _gitea_listing
    ),
    Forge.FORGEJO: FileApi(
        "Forgejo's API", None, lambda token: {"Authorization": f"token {token}"}, _gitea_listing
    ),
    Forge.BITBUCKET: FileApi("Bitbucket's API", BITBUCKET_API_URL, _bearer, _bitbucket_listing),
}
"""The forges whose API hookd asks for a delivery's changed files."""
