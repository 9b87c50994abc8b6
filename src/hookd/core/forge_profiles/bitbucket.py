"""Bitbucket Cloud: the event in `X-Event-Key` (`repo:push`, `pullrequest:created`...),
mapped onto GitHub's names by `EVENTS`; the delivery id in `X-Request-UUID`; an
HMAC-SHA256 of the raw body in `X-Hub-Signature` as `sha256=<hex>` (GitHub's SHA-1 header
name, carrying SHA-256). A push lists every ref it moved in `push.changes[]`.

Bitbucket Cloud's `pullrequest:updated` does not say what changed (the payload names the
source commit, never the one before), so it is `synchronize`: a hook that runs for new
commits runs for every update, and none is missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.facts import ZERO_SHA, Facts, RefUpdate, dig, no_listed_files, repository_name
from hookd.core.forge_profiles.base import (
    JSON,
    BodyCheck,
    ForgeProfile,
    Identity,
    hmac_check,
    prefixed,
    stripped,
)
from hookd.core.payload_reads import EACH
from hookd.core.signatures import sign
from hookd.core.vocabulary import Forge

SIGNATURE = "X-Hub-Signature"

EVENTS: Mapping[str, tuple[str, str | None]] = {
    "repo:push": ("push", None),
    "repo:fork": ("fork", None),
    "repo:updated": ("repository", "edited"),
    "repo:commit_comment_created": ("commit_comment", "created"),
    "repo:commit_status_created": ("status", None),
    "repo:commit_status_updated": ("status", None),
    "issue:created": ("issues", "opened"),
    "issue:updated": ("issues", "edited"),
    "issue:comment_created": ("issue_comment", "created"),
    "pullrequest:created": ("pull_request", "opened"),
    "pullrequest:updated": ("pull_request", "synchronize"),
    "pullrequest:fulfilled": ("pull_request", "closed"),
    "pullrequest:rejected": ("pull_request", "closed"),
    "pullrequest:approved": ("pull_request_review", "submitted"),
    "pullrequest:unapproved": ("pull_request_review", "dismissed"),
    "pullrequest:changes_request_created": ("pull_request_review", "submitted"),
    "pullrequest:changes_request_removed": ("pull_request_review", "dismissed"),
    "pullrequest:comment_created": ("issue_comment", "created"),
    "pullrequest:comment_updated": ("issue_comment", "edited"),
    "pullrequest:comment_deleted": ("issue_comment", "deleted"),
}
"""Bitbucket Cloud's event key → hookd's (GitHub's) event and action. A pull request
comment with `comment.inline` (on a line of the diff) is a `pull_request_review_comment`
instead. Keys not listed keep their own name and have no action."""

INLINE_COMMENT = "pull_request_review_comment"


def event_actions(events: Mapping[str, tuple[str, str | None]]) -> dict[str, frozenset[str]]:
    """hookd's event → the actions a table of a forge's events gives it."""
    found: dict[str, set[str]] = {}
    for event, action in events.values():
        found.setdefault(event, set()).update({action} if action else ())
    return {event: frozenset(actions) for event, actions in found.items()}


ACTIONS: Mapping[str, frozenset[str]] = {
    **event_actions(EVENTS),
    INLINE_COMMENT: frozenset({"created", "edited", "deleted"}),
}
"""hookd's events a Bitbucket Cloud endpoint receives, and each one's actions."""


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    return stripped(headers.get("x-event-key"), headers.get("x-request-uuid"), "X-Event-Key")


def _sent(headers: Headers) -> tuple[str, str] | Rejection | None:
    value = headers.get("x-hub-signature")
    if not value:
        return None
    return prefixed(value, "sha256=", "sha256", SIGNATURE)


def verify(spec: EndpointSpec, headers: Headers) -> BodyCheck | Rejection | None:
    return hmac_check(spec, _sent(headers), SIGNATURE)


def sign_headers(
    secret: bytes, signed: bytes, scheme: SignatureScheme, now: float
) -> dict[str, str]:
    return {SIGNATURE: f"sha256={sign(secret, signed)}"}


def signature_header(spec: EndpointSpec) -> str:
    return SIGNATURE


def _inline(event: str, payload: Mapping[str, Any]) -> str:
    """A pull request comment on a line of the diff is a review comment (GitHub's word)."""
    if event == "issue_comment" and "pullrequest" in payload and dig(payload, "comment", "inline"):
        return INLINE_COMMENT
    return event


def event_name(forge_event: str, payload: Mapping[str, Any]) -> str:
    mapped = EVENTS.get(forge_event)
    return forge_event if mapped is None else _inline(mapped[0], payload)


def action(forge_event: str, payload: Mapping[str, Any]) -> str | None:
    mapped = EVENTS.get(forge_event)
    return None if mapped is None else mapped[1]


def _ref(side: Any) -> str | None:
    """`refs/heads/<name>` or `refs/tags/<name>` of a push change's `old` or `new`."""
    name = dig(side, "name") if isinstance(side, Mapping) else None
    if not isinstance(name, str) or not name:
        return None
    return f"refs/tags/{name}" if "tag" in str(side.get("type")) else f"refs/heads/{name}"


def _hash(side: Any) -> str:
    found = dig(side, "target", "hash") if isinstance(side, Mapping) else None
    return found if isinstance(found, str) and found else ZERO_SHA


def ref_updates(payload: Mapping[str, Any]) -> tuple[RefUpdate, ...]:
    """Each of `push.changes[]`: a created ref has no `old`, a deleted one no `new`."""
    changes = dig(payload, "push", "changes")
    updates = []
    for change in changes if isinstance(changes, list) else ():
        if not isinstance(change, Mapping):
            continue
        old, new = change.get("old"), change.get("new")
        ref = _ref(new) or _ref(old)
        if ref is not None:
            updates.append(RefUpdate(ref, _hash(old), _hash(new)))
    return tuple(updates)


def _first_ref(payload: Mapping[str, Any]) -> str | None:
    updates = ref_updates(payload)
    return updates[0].ref if updates else None


def sha(payload: Mapping[str, Any]) -> str | None:
    """A push's first change's new commit; a pull request's source commit; a commented
    or built commit."""
    updates = ref_updates(payload)
    if updates:
        return updates[0].after
    for path in (
        ("pullrequest", "source", "commit", "hash"),
        ("commit", "hash"),
        ("commit_status", "commit", "hash"),
    ):
        found = dig(payload, *path)
        if isinstance(found, str) and found:
            return found
    return None


def base_branch(payload: Mapping[str, Any]) -> str | None:
    found = dig(payload, "pullrequest", "destination", "branch", "name")
    return found if isinstance(found, str) and found else None


_SIDES = ("old", "new")
FACTS = Facts(
    repository=repository_name,
    ref=_first_ref,
    sha=sha,
    ref_updates=ref_updates,
    base_branch=base_branch,
    listed_files=no_listed_files,
    reads=(
        ("repository", "full_name"),
        *(("push", "changes", EACH, side, key) for side in _SIDES for key in ("name", "type")),
        *(("push", "changes", EACH, side, "target", "hash") for side in _SIDES),
        ("pullrequest", "source", "commit", "hash"),
        ("pullrequest", "destination", "branch", "name"),
        ("commit", "hash"),
        ("commit_status", "commit", "hash"),
    ),
)

BITBUCKET = ForgeProfile(
    forge=Forge.BITBUCKET,
    label="Bitbucket Cloud",
    identify=identify,
    verify=verify,
    sign=sign_headers,
    signature_header=signature_header,
    event_name=event_name,
    action=action,
    action_reads=(("comment", "inline"),),
    known_events=frozenset(ACTIONS),
    signature_headers=frozenset({"x-hub-signature"}),
    body_kinds=frozenset({JSON}),
    facts=FACTS,
)
