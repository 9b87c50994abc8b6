"""What catch-up (`hookd.catch_up`) keeps, the same on both backends: its logic written
once as steps over the named queries (`hookd.store.queries`); a backend gives a `Runner`
that reads, writes and holds the one-catch-up-at-a-time lock.

`CatchUpStore` is what both stores hand out from `Store.catch_up()`."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson

from hookd.catch_up.records import CatchUpRequest, HookState, SeenDelivery
from hookd.store import queries as q
from hookd.store.rows import json, moment
from hookd.store.steps import Steps, all_rows, count, one

T = TypeVar("T")
NEWEST = "~"  # sorts after every id: the first page of `requests`
_CHUNK = 200


class Runner(Protocol):
    """How a backend runs catch-up's steps."""

    def read(self, steps: Callable[[], Steps[T]]) -> Awaitable[T]: ...

    def write(self, steps: Callable[[], Steps[T]]) -> Awaitable[T]:
        """In one transaction."""

    def lock(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """Held by one catch-up at a time across processes; yields False when another
        process holds it."""


class CatchUpStore:
    """Catch-up's reads and writes."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def lock(self) -> contextlib.AbstractAsyncContextManager[bool]:
        return self._runner.lock()

    async def hooks(self, endpoint: str) -> list[HookState]:
        return await self._runner.read(lambda: _hooks(endpoint))

    async def save_hooks(
        self, endpoint: str, hooks: Sequence[HookState], scanned_through: str | None = None
    ) -> None:
        """Add or update `hooks` (when each was caught up, or found gone); with
        `scanned_through`, remember the newest delivery read for hooks."""
        if hooks or scanned_through is not None:
            await self._runner.write(lambda: _save_hooks(endpoint, hooks, scanned_through))

    async def scanned_through(self, endpoint: str) -> str | None:
        return await self._runner.read(lambda: _scanned_through(endpoint))

    async def new_deliveries(
        self, endpoint: str, after: str | None, limit: int
    ) -> list[SeenDelivery]:
        """Accepted deliveries of `endpoint` stored after the one with id `after`, oldest
        first, at most `limit`."""
        return await self._runner.read(lambda: _new_deliveries(endpoint, after or "", limit))

    async def held(self, endpoint: str, keys: Sequence[str]) -> set[str]:
        """Which of these forge delivery ids `endpoint` accepted."""
        return await self._runner.read(lambda: _among(q.CATCH_UP_HELD, endpoint, keys))

    async def asked(self, endpoint: str, keys: Sequence[str]) -> set[str]:
        """Which of these forge delivery ids catch-up already asked for."""
        return await self._runner.read(lambda: _among(q.CATCH_UP_ASKED, endpoint, keys))

    async def claim(self, request: CatchUpRequest) -> bool:
        """Record that `request` is being made; False if its delivery was asked for before
        (by this process or another), in which case nothing is recorded."""
        return await self._runner.write(lambda: _claim(request))

    async def finish(
        self, request_id: str, outcome: str, answer_status: int | None, answer: str | None
    ) -> None:
        await self._runner.write(lambda: _finish(request_id, outcome, answer_status, answer))

    async def requests(self, limit: int, before: str | None = None) -> list[CatchUpRequest]:
        """Requests newest first, at most `limit`, older than the one with id `before`."""
        return await self._runner.read(lambda: _requests(limit, before or NEWEST))


def _hooks(endpoint: str) -> Steps[list[HookState]]:
    rows = yield all_rows(q.CATCH_UP_HOOKS, endpoint=endpoint)
    return [
        HookState(row["hook"], seen, moment(row["caught_up_at"]), moment(row["gone_at"]))
        for row in rows
        if (seen := moment(row["seen_at"])) is not None
    ]


def _save_hooks(
    endpoint: str, hooks: Sequence[HookState], scanned_through: str | None
) -> Steps[None]:
    for hook in hooks:
        yield count(
            q.SAVE_CATCH_UP_HOOK, endpoint=endpoint, hook=hook.hook, seen_at=hook.seen_at,
            caught_up_at=hook.caught_up_at, gone_at=hook.gone_at,
        )  # fmt: skip
    if scanned_through is not None:
        yield count(q.SAVE_CATCH_UP_SCANNED, endpoint=endpoint, through=scanned_through)


def _scanned_through(endpoint: str) -> Steps[str | None]:
    row = yield one(q.CATCH_UP_SCANNED, endpoint=endpoint)
    return None if row is None else str(row["scanned_through"])


def _new_deliveries(endpoint: str, after: str, limit: int) -> Steps[list[SeenDelivery]]:
    rows = yield all_rows(q.CATCH_UP_NEW_DELIVERIES, endpoint=endpoint, after=after, limit=limit)
    return [
        SeenDelivery(
            row["id"],
            [(str(name), str(value)) for name, value in json(row["headers"])],
            row["repository"],
        )
        for row in rows
    ]


def _among(query: q.Query, endpoint: str, keys: Sequence[str]) -> Steps[set[str]]:
    found: set[str] = set()
    unique = sorted(set(keys))
    for start in range(0, len(unique), _CHUNK):
        chunk = orjson.dumps(unique[start : start + _CHUNK]).decode()
        rows = yield all_rows(query, endpoint=endpoint, keys=chunk)
        found.update(str(row["delivery"]) for row in rows)
    return found


def _claim(r: CatchUpRequest) -> Steps[bool]:
    claimed = yield count(
        q.CATCH_UP_CLAIM, id=r.id, endpoint=r.endpoint, forge=r.forge, hook=r.hook,
        delivery=r.delivery, forge_id=r.forge_id, event=r.event, failed_at=r.failed_at,
        failure=r.failure, requested_at=r.requested_at, outcome=r.outcome,
    )  # fmt: skip
    return bool(claimed == 1)


def _finish(
    request_id: str, outcome: str, answer_status: int | None, answer: str | None
) -> Steps[None]:
    yield count(
        q.CATCH_UP_FINISH, id=request_id, outcome=outcome, answer_status=answer_status,
        answer=answer,
    )  # fmt: skip


def _requests(limit: int, before: str) -> Steps[list[CatchUpRequest]]:
    rows = yield all_rows(q.CATCH_UP_REQUESTS, before=before, limit=limit)
    return [_request(row) for row in rows]


def _request(row: Any) -> CatchUpRequest:
    return CatchUpRequest(
        id=row["id"], endpoint=row["endpoint"], forge=row["forge"], hook=row["hook"],
        delivery=row["delivery"], forge_id=row["forge_id"], event=row["event"],
        failed_at=moment(row["failed_at"]), failure=row["failure"],
        requested_at=moment(row["requested_at"]) or datetime.min, outcome=row["outcome"],
        answer_status=row["answer_status"], answer=row["answer"], arrived=bool(row["arrived"]),
    )  # fmt: skip
