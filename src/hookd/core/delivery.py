"""The values the core passes around: a verified delivery, or a rejection with a sentence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hookd.core.facts import PAYLOAD_FACTS, Facts, RefUpdate

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
    ref_update: RefUpdate | None = None
    """For a job run for one ref of a delivery carrying several: that ref, whose name and
    commits `ref`, `before` and `sha` then give."""

    @property
    def is_ping(self) -> bool:
        """A forge's test event: answered `pong`, recorded, and runs no hook."""
        return self.event == "ping"

    @property
    def facts(self) -> Facts:
        """Where this delivery's forge keeps its facts (its profile's)."""
        return facts_of(self.forge)

    @property
    def repository(self) -> str | None:
        return self.facts.repository(self.payload)

    @property
    def ref_updates(self) -> tuple[RefUpdate, ...]:
        """Every ref the delivery moved (several in one Bitbucket push)."""
        return self.facts.ref_updates(self.payload)

    @property
    def ref(self) -> str | None:
        if self.ref_update is not None:
            return self.ref_update.ref
        return self.facts.ref(self.payload)

    @property
    def before(self) -> str | None:
        """The commit the ref was at before a push (of `ref_update` for a job of one ref)."""
        if self.ref_update is not None:
            return self.ref_update.before
        updates = self.ref_updates
        return updates[0].before if updates else None

    @property
    def sha(self) -> str | None:
        if self.ref_update is not None:
            return self.ref_update.after
        return self.facts.sha(self.payload)


FORGE_FACTS: dict[str, Facts] = {}
"""Each forge's facts, filled in by `hookd.core.forge_profiles` from its profiles (which
import this module, so it cannot import them)."""


def facts_of(forge: str) -> Facts:
    """Where `forge`'s payloads keep hookd's facts (GitHub's shapes for a forge hookd does
    not know)."""
    return FORGE_FACTS.get(forge, PAYLOAD_FACTS)
