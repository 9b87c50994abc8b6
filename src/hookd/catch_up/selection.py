"""What to ask for again, from a page of the forge's delivery records (no I/O here).

A delivery is known by its GUID (GitHub's `guid`, hookd's `X-GitHub-Delivery`) or its
idempotency key (GitLab's `Idempotency-Key`, else `X-Gitlab-Event-UUID`). The forge lists
every attempt, redeliveries included: a delivery failed when none of its attempts got a
2xx answer. The newest failed attempt is the one asked for again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ASK = "ask"
HELD = "held"
ASKED = "asked"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt the forge recorded: its id, the delivery it was of, when, the answer."""

    forge_id: str
    key: str
    at: datetime | None
    status: int | None
    event: str | None
    note: str

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Failure:
    """A delivery all of whose attempts failed; `forge_id` is its newest attempt."""

    key: str
    forge_id: str
    event: str | None
    failed_at: datetime | None
    failure: str


def failures(attempts: Iterable[Attempt]) -> list[Failure]:
    """The deliveries none of whose attempts succeeded, oldest first."""
    newest: dict[str, Attempt] = {}
    delivered: set[str] = set()
    for attempt in attempts:
        if attempt.succeeded:
            delivered.add(attempt.key)
        known = newest.get(attempt.key)
        if known is None or _later(attempt, known):
            newest[attempt.key] = attempt
    found = [
        Failure(a.key, a.forge_id, a.event, a.at, a.note)
        for key, a in newest.items()
        if key not in delivered
    ]
    return sorted(found, key=lambda f: (f.failed_at is None, f.failed_at or datetime.min))


def _later(one: Attempt, other: Attempt) -> bool:
    if one.at is not None and other.at is not None and one.at != other.at:
        return one.at > other.at
    return _number(one.forge_id) > _number(other.forge_id)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else -1


def verdict(key: str, held: set[str], asked: set[str]) -> str:
    """`held` when hookd stored the delivery, `asked` when catch-up asked for it before,
    else `ask`."""
    if key in held:
        return HELD
    if key in asked:
        return ASKED
    return ASK


def github_attempt(item: Mapping[str, Any]) -> Attempt | None:
    """An item of GitHub's "List deliveries for a webhook": `id`, `guid`, `delivered_at`,
    `status` ("OK", "Invalid HTTP Response: 503"...), `status_code`, `event`, `action`."""
    forge_id, guid = item.get("id"), item.get("guid")
    if not isinstance(forge_id, int) or not isinstance(guid, str) or not guid:
        return None
    status = item.get("status_code")
    event = item.get("event") if isinstance(item.get("event"), str) else None
    action = item.get("action")
    if event and isinstance(action, str) and action:
        event = f"{event}.{action}"
    return Attempt(
        forge_id=str(forge_id),
        key=guid,
        at=moment(item.get("delivered_at")),
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        event=event,
        note=_note(status, item.get("status")),
    )


GITLAB_KEYS = ("idempotency-key", "x-gitlab-event-uuid")


def gitlab_attempt(item: Mapping[str, Any]) -> Attempt | None:
    """An item of GitLab's "List webhook events": `id`, `trigger`, `request_headers`,
    `response_status` (a code, or words such as "internal error"), `created_at`."""
    forge_id = item.get("id")
    headers = item.get("request_headers")
    if not isinstance(forge_id, int) or not isinstance(headers, Mapping):
        return None
    lowered = {str(name).lower(): value for name, value in headers.items()}
    key = next((lowered[name] for name in GITLAB_KEYS if lowered.get(name)), None)
    if not isinstance(key, str):
        return None
    raw = item.get("response_status")
    status = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
    trigger = item.get("trigger")
    return Attempt(
        forge_id=str(forge_id),
        key=key,
        at=moment(item.get("created_at")),
        status=status,
        event=trigger if isinstance(trigger, str) else None,
        note=_note(status, raw),
    )


def _note(status: Any, words: Any) -> str:
    """What the forge recorded of a failed attempt, in its words, with the status."""
    if isinstance(words, str) and words:
        if not isinstance(status, int) or not status or str(status) in words:
            return words
        return f"{status} {words}"
    return str(status) if status else "no answer"


def moment(value: Any) -> datetime | None:
    """An ISO 8601 time from the forge (`Z` or an offset); None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
