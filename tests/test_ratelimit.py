"""FailureLimiter (sliding window on an injected clock) and client_address behind trusted proxies."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from iop_workflow.server.ratelimit import FailureLimiter, client_address


@dataclass
class Ticks:
    now: float = 5000.0

    def __call__(self) -> float:
        return self.now


def test_twenty_failures_then_wait_then_free_again() -> None:
    ticks = Ticks()
    limiter = FailureLimiter(20, monotonic=ticks)
    for _ in range(19):
        limiter.failed("10.0.0.1")
        ticks.now += 1
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1")
    wait = limiter.retry_after("10.0.0.1")
    assert wait is not None and 0 < wait <= 60
    assert wait == pytest.approx(60 - 19)  # until the first of the twenty leaves the window
    assert limiter.retry_after("10.0.0.2") is None  # other clients are not affected
    ticks.now += 61
    assert limiter.retry_after("10.0.0.1") is None
    assert len(limiter) == 0  # forgotten, not just ignored


def test_window_slides_one_failure_at_a_time() -> None:
    ticks = Ticks()
    limiter = FailureLimiter(3, monotonic=ticks)
    for _ in range(3):
        limiter.failed("c")
        ticks.now += 10
    assert limiter.retry_after("c") == pytest.approx(30)
    ticks.now += 30  # the first failure leaves the window
    assert limiter.retry_after("c") is None
    limiter.failed("c")
    assert limiter.retry_after("c") == pytest.approx(10)


def test_zero_per_minute_turns_the_limit_off() -> None:
    limiter = FailureLimiter(0, monotonic=Ticks())
    for _ in range(100):
        limiter.failed("c")
    assert limiter.retry_after("c") is None


def test_tracked_clients_are_capped_oldest_first() -> None:
    ticks = Ticks()
    limiter = FailureLimiter(1, monotonic=ticks, max_clients=3)
    for client in ("a", "b", "c", "d"):
        limiter.failed(client)
        ticks.now += 0.1
    assert len(limiter) == 3
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("d") is not None


def test_concurrent_failures_are_all_counted() -> None:
    limiter = FailureLimiter(801, monotonic=Ticks())

    def fail_100() -> None:
        for _ in range(100):
            limiter.failed("c")

    threads = [threading.Thread(target=fail_100) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limiter.retry_after("c") is None  # 800 counted
    limiter.failed("c")
    assert limiter.retry_after("c") is not None


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.7", "198.51.100.1", [], "203.0.113.7"),  # untrusted peer: header ignored
        ("203.0.113.7", "198.51.100.1", ["10.0.0.1"], "203.0.113.7"),
        ("10.0.0.1", "198.51.100.1", ["10.0.0.1"], "198.51.100.1"),  # exact address
        ("10.1.2.3", "198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),  # CIDR
        ("10.1.2.3", "1.1.1.1, 198.51.100.1, 10.9.9.9", ["10.0.0.0/8"], "198.51.100.1"),  # proxy chain
        ("10.1.2.3", "forged, 198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),  # left of the real client: not read
        ("10.1.2.3", "198.51.100.1, garbage", ["10.0.0.0/8"], "10.1.2.3"),
        ("10.1.2.3", "", ["10.0.0.0/8"], "10.1.2.3"),
        ("10.1.2.3", None, ["10.0.0.0/8"], "10.1.2.3"),
        ("10.1.2.3", "10.4.4.4", ["10.0.0.0/8"], "10.1.2.3"),  # only proxies
        ("::1", "2001:db8::1", ["::1"], "2001:db8::1"),
        ("10.1.2.3", "198.51.100.1", ["not-an-address"], "10.1.2.3"),
        (None, "198.51.100.1", ["10.0.0.0/8"], "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: str | None, trusted: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, trusted) == expected
