"""hookd's own sample deliveries, for `hookd send EVENT [--action A]` (like `stripe trigger`).

Each sample is a JSON file named `<forge>-<event>[-<action>].json`, written by us in the shape
of the forge's payloads (same keys as the forge's documented examples) about one made-up
repository, `hookd-example/website`. They are hookd's own values, not copies of anyone's
example payloads. Each sample is delivered at `SAMPLE_TIME`: none of its timestamps is later.

GitLab samples are named by `object_kind` (`merge_request`, `issue`, `note`); hookd's
GitHub-style names for them (`pull_request`, `issues`, `issue_comment`) are accepted too.
Bitbucket samples are named by hookd's event names; the forge's event keys (`repo:push`,
`pr:opened`) are accepted too, and are what `X-Event-Key` carries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from hookd.core.events import gitlab_action
from hookd.core.vocabulary import Forge

FORGES = (
    Forge.GITHUB,
    Forge.GITLAB,
    Forge.GITEA,
    Forge.FORGEJO,
    Forge.GOGS,
    Forge.BITBUCKET,
    Forge.BITBUCKET_SERVER,
    Forge.STANDARD,
    Forge.AZURE_DEVOPS,
)
"""The forges hookd has samples of."""

# The action `load_sample` picks when none is given and the event has several.
DEFAULT_ACTIONS: dict[str, str] = {
    "check_suite": "completed",
    "issue_comment": "created",
    "issues": "opened",
    "pull_request": "opened",
    "release": "published",
    "star": "created",
    "workflow_run": "completed",
}

SAMPLE_TIME = datetime(2025, 6, 12, 9, 41, 27, tzinfo=UTC)

# Ids that the GitHub samples and `delivery_headers` share: the ping's hook and the repository.
GITHUB_HOOK_ID = 538190442
GITHUB_REPOSITORY_ID = 902417365
GITLAB_INSTANCE = "https://gitlab.example.com"

# hookd's event names (hookd.core.events) for GitLab's object kinds.
_GITLAB_ALIASES = {"pull_request": "merge_request", "issues": "issue", "issue_comment": "note"}
# Bitbucket's event keys of the samples: hookd's name → the key, per forge.
_BITBUCKET_KEYS: dict[str, dict[str, str]] = {
    Forge.BITBUCKET: {"push": "repo:push", "pull_request": "pullrequest:created"},
    Forge.BITBUCKET_SERVER: {
        "push": "repo:refs_changed",
        "pull_request": "pr:opened",
    },
}
_EVENT_ALIASES: dict[str, dict[str, str]] = {
    Forge.GITLAB: _GITLAB_ALIASES,
    **{
        forge: {key: event for event, key in keys.items()}
        for forge, keys in _BITBUCKET_KEYS.items()
    },
}
"""hookd's event names a forge's samples are also found under."""

# `X-Gitlab-Event` per object_kind: gitlabhq app/services/web_hook_service.rb, see
# shared/design/FORGES.md section 2.
_GITLAB_HOOKS = {
    "push": "Push Hook",
    "tag_push": "Tag Push Hook",
    "merge_request": "Merge Request Hook",
    "note": "Note Hook",
    "issue": "Issue Hook",
    "pipeline": "Pipeline Hook",
    "build": "Job Hook",
    "wiki_page": "Wiki Page Hook",
    "deployment": "Deployment Hook",
    "release": "Release Hook",
}

# What changes from one delivery to the next: (sha paths, head first; id paths).
_FRESH: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "github-push": (("after",), ()),
    "github-pull_request-opened": (("pull_request.head.sha",), ()),
    "github-pull_request-synchronize": (("pull_request.head.sha",), ()),
    "github-pull_request-closed": (
        ("pull_request.head.sha", "pull_request.merge_commit_sha"),
        (),
    ),
    "github-issues-opened": ((), ("issue.id",)),
    "github-issue_comment-created": ((), ("comment.id",)),
    "github-release-published": ((), ("release.id",)),
    "github-workflow_run-completed": (
        ("workflow_run.head_sha",),
        ("workflow_run.id", "workflow_run.check_suite_id"),
    ),
    "github-check_suite-completed": (("check_suite.head_sha",), ("check_suite.id",)),
    "gitlab-push": (("after",), ()),
    "gitlab-tag_push": (("checkout_sha", "after"), ()),
    "gitlab-merge_request": (("object_attributes.last_commit.id",), ("object_attributes.id",)),
    "gitlab-note": ((), ("object_attributes.id",)),
    "gitlab-issue": ((), ("object_attributes.id",)),
    "gitlab-pipeline": (
        ("object_attributes.sha",),
        ("object_attributes.id", "builds.0.id", "builds.1.id", "builds.2.id"),
    ),
    "gitea-push": (("after",), ()),
    "gitea-pull_request-opened": (("pull_request.head.sha",), ("pull_request.id",)),
    "gitea-issues-opened": ((), ("issue.id",)),
    "gitea-create": (("sha",), ()),
    "bitbucket-push": (("push.changes.0.new.target.hash",), ()),
    "bitbucket-pull_request-opened": (
        ("pullrequest.source.commit.hash",),
        ("pullrequest.id",),
    ),
    "bitbucket-server-push": (("changes.0.toHash",), ()),
    "bitbucket-server-pull_request-opened": (
        ("pullRequest.fromRef.latestCommit",),
        ("pullRequest.id",),
    ),
    "gogs-push": (("after",), ()),
    "gogs-pull_request-opened": ((), ("pull_request.id",)),
    "forgejo-push": (("after",), ()),
    "forgejo-pull_request_approved": (("pull_request.head.sha",), ()),
    "azure-devops-git.push": (("resource.refUpdates.0.newObjectId",), ("resource.pushId",)),
    "azure-devops-git.pullrequest.created": (
        ("resource.lastMergeSourceCommit.commitId",),
        ("resource.pullRequestId",),
    ),
}

# String ids each delivery makes anew (Azure DevOps' notification id, its delivery id).
_FRESH_UUIDS: dict[str, tuple[str, ...]] = {
    "azure-devops-git.push": ("id",),
    "azure-devops-git.pullrequest.created": ("id",),
    "standard-invoice.paid": ("data.invoice",),
}

# Bitbucket Data Center writes the offset without a colon: `+0100`.
_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)")
_GITLAB_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")
# An id inside a URL or anchor: `/hooks/123/pings`, `#issuecomment-123`, `#note_123`.
_ID_BEFORE = r"(?<=[/#=_-])"
_ID_AFTER = r"(?=$|[/?#.&])"

SampleKey = tuple[str, str, str | None]


@functools.cache
def _index() -> dict[SampleKey, str]:
    """(forge, event, action) → sample name, for every JSON file shipped in this package."""
    found: dict[SampleKey, str] = {}
    for entry in resources.files(__name__).iterdir():
        if not entry.name.endswith(".json"):
            continue
        name = entry.name.removesuffix(".json")
        # The forge is the longest name that prefixes it (`bitbucket-server-push`).
        forge = max((f for f in FORGES if name.startswith(f"{f}-")), key=len)
        event, *action = name.removeprefix(f"{forge}-").split("-", 1)
        found[(forge, event, action[0] if action else None)] = name
    return found


def sample_names() -> list[str]:
    """Every sample's name, `<forge>-<event>[-<action>]`, sorted."""
    return sorted(_index().values())


