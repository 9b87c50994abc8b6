"""Durations and sizes as written in hookd.yaml and on the command line."""

from __future__ import annotations

import math

import pytest

from hookd.core.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("500ms", 0.5),
        ("1m30s500ms", 90.5),
        ("1.5h", 5400.0),
        ("0s", 0.0),
        (" 10m ", 600.0),
        ("45", 45.0),
        ("2.5", 2.5),
        (45, 45.0),
        (2.5, 2.5),
        (0, 0.0),
    ],
)
def test_parses_durations(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "10 minutes",
        "",
        "  ",
        "m",
        "1x",
        "1h 30m",
        "-5s",
        "5S",
        "1e3",
        "inf",
        "nan",
        "1_000",
        "٣s",
        "10m!",
        ".5s",
    ],
)
def test_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == f"{text!r} is not a duration; use e.g. 30s, 10m, 1h"


def test_the_duration_message_reads_as_a_sentence() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("10 minutes")
    assert str(info.value) == "'10 minutes' is not a duration; use e.g. 30s, 10m, 1h"


@pytest.mark.parametrize("value", [-1, -0.5, math.inf, math.nan])
def test_refuses_negative_or_infinite_numbers_of_seconds(value: float) -> None:
    with pytest.raises(ValueError, match="must be a number of seconds >= 0"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, None, [1]])
def test_refuses_other_types_as_durations(value: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("25MB", 25 * 1024**2),
        ("25mb", 25 * 1024**2),
        ("25 MB", 25 * 1024**2),
        ("25MiB", 25 * 1024**2),
        ("512KB", 512 * 1024),
        ("512KiB", 512 * 1024),
        ("1GB", 1024**3),
        ("2GiB", 2 * 1024**3),
        ("100B", 100),
        ("1.5MB", 1536 * 1024),
        ("0.3KB", 307),
        ("1024", 1024),
        (" 7 ", 7),
        (4096, 4096),
        (0, 0),
    ],
)
def test_parses_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["25 megs", "", "MB", "25M", "25TB", "-1MB", "1.5", "1e6", "25MB!", "2 5MB"]
)
def test_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(text)
    assert str(info.value) == f"{text!r} is not a size; use e.g. 512KB, 25MB, 1GB"


def test_refuses_negative_byte_counts() -> None:
    with pytest.raises(ValueError, match="must be a number of bytes >= 0"):
        parse_size(-1)


@pytest.mark.parametrize("value", [True, 1.5, None])
def test_refuses_other_types_as_sizes(value: object) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(value)  # type: ignore[arg-type]
