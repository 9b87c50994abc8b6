"""What hookd reads of a payload about the code it concerns: the repository, the ref and
commits, and the ref a pull request targets. Each forge profile says where its payloads
keep them (`Facts`); `PAYLOAD_FACTS` reads GitHub's, GitLab's and Gitea's shapes.

A delivery may carry several refs (Bitbucket's `push.changes[]`): `ref_updates` lists them,
each a `RefUpdate`, and a hook runs once per matching one, as if the forge had sent one
delivery per ref (as GitHub does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hookd.core.payload_reads import Step
from hookd.core.rules import changed_files

ZERO_SHA = "0" * 40
"""What a push's `before` or `after` is when the ref was created or deleted (GitHub's)."""


@dataclass(frozen=True, slots=True)
class RefUpdate:
    """One ref a delivery moved: its full name (`refs/heads/main`), and the commit before
    and after (`ZERO_SHA` for a ref created or deleted)."""

    ref: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class Facts:
    """Where one forge's payloads keep hookd's facts."""

    repository: Callable[[Mapping[str, Any]], str | None]
    """`owner/name` of the repository."""
    ref: Callable[[Mapping[str, Any]], str | None]
    """The ref a delivery is about, as the payload writes it."""
    sha: Callable[[Mapping[str, Any]], str | None]
    """The commit a delivery is about: a push's `after`, a pull request's head."""
    ref_updates: Callable[[Mapping[str, Any]], tuple[RefUpdate, ...]]
    """Every ref the delivery moved; empty for deliveries about no ref update."""
    base_branch: Callable[[Mapping[str, Any]], str | None] | None
    """A pull request's target branch (a bare name), for the branch filters; None: the
    matcher reads GitHub's and GitLab's shapes itself (core.rules)."""
    reads: tuple[tuple[Step, ...], ...]
    """The payload paths these read (a large body is scanned for these only)."""
    listed_files: Callable[[str, Mapping[str, Any]], tuple[str, ...] | None] = field(
        default=lambda event, payload: payload_listed_files(event, payload)
    )
    """From hookd's event name and the payload: every file the delivery changed, when the
    payload lists them all; None when it does not (the paths filters then ask the forge's
    API, hookd.changed_files)."""


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def dig(payload: Mapping[str, Any], *path: str) -> Any:
    """The value at `path` in nested objects, or None when any step is missing."""
    value: Any = payload
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def repository_name(payload: Mapping[str, Any]) -> str | None:
    """`owner/name` of the payload's repository, for GitHub, Gitea and GitLab shapes (a
    GitLab `Job Hook` names it only in its `repository.homepage` URL's path)."""
    repo = payload.get("repository")
    if isinstance(repo, Mapping):
        name = repo.get("full_name") or repo.get("path_with_namespace")
        if isinstance(name, str):
            return name
    project = payload.get("project")
    if isinstance(project, Mapping):
        name = project.get("path_with_namespace")
        if isinstance(name, str):
            return name
    if isinstance(repo, Mapping):
        return _homepage_path(repo.get("homepage"))
    return None


def _homepage_path(homepage: object) -> str | None:
    """`group/project` from a repository's web address, `https://host/group/project`."""
    if not isinstance(homepage, str):
        return None
    parts = urlsplit(homepage)
    path = parts.path.strip("/")
    return path if parts.scheme in ("http", "https") and "/" in path else None


def payload_ref(payload: Mapping[str, Any]) -> str | None:
    ref = payload.get("ref")
    return ref if isinstance(ref, str) else None


def head_sha(payload: Mapping[str, Any]) -> str | None:
    """The commit a delivery is about: a push's `after`, a pull request's head."""
    for key in ("after", "checkout_sha"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    for key in ("pull_request", "object_attributes"):
        obj = payload.get(key)
        if isinstance(obj, Mapping):
            head = obj.get("head")
            if isinstance(head, Mapping) and isinstance(head.get("sha"), str):
                return str(head["sha"])
            last = obj.get("last_commit")
            if isinstance(last, Mapping) and isinstance(last.get("id"), str):
                return str(last["id"])
    return None


GITHUB_COMMITS_CAP = 2048
"""GitHub's push payload: "The array includes a maximum of 2048 commits. If necessary, you
can use the Commits API to fetch additional commits." (Webhook events and payloads, push.)"""


def payload_listed_files(event: str, payload: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The files a GitHub, GitLab or Gitea push's commits list, when they are all of them.

    None for pull and merge requests (their payloads list no files), for a push whose
    `commits` the forge cut: GitLab lists 20 and says how many there were in
    `total_commits_count` ("Push events", Webhook events), Gitea in `total_commits`, and
    GitHub lists at most `GITHUB_COMMITS_CAP`.
    """
    if event.startswith("pull_request"):
        return None
    commits = payload.get("commits")
    listed = len(commits) if isinstance(commits, list) else 0
    for key in ("total_commits_count", "total_commits"):
        total = payload.get(key)
        if isinstance(total, int) and not isinstance(total, bool) and total > listed:
            return None
    if listed >= GITHUB_COMMITS_CAP:
        return None
    return changed_files(payload)


def no_listed_files(event: str, payload: Mapping[str, Any]) -> tuple[str, ...] | None:
    """For forges whose payloads list no changed files (Bitbucket: a push's `changes[]`
    name commits without their files, and are cut at 5, `truncated`)."""
    return None


def single_update(payload: Mapping[str, Any]) -> tuple[RefUpdate, ...]:
    """The one ref a GitHub, GitLab or Gitea push names at its top level, if it does."""
    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref.startswith("refs/"):
        return ()
    return (RefUpdate(ref, _string(payload.get("before")), _string(payload.get("after"))),)


PAYLOAD_FACTS = Facts(
    repository=repository_name,
    ref=payload_ref,
    sha=head_sha,
    ref_updates=single_update,
    base_branch=None,
    reads=(
        ("repository", "full_name"),
        ("repository", "path_with_namespace"),
        ("project", "path_with_namespace"),
        ("repository", "homepage"),
        ("ref",),
        ("before",),
        ("after",),
        ("checkout_sha",),
        *((key, "head", "sha") for key in ("pull_request", "object_attributes")),
        *((key, "last_commit", "id") for key in ("pull_request", "object_attributes")),
    ),
)
"""GitHub's, GitLab's and Gitea's payloads."""

__all__ = ["PAYLOAD_FACTS", "ZERO_SHA", "Facts", "RefUpdate", "dig", "no_listed_files"]