def load_sample(forge: str, event: str, action: str | None = None) -> bytes:
    """The sample's bytes, exactly as shipped.

    With `action` None: the event's only sample, else its `DEFAULT_ACTIONS` one. A sample
    named without an action also answers to the action its payload carries (GitLab's
    `merge_request` sample is `open`, or `opened` in hookd's words). Raises `LookupError`
    naming the samples that exist for the forge."""
    return _read(_resolve(forge, event, action))


def fresh_sample(
    forge: str, event: str, action: str | None = None, *, now: datetime, nonce: str
) -> bytes:
    """The sample made to look like a new event: the head commit sha (and any other sha or id
    the event creates) derived from `nonce`, and every timestamp moved by `now - SAMPLE_TIME`
    (to the second), so the sample happens at `now` and its history just before. Samples
    whose event creates nothing of its own (GitHub's ping, star, create and delete) change
    only their timestamps."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(UTC)")
    name = _resolve(forge, event, action)
    payload = json.loads(_read(name))
    sha_paths, id_paths = _FRESH.get(name, ((), ()))
    shas: dict[str, str] = {}
    for path in sha_paths:
        old = _get(payload, path)
        new = _digest(name, path, nonce, "sha1")
        shas[old] = new
        shas[old[:12]] = new[:12]
    ids: dict[str, str] = {}
    for path in id_paths:
        old_id = _get(payload, path)
        new_id = old_id + 1 + int(_digest(name, path, nonce, "sha256")[:8], 16) % 1_000_000
        _set(payload, path, new_id)
        ids[str(old_id)] = str(new_id)
    for path in _FRESH_UUIDS.get(name, ()):
        _set(payload, path, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}:{path}:{nonce}")))
    delta = now.replace(microsecond=0) - SAMPLE_TIME
    fresh = _Refresher(shas, ids, delta).walk(payload, key="")
    return json.dumps(fresh, indent=2, ensure_ascii=False).encode()


def delivery_headers(forge: str, event: str, *, delivery_id: str) -> dict[str, str]:
    """The headers the forge sends with a delivery of `event`, except the signature or token
    (the sender adds those). `delivery_id` goes where the forge puts its delivery id.
    Sources: shared/design/FORGES.md."""
    headers = _SENDERS.get(forge)
    if headers is None:
        raise LookupError(_unknown_forge(forge))
    return headers(event, delivery_id)


def _github_headers(event: str, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/hookd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": str(GITHUB_HOOK_ID),
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": str(GITHUB_REPOSITORY_ID),
    }


def _gitlab_headers(event: str, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.0.0",
        "X-Gitlab-Event": gitlab_hook_name(event),
        "X-Gitlab-Instance": GITLAB_INSTANCE,
        "X-Gitlab-Webhook-UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"webhook:{delivery_id}")),
        "X-Gitlab-Event-UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"event:{delivery_id}")),
        "Idempotency-Key": delivery_id,
    }


def _gitea_headers(event: str, delivery_id: str) -> dict[str, str]:
    # Gitea sends each value three times, under its own, Gogs' and GitHub's names.
    headers = {"Content-Type": "application/json"}
    for prefix in ("X-Gitea", "X-Gogs", "X-GitHub"):
        headers[f"{prefix}-Event"] = event
        headers[f"{prefix}-Event-Type"] = event
        headers[f"{prefix}-Delivery"] = delivery_id
    return headers


def _bitbucket_headers(event: str, delivery_id: str) -> dict[str, str]:
    key = _BITBUCKET_KEYS[Forge.BITBUCKET].get(event, event)
    return {
        "Content-Type": "application/json",
        "User-Agent": "Bitbucket-Webhooks/2.0",
        "X-Event-Key": key,
        "X-Request-UUID": delivery_id,
        "X-Attempt-Number": "1",
    }


def _bitbucket_server_headers(event: str, delivery_id: str) -> dict[str, str]:
    key = _BITBUCKET_KEYS[Forge.BITBUCKET_SERVER].get(event, event)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Atlassian HttpClient",
        "X-Event-Key": key,
        "X-Request-Id": delivery_id,
    }


def _forgejo_headers(event: str, delivery_id: str) -> dict[str, str]:
    # Forgejo sends Gitea's headers and its own.
    headers = _gitea_headers(event, delivery_id)
    headers.update({"X-Forgejo-Event": event, "X-Forgejo-Event-Type": event})
    headers["X-Forgejo-Delivery"] = delivery_id
    return headers


def _gogs_headers(event: str, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gogs-Event": event,
        "X-Gogs-Delivery": delivery_id,
    }


def _body_named_headers(event: str, delivery_id: str) -> dict[str, str]:
    # Standard Webhooks and Azure DevOps name the event in the body; the signature (with its
    # webhook-id) or the Basic authentication is the sender's to add.
    return {"Content-Type": "application/json"}


_SENDERS: dict[str, Callable[[str, str], dict[str, str]]] = {
    Forge.GITHUB: _github_headers,
    Forge.GITLAB: _gitlab_headers,
    Forge.GITEA: _gitea_headers,
    Forge.BITBUCKET: _bitbucket_headers,
    Forge.BITBUCKET_SERVER: _bitbucket_server_headers,
    Forge.FORGEJO: _forgejo_headers,
    Forge.GOGS: _gogs_headers,
    Forge.STANDARD: _body_named_headers,
    Forge.AZURE_DEVOPS: _body_named_headers,
}
"""How each forge with samples sends them: its headers for an event and a delivery id."""


def gitlab_hook_name(event: str) -> str:
    """`X-Gitlab-Event` for an object_kind (or hookd's name for it): `tag_push` → `Tag Push
    Hook`. A value that already ends in ` Hook` is returned as it is."""
    if event.endswith(" Hook"):
        return event
    kind = _GITLAB_ALIASES.get(event, event)
    return _GITLAB_HOOKS.get(kind) or " ".join(w.title() for w in kind.split("_")) + " Hook"


def _read(name: str) -> bytes:
    return resources.files(__name__).joinpath(f"{name}.json").read_bytes()


def _resolve(forge: str, event: str, action: str | None) -> str:
    index = _index()
    if forge not in FORGES:
        raise LookupError(_unknown_forge(forge))
    event = _EVENT_ALIASES.get(forge, {}).get(event, event)
    plain = index.get((forge, event, None))
    if action is None:
        chosen = plain or index.get((forge, event, DEFAULT_ACTIONS.get(event)))
    else:
        chosen = index.get((forge, event, action))
        if chosen is None and plain is not None and action in _own_actions(plain):
            chosen = plain
    if chosen is not None:
        return chosen
    what = repr(event) if action is None else f"{event!r} with action {action!r}"
    raise LookupError(f"no {forge} sample for {what}; try one of: {_choices(forge)}")


def _own_actions(name: str) -> list[str]:
    """The action a sample's payload carries: the forge's word first, then hookd's."""
    payload = json.loads(_read(name))
    attrs = payload.get("object_attributes")
    forge_word = attrs.get("action") if isinstance(attrs, dict) else payload.get("action")
    found = [forge_word, gitlab_action(payload)]
    return [a for i, a in enumerate(found) if isinstance(a, str) and a not in found[:i]]


def _choices(forge: str) -> str:
    """`push, pull_request (opened, closed, synchronize), ...`: the default action first; a
    sample named without an action shows the action its payload carries."""
    actions: dict[str, list[str]] = {}
    for (f, event, action), name in _index().items():
        if f == forge:
            actions.setdefault(event, []).extend([action] if action else _own_actions(name)[:1])
    parts = []
    for event, names in sorted(actions.items()):
        default = DEFAULT_ACTIONS.get(event)
        names.sort(key=lambda a: (a != default, a))
        parts.append(f"{event} ({', '.join(names)})" if names else event)
    return ", ".join(parts)


def _unknown_forge(forge: str) -> str:
    return f"no samples for forge {forge!r}; try one of: {', '.join(FORGES)}"


def _digest(name: str, path: str, nonce: str, algorithm: str) -> str:
    seed = f"hookd:{name}:{path}:{nonce}".encode()
    return hashlib.new(algorithm, seed, usedforsecurity=False).hexdigest()


def _get(payload: Any, path: str) -> Any:
    for part in path.split("."):
        payload = payload[int(part)] if isinstance(payload, list) else payload[part]
    return payload


def _set(payload: Any, path: str, value: object) -> None:
    parent, _, last = path.rpartition(".")
    target = _get(payload, parent) if parent else payload
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


class _Refresher:
    """Rewrites a payload: old shas and ids to new ones, every timestamp moved by `delta`."""

    def __init__(self, shas: dict[str, str], ids: dict[str, str], delta: timedelta) -> None:
        self._shas = shas
        self._ids = ids
        self._delta = delta
        # Longest first, so a full sha is replaced before its 12-character prefix.
        self._sha_re = _alternation(sorted(shas, key=len, reverse=True), "", "")
        self._id_re = _alternation(list(ids), _ID_BEFORE, _ID_AFTER)

    def walk(self, value: Any, key: str) -> Any:
        if isinstance(value, dict):
            return {k: self.walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, key) for v in value]
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, int) and not isinstance(value, bool) and key.endswith("_at"):
            # GitHub's push event gives the repository's created_at/pushed_at in epoch seconds.
            return value + int(self._delta.total_seconds()) if value >= 10**9 else value
        return value

    def _text(self, text: str) -> str:
        moved = self._moved_time(text)
        if moved is not None:
            return moved
        if self._sha_re is not None:
            text = self._sha_re.sub(lambda m: self._shas[m.group(0)], text)
        if self._id_re is not None:
            text = self._id_re.sub(lambda m: self._ids[m.group(0)], text)
        return text

    def _moved_time(self, text: str) -> str | None:
        """`text` moved by delta in its own format, or None when it is not a timestamp.
        Go's zero time (Gitea's "never") stays as it is."""
        if m := _ISO.fullmatch(text):
            base, fraction, zone = m.group(1), m.group(2) or "", m.group(3)
            when = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
            if when.year < 1970:
                return None
            return f"{(when + self._delta).strftime('%Y-%m-%dT%H:%M:%S')}{fraction}{zone}"
        if m := _GITLAB_TIME.fullmatch(text):
            when = datetime.fromisoformat(m.group(1))
            return f"{(when + self._delta).strftime('%Y-%m-%d %H:%M:%S')} UTC"
        return None


def _alternation(tokens: list[str], before: str, after: str) -> re.Pattern[str] | None:
    if not tokens:
        return None
    return re.compile(before + "(?:" + "|".join(map(re.escape, tokens)) + ")" + after)
