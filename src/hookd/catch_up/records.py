"""What catch-up keeps: the hooks it looks at and each redelivery it asked for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

OUTCOMES = ("asking", "requested", "refused", "gone", "failed")
"""A request's outcome: `asking` while the forge has not answered yet, `requested` when it
accepted (2xx), `refused` for another 4xx, `gone` for a 404 (the hook or delivery is no
more), `failed` when it could not be asked (5xx, network)."""


@dataclass(frozen=True, slots=True)
class HookState:
    """A hook of an endpoint, by its API path (`/repos/o/r/hooks/1`, `/app/hook`,
    `/projects/15/hooks/3`): when hookd first knew of it, when its last catch-up started,
    and when the forge said it is gone."""

    hook: str
    seen_at: datetime
    caught_up_at: datetime | None = None
    gone_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SeenDelivery:
    """A stored delivery's id, headers and repository: where catch-up learns its hooks."""

    id: str
    headers: list[tuple[str, str]]
    repository: str | None


@dataclass(frozen=True, slots=True)
class CatchUpRequest:
    """One redelivery asked of a forge, and what came of it."""

    id: str
    endpoint: str
    forge: str
    hook: str
    delivery: str
    forge_id: str
    event: str | None
    failed_at: datetime | None
    failure: str | None
    requested_at: datetime
    outcome: str = "asking"
    answer_status: int | None = None
    answer: str | None = None
    arrived: bool = False
