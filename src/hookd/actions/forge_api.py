"""Calling a forge's REST API for the `github:` and `gitlab:` steps.

Requests go through `hookd.forge_rest`'s client; how an answer ends the job is decided
here. Every request is logged (method, path, status; never a
header) into the job's output, and every failure becomes the attempt's ActionResult:

- a rate limit (429, or 403 with `Retry-After` / `X-RateLimit-Remaining: 0`) queues the job
  again for the time the forge names, without using up an attempt;
- 5xx answers and network errors are retried with the hook's `retries` and backoff;
- any other 4xx fails the job with the forge's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from hookd.actions.base import ActionResult, JobContext, Output, failure
from hookd.config.steps import Step, text_fields
from hookd.core.delivery import Delivery
from hookd.core.render import RenderError, render_text
from hookd.core.vocabulary import JobStatus
from hookd.errors import HookdError
from hookd.forge_rest import answer_json, forge_message

# GitHub: when a rate limit names no time, "wait for at least one minute".
# https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
DEFAULT_WAIT = 60.0
# A primary rate limit resets within the hour; a later time is taken as a clock problem.
MAX_WAIT = 3600.0

StepT = TypeVar("StepT", bound=Step)


class StepError(HookdError):
    """A step cannot be made from this delivery (a template failed, no issue number...);
    `field` names the step's field at fault. Another attempt would not help."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ForgeError(HookdError):
    """A forge request failed; `result` is how the attempt ends."""

    def __init__(self, result: ActionResult) -> None:
        super().__init__(result.error)
        self.result = result


