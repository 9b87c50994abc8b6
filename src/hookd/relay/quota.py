"""How much the relay takes in: requests and bytes a minute, per channel and across the
relay, and the bytes it keeps stored.

The rates are allowances kept in memory (a restart forgets who was in a hurry, which
costs at most one minute's worth more). What is stored is counted in the relay's
database (`hookd.relay.storage`), so a restart does not forget it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from hookd.core.ratelimit import retry_after_header

KIB, MIB, GIB = 1024, 1024**2, 1024**3


@dataclass(frozen=True)
class Quotas:
    """The relay's quotas: `*_requests` and `*_bytes` a minute, `*_storage` bytes stored;
    `channel_*` for each channel, `total_*` for all of them together."""

    channel_requests: int = 600
    channel_bytes: int = 100 * MIB
    channel_storage: int = GIB
    total_requests: int = 6000
    total_bytes: int = GIB
    total_storage: int = 10 * GIB

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"the relay's {name.replace('_', ' ')} quota must be at least 1")


@dataclass(frozen=True)
class Refusal:
    """Why the relay will not take a request now: the sentence to answer, and the seconds
    until it may (None: not until stored requests pass the retention window)."""

    sentence: str
    retry_after: float | None = None


class Allowance:
    """Up to `per_minute` units a minute: a bucket of that many, refilled evenly, so that
    a quiet sender may spend a minute's worth at once. A spend may take the bucket below
    empty (a body's size is known only once read); the debt is paid back first."""

    __slots__ = ("_at", "_level", "per_minute")

    def __init__(self, per_minute: int, now: float) -> None:
        self.per_minute = per_minute
        self._level = float(per_minute)
        self._at = now

    def wait(self, amount: int, now: float) -> float | None:
        """Seconds until `amount` units (at most a minute's worth) are there; None when
        they are there now."""
        self._refill(now)
        wanted = min(amount, self.per_minute)
        if self._level >= wanted:
            return None
        return (wanted - self._level) * 60.0 / self.per_minute

    def spend(self, amount: int, now: float) -> None:
        self._refill(now)
        self._level -= amount

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._at)  # a clock set back refills nothing
        self._level = min(float(self.per_minute), self._level + elapsed * self.per_minute / 60)
        self._at = now


class Intake:
    """The request and byte allowances of each channel and of the whole relay. Memory is
    bounded: at most `max_channels` channels are tracked, the least recently seen is
    forgotten first (which can only give that channel a fresh minute)."""

    def __init__(self, quotas: Quotas, now: float, max_channels: int = 10_000) -> None:
        self.quotas = quotas
        self.max_channels = max_channels
        self._total = (
            Allowance(quotas.total_requests, now),
            Allowance(quotas.total_bytes, now),
        )
        self._channels: OrderedDict[str, tuple[Allowance, Allowance]] = OrderedDict()

    def admit(self, channel: str, size: int, now: float) -> Refusal | None:
        """Take one request of `size` bytes (its declared length; 0 when unknown) for
        `channel`, or say why not. An admitted request's bytes are spent by `spend`."""
        requests, volume = self._channel(channel, now)
        all_requests, all_volume = self._total
        amount = max(size, 1)
        checks = (
            (requests, 1, f"This channel takes at most {requests.per_minute} requests"),
            (volume, amount, f"This channel takes at most {size_text(volume.per_minute)}"),
            (all_requests, 1, f"The relay takes at most {all_requests.per_minute} requests"),
            (all_volume, amount, f"The relay takes at most {size_text(all_volume.per_minute)}"),
        )
        for allowance, wanted, quota in checks:
            wait = allowance.wait(wanted, now)
            if wait is not None:
                seconds = retry_after_header(wait)
                return Refusal(f"{quota} a minute; send it again in {seconds} s.", wait)
        requests.spend(1, now)
        all_requests.spend(1, now)
        return None

    def spend(self, channel: str, size: int, now: float) -> None:
        """Count `size` bytes received for `channel`."""
        self._channel(channel, now)[1].spend(size, now)
        self._total[1].spend(size, now)

    def _channel(self, channel: str, now: float) -> tuple[Allowance, Allowance]:
        found = self._channels.get(channel)
        if found is not None:
            self._channels.move_to_end(channel)
            return found
        fresh = (
            Allowance(self.quotas.channel_requests, now),
            Allowance(self.quotas.channel_bytes, now),
        )
        self._channels[channel] = fresh
        while len(self._channels) > self.max_channels:
            self._channels.popitem(last=False)
        return fresh


def storage_refusal(scope: str, quotas: Quotas, retention: float) -> Refusal:
    """The answer when storing a request would pass the `scope` ("channel" or "total")
    storage quota."""
    if scope == "channel":
        full = f"This channel's storage is full ({size_text(quotas.channel_storage)})"
    else:
        full = f"The relay's storage is full ({size_text(quotas.total_storage)})"
    return Refusal(
        f"{full}: it takes requests again as stored ones pass the relay's "
        f"{duration_text(retention)} retention window."
    )


def size_text(size: int) -> str:
    """`size` bytes as the options take it: `1 GB`, `100 MB`, `512 KB`, `1000 B`."""
    for unit, name in ((GIB, "GB"), (MIB, "MB"), (KIB, "KB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


def duration_text(seconds: float) -> str:
    """`seconds` in the largest unit that keeps it short: `72 h`, `90 min`, `1.5 s`."""
    for unit, name in ((3600, "h"), (60, "min")):
        if seconds >= unit and seconds % unit == 0:
            return f"{seconds / unit:g} {name}"
    return f"{seconds:g} s"
