"""Which bodies each endpoint accepted lately, in memory, for replay protection on SQLite.

The digests themselves are appended to `body_digests` in the delivery's transaction, in
rowid order (`seq`), without an index on the digest: a random-key index costs each delivery
a page of WAL (≈ 5 KiB) and about a sixth of ingest (docs/benchmarks.md). This index
answers "which row, if any, holds this body?" instead; the caller then reads that one row by
its key to confirm it, so the index can only ever be a hint.

It is kept exact by reading, in a guarded write transaction (which holds SQLite's write
lock), the rows appended since it last read, when another connection has committed to the
file since then (SQLite's `data_version` says so, asked once a transaction): its own
process's rows it takes as they are written. It holds
the rows of the widest replay window asked for, from the newest time it has seen; asked
further back than it holds, it reloads. A rolled-back transaction may leave hints to rows
that never were: the writer calls `forget` then, and the index reloads on its next use.
Memory: about 200 bytes per delivery accepted within the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

Row = tuple[int, str, bytes, float]
"""A `body_digests` row as the index reads it: seq, endpoint, sha256, received (epoch s)."""


@dataclass(slots=True)
class ReplayIndex:
    """Digest → the newest `body_digests.seq` holding it, per endpoint."""

    _rows: dict[tuple[str, bytes], int] = field(default_factory=dict)
    _order: deque[tuple[float, tuple[str, bytes], int]] = field(default_factory=deque)
    _read_to: int | None = None  # the highest seq read from the table; None: not loaded
    _since: float = float("inf")  # the index holds every row received at or after this
    _newest: float = float("-inf")
    _window: float = 0.0
    _version: int | None = None  # the file's data_version when the index last read it
    _checked: bool = False  # whether the current write transaction compared data_version

    def needs_load(self, since: float) -> bool:
        """Whether the index must be (re)loaded to hold every row received since `since`."""
        return self._read_to is None or since < self._since

    def load(self, rows: Iterable[Row], since: float, last: int, version: int) -> None:
        """Hold exactly `rows`: every row received at or after `since`, in seq order, of
        the table whose highest seq is `last`, read at the file's data_version `version`."""
        self.forget()
        self._read_to = last
        self._since = since
        self._version, self._checked = version, True
        for seq, endpoint, sha256, received in rows:
            self._hold(endpoint, sha256, seq, received)

    def read_to(self) -> int:
        """The seq up to which the table has been read; rows past it are news to the index."""
        assert self._read_to is not None, "load the index first"
        return self._read_to

    def began(self) -> None:
        """A write transaction began: another connection may have committed before it."""
        self._checked = False

    def checked(self) -> bool:
        """Whether the index was compared with the file in this write transaction."""
        return self._checked

    def stale(self, version: int) -> bool:
        """Whether another connection committed since the index last read the table: the
        file's data_version is now `version`. Remembered as checked for this transaction."""
        self._checked = True
        return self._version != version

    def extend(self, rows: Iterable[Row], version: int) -> None:
        """Take rows appended since `read_to`, in seq order, read at data_version `version`."""
        for seq, endpoint, sha256, received in rows:
            if self._rows.get((endpoint, sha256)) != seq:  # not one this index added itself
                self._hold(endpoint, sha256, seq, received)
            self._read_to = max(self._read_to or 0, seq)
        self._version, self._checked = version, True

    def add(self, endpoint: str, sha256: bytes, seq: int, received: float) -> None:
        """Take the row this process has just appended. Right after the last row read, it
        is read too; after a gap (rows of another process), the next `extend` reads the gap."""
        self._hold(endpoint, sha256, seq, received)
        if self._read_to is not None and seq == self._read_to + 1:
            self._read_to = seq

    def _hold(self, endpoint: str, sha256: bytes, seq: int, received: float) -> None:
        key = (endpoint, sha256)
        self._rows[key] = seq
        self._order.append((received, key, seq))
        self._newest = max(self._newest, received)

    def find(self, endpoint: str, sha256: bytes) -> int | None:
        """The seq of the newest row holding this endpoint's body, if the index holds one."""
        return self._rows.get((endpoint, sha256))

    def keep(self, window: float) -> None:
        """Let go of rows older than the widest window asked for, before the newest row."""
        self._window = max(self._window, window)
        cutoff = self._newest - self._window
        order, rows = self._order, self._rows
        if not order or order[0][0] >= cutoff:
            return
        while order and order[0][0] < cutoff:
            _, key, seq = order.popleft()
            if rows.get(key) == seq:
                del rows[key]
        self._since = max(self._since, cutoff)

    def forget(self) -> None:
        """Drop everything: the next use loads the index again."""
        self._rows.clear()
        self._order.clear()
        self._read_to = None
        self._version, self._checked = None, False
        self._since = float("inf")
        self._newest = float("-inf")

    def __len__(self) -> int:
        return len(self._rows)
