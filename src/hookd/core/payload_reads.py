"""Which parts of a payload hookd reads, so a large body need not be parsed whole.

A `Reads` is a tree of paths into a JSON value: `whole` takes the value as it is, `keys`
the named members of an object, `each` what of every element of a list. Anything that
cannot be followed exactly (a list read by key, an object read by `each`, a scalar read by
key) is taken whole, so a `Reads` may take more than its paths name but never less.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final


class _Each:
    """The path step for every element of a list."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EACH"


EACH: Final = _Each()

Step = str | int | _Each
"""One step of a path: an object's key, a list's index, or `EACH` element."""


class Reads:
    """A tree of the paths read in a JSON value (see the module's docstring)."""

    __slots__ = ("each", "keys", "whole")

    def __init__(
        self,
        whole: bool = False,
        keys: Mapping[str | int, Reads] | None = None,
        each: Reads | None = None,
    ) -> None:
        self.whole = whole
        self.keys: Mapping[str | int, Reads] = {} if whole or keys is None else keys
        self.each = None if whole else each

    @classmethod
    def everything(cls) -> Reads:
        return cls(whole=True)

    @classmethod
    def of(cls, paths: Iterable[Sequence[Step]]) -> Reads:
        """The reads of every path, each taking the whole value it ends at."""
        reads = cls()
        for path in paths:
            reads = reads.union(cls._path(path))
        return reads

    @classmethod
    def _path(cls, path: Sequence[Step]) -> Reads:
        reads = cls.everything()
        for step in reversed(path):
            reads = cls(each=reads) if isinstance(step, _Each) else cls(keys={step: reads})
        return reads

    def union(self, other: Reads) -> Reads:
        if self.whole or other.whole:
            return Reads.everything()
        keys = dict(self.keys)
        for key, reads in other.keys.items():
            keys[key] = keys[key].union(reads) if key in keys else reads
        if self.each is None or other.each is None:
            each = self.each or other.each
        else:
            each = self.each.union(other.each)
        return Reads(keys=keys, each=each)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reads):
            return NotImplemented
        return (self.whole, dict(self.keys), self.each) == (
            other.whole,
            dict(other.keys),
            other.each,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self.whole:
            return "Reads.everything()"
        return f"Reads(keys={dict(self.keys)!r}, each={self.each!r})"
