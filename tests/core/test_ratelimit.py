"""The failure limiter: a client is held back after `limit` failures in a window, for no
longer than the window, and memory stays bounded."""

from __future__ import annotations

import pytest

from hookd.core.ratelimit import FailureLimiter, client_key, retry_after_header


def test_a_client_is_held_back_after_limit_failures_until_the_oldest_leaves_the_window() -> None:
    limiter = FailureLimiter(3, window=60)
    for at in (0.0, 10.0, 20.0):
        assert limiter.retry_after("192.0.2.1", at) is None
        limiter.fail("192.0.2.1", at)
    assert limiter.retry_after("192.0.2.1", 30.0) == pytest.approx(30.0)
    assert limiter.retry_after("192.0.2.1", 59.9) == pytest.approx(0.1)
    assert limiter.retry_after("192.0.2.1", 60.0) is None


def test_other_clients_are_not_held_back() -> None:
    limiter = FailureLimiter(1)
    limiter.fail("192.0.2.1", 0.0)
    assert limiter.retry_after("192.0.2.1", 1.0) is not None
    assert limiter.retry_after("192.0.2.2", 1.0) is None
    assert limiter.retry_after(None, 1.0) is None


def test_limit_zero_turns_it_off() -> None:
    limiter = FailureLimiter(0)
    for at in range(100):
        limiter.fail("192.0.2.1", float(at))
    assert limiter.retry_after("192.0.2.1", 100.0) is None
    assert len(limiter) == 0


def test_memory_is_bounded_by_clients_and_by_limit() -> None:
    limiter = FailureLimiter(2, max_clients=100)
    for n in range(1000):
        limiter.fail(f"10.0.{n // 256}.{n % 256}", 0.0)
        limiter.fail("192.0.2.1", 0.0)
    assert len(limiter) == 100
    assert limiter.retry_after("192.0.2.1", 1.0) is not None


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    limiter = FailureLimiter(2)
    limiter.fail("2001:db8::1", 0.0)
    limiter.fail("2001:db8::ffff:2", 0.0)
    assert limiter.retry_after("2001:db8::3", 1.0) is not None
    assert limiter.retry_after("2001:db8:0:1::3", 1.0) is None
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(1.2) == "2"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        FailureLimiter(-1)
