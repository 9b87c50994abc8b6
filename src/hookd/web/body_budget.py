"""The server-wide budget for request body bytes held in memory (`server.max_inflight`).

Counted in bytes that have arrived, never in bytes a Content-Length announces: to take the
budget a client must really send the bytes. Past the budget new deliveries are answered 503,
so slow uploads cannot make the server hold more than the budget. One event loop uses it:
no lock.
"""

from __future__ import annotations

from types import TracebackType


class BodyBudget:
    """`limit` bytes shared by every request; `held` is what requests hold now."""

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def hold(self) -> Hold:
        """A request's share, empty; given back whole when its `with` block ends."""
        return Hold(self)


class Hold:
    """One request's bytes in the budget."""

    __slots__ = ("budget", "size")

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.size = 0

    def admits(self, size: int) -> bool:
        """Whether `size` more bytes (at least one) fit in the budget now."""
        return self.budget.held + max(size, 1) <= self.budget.limit

    def grow(self, size: int) -> bool:
        """Take `size` more bytes, or nothing and False when they would pass the budget."""
        if self.budget.held + size > self.budget.limit:
            return False
        self.budget.held += size
        self.size += size
        return True

    def __enter__(self) -> Hold:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.budget.held -= self.size
        self.size = 0
