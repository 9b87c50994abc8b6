"""The values the core passes around: a verified delivery, or a rejection with a sentence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Payload = dict[str, Any]
"""A parsed webhook payload: JSON's object, as the forge sent it."""

Body = bytes | bytearray
"""A raw request body: bytes, or the buffer a long body was read into (not copied again)."""


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers that keep their order and original names."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = tuple(items)
        self._index: dict[str, str] = {}
        for name, value in self._items:
            self._index.setdefault(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Any:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def items_raw(self) -> tuple[tuple[str, str], ...]:
        """Every header as received, in order, duplicates included."""
        return self._items


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is not a delivery: the HTTP status to answer and a sentence for people."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified, parsed delivery from a forge.

    `event` is hookd's event name (GitHub's names; GitLab's and Gitea's are mapped onto
    them), `forge_event` the event header as the forge sent it. `body` is the raw request
    body, byte for byte; `payload` the JSON it carries, or of a body over 1 MiB only the
    parts its endpoint's rules read (core.forges.read_payload).
    """

    endpoint: str
    forge: str
    event: str
    forge_event: str
    action: str | None
    delivery_id: str | None
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: Body
    payload: Payload = field(repr=False)

    @property
    def is_ping(self) -> bool:
        """A forge's test event: answered `pong`, recorded, and runs no hook."""
        return self.event == "ping"

    @property
    def repository(self) -> str | None:
        return repository_name(self.payload)

    @property
    def ref(self) -> str | None:
        ref = self.payload.get("ref")
        return ref if isinstance(ref, str) else None

    @property
    def sha(self) -> str | None:
        return head_sha(self.payload)


DELIVERY_READS = (
    ("repository", "full_name"),
    ("repository", "path_with_namespace"),
    ("project", "path_with_namespace"),
    ("repository", "homepage"),
    ("ref",),
    ("after",),
    ("checkout_sha",),
    *((key, "head", "sha") for key in ("pull_request", "object_attributes")),
    *((key, "last_commit", "id") for key in ("pull_request", "object_attributes")),
)
"""The payload paths `Delivery.repository`, `.ref` and `.sha` read."""


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
