"""Durations and sizes as people write them in hookd.yaml and on the command line."""

from __future__ import annotations

import math
import re
from fractions import Fraction

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)", re.ASCII)
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)

# Binary multiples throughout: "25MB" is 25 * 1024**2, the unit GitHub's 25 MB payload cap
# is measured in, and KiB/MiB/GiB mean the same for those who write them.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1024,
    "kib": 1024,
    "mb": 1024**2,
    "mib": 1024**2,
    "gb": 1024**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)", re.ASCII | re.IGNORECASE)


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration: `30s`, `10m`, `1h30m`, `2d`, `500ms`; a bare number is seconds.

    Units may be combined (`1h30m`); their values are added up. Raises ValueError with a
    sentence for anything else, including negative and non-finite numbers.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"{text!r} is not a duration; use e.g. 30s, 10m, 1h")
    if not isinstance(text, str):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"{text!r} is not a duration: it must be a number of seconds >= 0")
        return float(text)
    spec = text.strip()
    if _NUMBER.fullmatch(spec):
        return float(spec)
    parts = _DURATION.findall(spec)
    if not spec or "".join(number + unit for number, unit in parts) != spec:
        raise ValueError(f"{text!r} is not a duration; use e.g. 30s, 10m, 1h")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def parse_size(text: str | int) -> int:
    """Bytes in a size: `25MB`, `512KB`, `1GiB`, `100B`; a bare integer is bytes.

    KB, MB and GB are binary (1024-based), as are KiB, MiB and GiB; units are case-insensitive
    and a fraction (`1.5MB`) is rounded down to whole bytes. Raises ValueError with a sentence
    for anything else, including negative numbers.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"{text!r} is not a size; use e.g. 512KB, 25MB, 1GB")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text!r} is not a size: it must be a number of bytes >= 0")
        return text
    match = _SIZE.fullmatch(text.strip())
    unit = match[2].lower() if match else ""
    if match is None or unit not in _SIZE_UNITS or (not unit and "." in match[1]):
        raise ValueError(f"{text!r} is not a size; use e.g. 512KB, 25MB, 1GB")
    return int(Fraction(match[1]) * _SIZE_UNITS[unit])
