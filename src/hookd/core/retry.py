"""When to try a failed job again: exponential backoff with jitter, computed without a clock.

The caller supplies the randomness (a number in [0, 1)), so the same inputs always give the
same delay and tests need no seed.
"""

from __future__ import annotations

import math


def backoff_delay(
    attempt: int,
    *,
    base: float = 2.0,
    factor: float = 2.0,
    cap: float = 300.0,
    jitter: float,
) -> float:
    """Seconds to wait before attempt `attempt + 1`, after `attempt` (>= 1) failed attempts.

    The ceiling grows exponentially, `d = min(cap, base * factor ** (attempt - 1))`, and the
    delay is "equal jitter": `d / 2 + jitter * d / 2`, so it lies in [d/2, d). Half of the
    ceiling is always waited (a failing deploy gains nothing from an instant retry), while
    the other half spreads retries of jobs that failed together. For a given `jitter` the
    delay never decreases as `attempt` grows, and it never exceeds `cap`.

    Raises ValueError if `attempt` < 1, `jitter` is outside [0, 1), `base` or `cap` is not
    positive, `factor` < 1, or any of them is not finite.
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt must be a whole number >= 1, not {attempt!r}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be a number in [0, 1), not {jitter!r}")
    # Written so that NaN fails every comparison and is refused too.
    if not (0 < base < math.inf and 0 < cap < math.inf and 1 <= factor < math.inf):
        raise ValueError(
            f"backoff needs finite base > 0, cap > 0 and factor >= 1, "
            f"not base={base!r}, cap={cap!r}, factor={factor!r}"
        )
    try:
        # float() first: an int factor would make Python compute a huge exact integer.
        ceiling = min(cap, base * float(factor) ** (attempt - 1))
    except OverflowError:  # beyond a float's range, so far beyond the cap
        ceiling = cap
    return ceiling / 2 + jitter * ceiling / 2
