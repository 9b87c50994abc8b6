"""The records the store keeps, as callers see them. Plain frozen values, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, overload

from hookd.core.delivery import Body
from hookd.core.vocabulary import FINISHED_JOB_STATUSES as FINISHED_JOB_STATUSES
from hookd.core.vocabulary import DeliveryStatus, JobStatus, values

# The names callers import from here, kept: the vocabulary (hookd.core.vocabulary) is the
# one list of the states.
DELIVERY_STATUSES = values(DeliveryStatus)
JOB_STATUSES = values(JobStatus)


LOG_NOTE = "\n[hookd: output cut here: the job's log is capped at {cap} bytes]\n"


def capped_log_chunk(chunk: bytes, logged: int, cap: int) -> tuple[bytes, bool]:
    """What of `chunk` a job's log that holds `logged` bytes keeps under `cap`, with a note
    where it was cut, and whether it was cut (the log takes nothing more after that)."""
    room = cap - logged
    kept = chunk[: max(room, 0)]
    if len(kept) < len(chunk):
        kept += LOG_NOTE.format(cap=cap).encode()
    return kept, len(kept) > room


@overload
def iso(moment: datetime) -> str: ...


@overload
def iso(moment: None) -> None: ...


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with microseconds and a Z: sorts as text in time order."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text)


def _settle(record: Any, vocabulary: type[StrEnum]) -> None:
    """Make a status a caller gave as text the vocabulary's member (the same string), or
    raise ValueError for a word hookd does not use: the store's CHECKs would refuse it."""
    if record.status is not None:
        object.__setattr__(record, "status", vocabulary(record.status))


REJECTIONS_KEPT = 1000
"""Rejected requests kept per endpoint: a sample to debug a wrong secret with, the newest."""


@dataclass(frozen=True, slots=True)
class RejectedRequest:
    """A request that was not a delivery: metadata only, never its body. `event` and
    `delivery` are what its headers claimed, unverified (the receiver cuts them short)."""

    endpoint: str | None
    path: str
    status: int
    reason: str
    remote_addr: str | None
    size: int
    received_at: datetime
    event: str | None = None
    delivery: str | None = None


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to create with its delivery. `status` is `queued`, or `failed` with `error`
    when hookd could not even plan it (e.g. its concurrency group's template failed)."""

    hook: str
    max_attempts: int
    concurrency_group: str | None = None
    cancel_in_progress: bool = False
    status: str = JobStatus.QUEUED
    error: str | None = None
    ref: str | None = None
    """The one ref the job runs for, of a delivery that moved several (else None)."""
    paths_filter: str | None = None
    """The paths filter the job decides when it starts, as JSON (core.rules.PendingPaths);
    None: the hook was decided at receive."""

    def __post_init__(self) -> None:
        _settle(self, JobStatus)


@dataclass(frozen=True, slots=True)
class KeptFiles:
    """A delivery's changed files as a forge's API listed them (`source`, in sentences), or
    None with the `reason` they could not all be listed."""

    files: tuple[str, ...] | None
    source: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayGuard:
    """Replay protection for one delivery: the sha256 of its body, and how long an identical
    body accepted on its endpoint makes it a duplicate."""

    sha256: bytes
    window: timedelta


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record_delivery` did: `accepted` with the new ids, or `duplicate` of `id`, the
    first delivery, whose forge delivery id is `delivery`; `same_body` when it was found by
    its body (a replay under another delivery id), not by its delivery id."""

    id: str
    status: DeliveryStatus
    job_ids: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    delivery: str | None = None
    same_body: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: str
    delivery: str | None
    endpoint: str | None
    forge: str | None
    event: str | None
    action: str | None
    repository: str | None
    received_at: datetime
    status: DeliveryStatus
    reason: str | None
    hooks: tuple[str, ...]
    jobs: tuple[str, ...]
    size: int
    remote_addr: str | None
    replay_of: str | None = None
    duplicate_of: str | None = None
    config: str | None = None
    """The short hash of the configuration that decided it (`Config.version`)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery": self.delivery,
            "endpoint": self.endpoint,
            "forge": self.forge,
            "event": self.event,
            "action": self.action,
            "repository": self.repository,
            "received_at": iso(self.received_at),
            "status": self.status,
            "reason": self.reason,
            "hooks": list(self.hooks),
            "jobs": list(self.jobs),
            "size": self.size,
            "remote_addr": self.remote_addr,
            "replay_of": self.replay_of,
            "duplicate_of": self.duplicate_of,
            "config": self.config,
        }


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    """One delivery with what the list leaves out: headers, raw body and rule trace."""

    record: DeliveryRecord
    content_type: str | None
    headers: tuple[tuple[str, str], ...]
    body: Body | None = field(repr=False)
    trace: tuple[dict[str, Any], ...]
    forge_event: str | None


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    """Filters for listing deliveries, newest first; `before` and `after` are cursors (ids):
    only deliveries older than `before`, or newer than `after` (live updates)."""

    limit: int = 50
    endpoint: str | None = None
    event: str | None = None
    status: str | None = None
    hook: str | None = None
    repository: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: str | None = None
    after: str | None = None

    def __post_init__(self) -> None:
        _settle(self, DeliveryStatus)


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    delivery_id: str
    hook: str
    status: JobStatus
    attempts: int
    max_attempts: int
    exit_code: int | None
    error: str | None
    result: str | None
    concurrency_group: str | None
    queued_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    log_size: int
    cancel_requested: bool
    ref: str | None = None
    paths_filter: str | None = None
    """Its paths filter, decided when it starts (NewJob.paths_filter)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "hook": self.hook,
            "status": self.status,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "exit_code": self.exit_code,
            "error": self.error,
            "result": self.result,
            "concurrency_group": self.concurrency_group,
            "ref": self.ref,
            "paths_filter": None if self.paths_filter is None else json.loads(self.paths_filter),
            "queued_at": iso(self.queued_at),
            "run_after": iso(self.run_after),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "log_size": self.log_size,
        }


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Filters for listing jobs, newest first; `before` is a cursor (an id)."""

    limit: int = 50
    status: str | None = None
    hook: str | None = None
    delivery_id: str | None = None
    before: str | None = None

    def __post_init__(self) -> None:
        _settle(self, JobStatus)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How an attempt ended. `retry_at` set means: queue it again then (status ignored).
    `count_attempt` False (with `retry_at`) hands the attempt back, as `release_job` does:
    it was turned away (rate-limited) and must not use up the job's retries."""

    status: str
    exit_code: int | None = None
    error: str | None = None
    result: str | None = None
    retry_at: datetime | None = None
    count_attempt: bool = True

    def __post_init__(self) -> None:
        _settle(self, JobStatus)


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's renewed lease: `held` False if another worker took the job over;
    `cancel_requested` when the job should stop (cancel, or cancel-in-progress)."""

    held: bool
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class JobProcess:
    """A process an attempt of a job started: enough to find it, and what it started, again
    after hookd died. `machine` is the boot id of the machine it ran on; `started` its start
    time in clock ticks after boot (/proc/PID/stat), which tells it from a later process
    that reuses its pid; `tag` the value of HOOKD_JOB_TAG in the environment of the
    attempt's processes."""

    attempt: int
    machine: str
    tag: str
    pid: int
    started: int
