"""Bitbucket Server and Data Center: the event in `X-Event-Key` (the body's `eventKey`:
`repo:refs_changed`, `pr:opened`...), mapped onto GitHub's names by `EVENTS`; the delivery
id in `X-Request-Id`; an HMAC-SHA256 of the raw body in `X-Hub-Signature` as
`sha256=<hex>`, as Bitbucket Cloud signs. `diagnostics:ping` (the "Test connection"
button) is hookd's `ping`. A push lists every ref it moved in `changes[]`.

`pr:from_ref_updated` (new commits on the source branch) is `synchronize`; `pr:modified`
(title, description or target changed) is `edited`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookd.core.delivery import Headers
from hookd.core.endpoint import EndpointSpec
from hookd.core.facts import ZERO_SHA, Facts, RefUpdate, dig, no_listed_files
from hookd.core.forge_profiles.base import JSON, ForgeProfile, Identity, stripped
from hookd.core.forge_profiles.bitbucket import (
    SIGNATURE,
    event_actions,
    sign_headers,
    signature_header,
    verify,
)
from hookd.core.payload_reads import EACH
from hookd.core.vocabulary import Forge

EVENTS: Mapping[str, tuple[str, str | None]] = {
    "diagnostics:ping": ("ping", None),
    "repo:refs_changed": ("push", None),
    "repo:modified": ("repository", "edited"),
    "repo:forked": ("fork", None),
    "repo:comment:added": ("commit_comment", "created"),
    "repo:comment:edited": ("commit_comment", "edited"),
    "repo:comment:deleted": ("commit_comment", "deleted"),
    "pr:opened": ("pull_request", "opened"),
    "pr:from_ref_updated": ("pull_request", "synchronize"),
    "pr:modified": ("pull_request", "edited"),
    "pr:merged": ("pull_request", "closed"),
    "pr:declined": ("pull_request", "closed"),
    "pr:deleted": ("pull_request", "closed"),
    "pr:reviewer:approved": ("pull_request_review", "submitted"),
    "pr:reviewer:needs_work": ("pull_request_review", "submitted"),
    "pr:reviewer:unapproved": ("pull_request_review", "dismissed"),
    "pr:reviewer:updated": ("pull_request", "review_requested"),
    "pr:comment:added": ("issue_comment", "created"),
    "pr:comment:edited": ("issue_comment", "edited"),
    "pr:comment:deleted": ("issue_comment", "deleted"),
}
"""Bitbucket Data Center's event key → hookd's (GitHub's) event and action. A pull
request comment with `comment.anchor` (on a line of the diff) is a
`pull_request_review_comment` instead; `pr:reviewer:updated` that only removed reviewers
(`addedReviewers` empty) is `review_request_removed`. Keys not listed keep their own name
and have no action."""

INLINE_COMMENT = "pull_request_review_comment"

ACTIONS: Mapping[str, frozenset[str]] = {
    **{
        event: actions | ({"review_request_removed"} if event == "pull_request" else set())
        for event, actions in event_actions(EVENTS).items()
    },
    INLINE_COMMENT: frozenset({"created", "edited", "deleted"}),
}
"""hookd's events a Bitbucket Data Center endpoint receives, and each one's actions."""


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    return stripped(headers.get("x-event-key"), headers.get("x-request-id"), "X-Event-Key")


def event_name(forge_event: str, payload: Mapping[str, Any]) -> str:
    mapped = EVENTS.get(forge_event)
    if mapped is None:
        return forge_event
    if mapped[0] == "issue_comment" and dig(payload, "comment", "anchor"):
        return INLINE_COMMENT
    return mapped[0]


def action(forge_event: str, payload: Mapping[str, Any]) -> str | None:
    mapped = EVENTS.get(forge_event)
    if mapped is None:
        return None
    if forge_event == "pr:reviewer:updated" and not payload.get("addedReviewers"):
        return "review_request_removed"
    return mapped[1]


def _repository(repo: Any) -> str | None:
    """`PROJECT/slug` of a Data Center repository object."""
    key, slug = dig(repo, "project", "key"), dig(repo, "slug")
    if isinstance(key, str) and key and isinstance(slug, str) and slug:
        return f"{key}/{slug}"
    return None


def repository(payload: Mapping[str, Any]) -> str | None:
    """The repository of a repository event, the target of a pull request's, the new one
    of `repo:modified`."""
    for path in (("repository",), ("pullRequest", "toRef", "repository"), ("new",)):
        found = _repository(dig(payload, *path))
        if found is not None:
            return found
    return None


def _hash(value: Any) -> str:
    return value if isinstance(value, str) and value else ZERO_SHA


def ref_updates(payload: Mapping[str, Any]) -> tuple[RefUpdate, ...]:
    """Each of `changes[]`: `ref.id` (or `refId`), `fromHash`, `toHash`."""
    changes = payload.get("changes")
    updates = []
    for change in changes if isinstance(changes, list) else ():
        if not isinstance(change, Mapping):
            continue
        ref = dig(change, "ref", "id") or change.get("refId")
        if isinstance(ref, str) and ref:
            updates.append(
                RefUpdate(ref, _hash(change.get("fromHash")), _hash(change.get("toHash")))
            )
    return tuple(updates)


def _first_ref(payload: Mapping[str, Any]) -> str | None:
    updates = ref_updates(payload)
    return updates[0].ref if updates else None


def sha(payload: Mapping[str, Any]) -> str | None:
    """A push's first change's new commit; a pull request's source commit; a commented
    commit."""
    updates = ref_updates(payload)
    if updates:
        return updates[0].after
    for found in (dig(payload, "pullRequest", "fromRef", "latestCommit"), payload.get("commit")):
        if isinstance(found, str) and found:
            return found
    return None


def base_branch(payload: Mapping[str, Any]) -> str | None:
    """The pull request's target: `toRef.displayId`, or `toRef.id` without `refs/heads/`."""
    found = dig(payload, "pullRequest", "toRef", "id")
    if isinstance(found, str) and found.startswith("refs/heads/"):
        return found.removeprefix("refs/heads/")
    shown = dig(payload, "pullRequest", "toRef", "displayId")
    return shown if isinstance(shown, str) and shown else None


_REPOSITORIES = (("repository",), ("pullRequest", "toRef", "repository"), ("new",))
FACTS = Facts(
    repository=repository,
    ref=_first_ref,
    sha=sha,
    ref_updates=ref_updates,
    base_branch=base_branch,
    listed_files=no_listed_files,
    reads=(
        *((*path, "slug") for path in _REPOSITORIES),
        *((*path, "project", "key") for path in _REPOSITORIES),
        *(
            ("changes", EACH, *key)
            for key in (("ref", "id"), ("refId",), ("fromHash",), ("toHash",))
        ),
        ("pullRequest", "fromRef", "latestCommit"),
        ("pullRequest", "toRef", "id"),
        ("pullRequest", "toRef", "displayId"),
        ("commit",),
    ),
)

BITBUCKET_SERVER = ForgeProfile(
    forge=Forge.BITBUCKET_SERVER,
    label="Bitbucket Data Center",
    identify=identify,
    verify=verify,
    sign=sign_headers,
    signature_header=signature_header,
    event_name=event_name,
    action=action,
    action_reads=(("comment", "anchor"), ("addedReviewers",)),
    known_events=frozenset(ACTIONS),
    signature_headers=frozenset({SIGNATURE.lower()}),
    body_kinds=frozenset({JSON}),
    facts=FACTS,
)
