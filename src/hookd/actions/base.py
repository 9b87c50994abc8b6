"""The seam between the worker and the actions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookd.actions.job_processes import JobProcesses
from hookd.core.delivery import Body, Delivery
from hookd.core.vocabulary import JobStatus

if TYPE_CHECKING:
    from hookd.config import Config

Output = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """How one attempt of an action ended.

    `status` is succeeded, failed, timed_out or cancelled. `retryable` False means another
    attempt cannot help (e.g. a template names a key the payload lacks). `retry_at` set means
    a service turned the attempt away until then (a rate limit): the job is queued again for
    that moment and the attempt does not count against its retries."""

    status: JobStatus
    exit_code: int | None = None
    error: str | None = None
    result: str | None = None
    retryable: bool = True
    retry_at: datetime | None = None


def failure(error: str, *, retryable: bool = False) -> ActionResult:
    return ActionResult(status=JobStatus.FAILED, error=error, retryable=retryable)


@dataclass(frozen=True)
class JobContext:
    """Everything an action needs for one attempt, and the config it was loaded with."""

    job_id: str
    hook: str
    attempt: int
    delivery: Delivery
    payload_bytes: Body
    context: Mapping[str, Any]
    base_env: Mapping[str, str]
    payload_file: Path
    timeout: float | None
    output: Output
    stop: asyncio.Event
    processes: JobProcesses
    config: Config
