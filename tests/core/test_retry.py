"""Backoff between attempts: exponential, capped, with caller-supplied equal jitter."""

from __future__ import annotations

import math

import pytest

from hookd.core.retry import backoff_delay


def test_without_jitter_the_delay_is_half_the_exponential_ceiling() -> None:
    delays = [backoff_delay(n, jitter=0.0) for n in range(1, 6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_the_ceiling_is_base_times_factor_to_the_attempt() -> None:
    assert backoff_delay(1, base=10, factor=3, cap=1000, jitter=0.0) == 5.0
    assert backoff_delay(3, base=10, factor=3, cap=1000, jitter=0.0) == 45.0


@pytest.mark.parametrize("jitter", [0.0, 0.25, 0.5, 0.999999])
def test_jitter_keeps_the_delay_between_half_the_ceiling_and_the_ceiling(jitter: float) -> None:
    for attempt in range(1, 20):
        ceiling = min(300.0, 2.0 * 2.0 ** (attempt - 1))
        delay = backoff_delay(attempt, jitter=jitter)
        assert ceiling / 2 <= delay < ceiling


def test_equal_jitter_formula() -> None:
    assert backoff_delay(2, jitter=0.5) == 2.0 + 0.5 * 2.0


@pytest.mark.parametrize("jitter", [0.0, 0.3, 0.9])
def test_delay_never_decreases_and_stops_at_the_cap(jitter: float) -> None:
    delays = [backoff_delay(n, jitter=jitter) for n in range(1, 40)]
    assert delays == sorted(delays)
    assert max(delays) <= 300.0
    assert delays[-1] == 150.0 + jitter * 150.0


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert backoff_delay(10**6, jitter=0.0) == 150.0
    assert backoff_delay(10**9, factor=2, jitter=0.0) == 150.0


def test_factor_one_is_a_constant_delay() -> None:
    assert {backoff_delay(n, base=5, factor=1, jitter=0.0) for n in range(1, 10)} == {2.5}


@pytest.mark.parametrize("attempt", [0, -1])
def test_refuses_attempts_below_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt must be a whole number >= 1"):
        backoff_delay(attempt, jitter=0.0)


@pytest.mark.parametrize("jitter", [-0.1, 1.0, 1.5, math.nan])
def test_refuses_jitter_outside_zero_to_one(jitter: float) -> None:
    with pytest.raises(ValueError, match=r"jitter must be a number in \[0, 1\)"):
        backoff_delay(1, jitter=jitter)


@pytest.mark.parametrize(
    "params",
    [
        {"base": 0},
        {"base": -1},
        {"cap": 0},
        {"factor": 0.5},
        {"base": math.inf},
        {"cap": math.nan},
        {"factor": math.inf},
    ],
)
def test_refuses_nonsense_parameters(params: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs finite base > 0"):
        backoff_delay(1, jitter=0.0, **params)