@dataclass(frozen=True)
class Api:
    """One forge's REST API at `base` (the endpoint's `api_url`), with `auth` headers added
    to every request."""

    client: httpx.AsyncClient
    base: str
    output: Output
    auth: Mapping[str, str] = field(default_factory=dict)

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Sequence[int] = (),
        retry_on: Sequence[int] = (),
    ) -> Any:
        """The JSON the forge answered (None for an empty body). Statuses in `accept` count
        as success; those in `retry_on` fail the attempt but may be retried. Raises
        ForgeError for everything else that is not 2xx."""
        try:
            response = await self.client.request(
                method, self.base + path, json=body, params=params,
                headers={**self.auth, **(headers or {})},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            kind = exc.__class__.__name__
            await self.output(f"{method} {path}: {kind}: {exc}\n".encode())
            raise ForgeError(failure(f"{method} {path}: {kind}", retryable=True)) from exc
        await self.output(f"{method} {path} -> {response.status_code}\n".encode())
        if response.is_success or response.status_code in accept:
            return answer_json(response)
        result = answer_failure(method, path, response, datetime.now(UTC), retry_on)
        await self.output(f"{result.error}\n".encode())
        raise ForgeError(result)


def answer_failure(
    method: str, path: str, response: httpx.Response, now: datetime, retry_on: Sequence[int] = ()
) -> ActionResult:
    """How a non-2xx answer ends the attempt: rescheduled, retried or failed."""
    status = response.status_code
    message = forge_message(response)
    error = f"{method} {path} answered {status}: {message}"
    wait = rate_limit_until(status, response.headers, message, now)
    if wait is not None:
        error = f"{error} (rate limited until {wait:%H:%M:%S} UTC)"
        return ActionResult(JobStatus.FAILED, error=error, retry_at=wait)
    return failure(error, retryable=status >= 500 or status in retry_on)


def rate_limit_until(
    status: int, headers: Mapping[str, str], message: str, now: datetime
) -> datetime | None:
    """When a rate-limited request may be made again, or None if this is no rate limit.

    GitHub (docs: "Rate limits for the REST API", "Best practices"): wait `Retry-After`
    seconds when it is sent; else, when `x-ratelimit-remaining` is 0, until the epoch second
    in `x-ratelimit-reset`; else a minute for a 429 or a 403 that says "rate limit" (a 403
    without any of these is a permission error). GitLab sends `Retry-After` and
    `RateLimit-Remaining` / `RateLimit-Reset`."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        return _clamped(now, _retry_after(retry_after.strip(), now))
    remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining"))
    reset = headers.get("x-ratelimit-reset", headers.get("ratelimit-reset"))
    if remaining is not None and remaining.strip() == "0" and reset is not None:
        try:
            return _clamped(now, float(reset) - now.timestamp())
        except ValueError:
            return _clamped(now, DEFAULT_WAIT)
    if status == 429 or "rate limit" in message.lower():
        return _clamped(now, DEFAULT_WAIT)
    return None


def _retry_after(value: str, now: datetime) -> float:
    """RFC 9110: delay-seconds, or an HTTP-date."""
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_WAIT
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - now).total_seconds()


def _clamped(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=min(max(seconds, 1.0), MAX_WAIT))


def rendered(step: StepT, context: Mapping[str, Any]) -> StepT:
    """`step` with every text field rendered against the delivery's context."""
    update: dict[str, Any] = {}
    for path, text in text_fields(step):
        try:
            value = render_text(text, context)
        except RenderError as exc:
            raise StepError(str(exc), ".".join(map(str, path))) from exc
        if len(path) == 1:
            update[str(path[0])] = value
        else:
            update.setdefault(str(path[0]), []).append(value)
    return step.model_copy(update=update)


def segment(value: str | int, label: str) -> str:
    """One path segment of an API URL, percent-encoded; `.` and `..` are refused so a value
    from a payload or a template cannot reach another API path."""
    text = str(value)
    if text in ("", ".", ".."):
        raise StepError(f"{text!r} cannot be part of an API path", label)
    return quote(text, safe="")


def whole_number(value: int | str, label: str) -> int:
    """An issue or request number, written out or rendered from a template."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.isdigit():
        raise StepError(f"expected a number, got {value!r}", label)
    return int(text)


def choice(value: str, choices: tuple[str, ...], label: str) -> str:
    """A rendered choice field (a status `state`): one of `choices`."""
    if value not in choices:
        raise StepError(f"{value!r} is not one of {', '.join(choices)}", label)
    return value


def present(**fields: Any) -> dict[str, Any]:
    """A request body of the fields that have a value: unset fields are left to the forge's
    defaults rather than sent as null, which some endpoints refuse."""
    return {name: value for name, value in fields.items() if value is not None}


def pushed_branch(delivery: Delivery) -> str | None:
    """The branch a push delivery is about (`refs/heads/NAME`), else None."""
    ref = delivery.ref
    return ref.removeprefix("refs/heads/") if ref and ref.startswith("refs/heads/") else None


def object_url(answer: Any) -> str | None:
    """The created object's web address (`html_url` on GitHub, `web_url` on GitLab), else
    its API address."""
    if isinstance(answer, Mapping):
        for key in ("html_url", "web_url", "url"):
            value = answer.get(key)
            if isinstance(value, str) and value:
                return value
    return None


StepCall = Callable[[], Awaitable[str | None]]


async def run_steps(
    job: JobContext, forge: str, steps: Sequence[tuple[str, StepCall]]
) -> ActionResult:
    """Run the steps in order; stop at the first that fails. The job's result is what each
    step made (a URL, or a short note), one per line. The hook's `timeout` bounds them all,
    and a cancel (`job.stop`) stops them between or during requests."""
    running = asyncio.ensure_future(_in_order(job, forge, steps))
    stopped = asyncio.ensure_future(job.stop.wait())
    done, _ = await asyncio.wait(
        {running, stopped}, timeout=job.timeout, return_when=asyncio.FIRST_COMPLETED
    )
    stopped.cancel()
    if running in done:
        return running.result()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    if job.stop.is_set():
        return ActionResult(JobStatus.CANCELLED, error="cancelled while running")
    return ActionResult(JobStatus.TIMED_OUT, error=f"timed out after {job.timeout:g}s")


async def _in_order(
    job: JobContext, forge: str, steps: Sequence[tuple[str, StepCall]]
) -> ActionResult:
    made: list[str] = []
    for name, call in steps:
        try:
            outcome = await call()
        except StepError as exc:
            where = f"{forge}.{name}" + (f".{exc.field}" if exc.field else "")
            return _with_made(failure(f"{where}: {exc}"), made)
        except ForgeError as exc:
            return _with_made(labelled(exc.result, f"{forge}.{name}"), made)
        if outcome:
            made.append(outcome)
            await job.output(f"{forge}.{name}: {outcome}\n".encode())
    return ActionResult(JobStatus.SUCCEEDED, result="\n".join(made) or None)


def labelled(result: ActionResult, label: str) -> ActionResult:
    """`result` with its error prefixed by `label` (the step that failed)."""
    return replace(result, error=f"{label}: {result.error}")


def _with_made(result: ActionResult, made: list[str]) -> ActionResult:
    """A failed run still reports what the steps before the failing one made."""
    return replace(result, result="\n".join(made)) if made else result
