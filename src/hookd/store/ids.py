"""Time-ordered ids (ULID layout): 48 bits of milliseconds, then 80 random bits, in
Crockford base32. Ordering by id is ordering by creation time, across processes."""

from __future__ import annotations

import os
import threading
import time

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two digits for each 10-bit value: an id's 130 bits (two of them zero) are 13 lookups.
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]
_lock = threading.Lock()
_last = [0, 0]


def new_id() -> str:
    """A new id, strictly greater than the previous one made by this process."""
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis <= _last[0]:
            millis, randomness = _last[0], _last[1] + 1
        else:
            randomness = int.from_bytes(os.urandom(10), "big") >> 1
        _last[0], _last[1] = millis, randomness
    value = (millis << 80) | (randomness & ((1 << 80) - 1))
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)])
