"""Slowing down credential guessing: failed authentications per client, and who the client is.

``FailureLimiter`` counts failed authentications per client address in a sliding 60 s window;
``client_address`` says which address that is behind a trusted reverse proxy.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection

WINDOW = 60.0
MAX_CLIENTS = 100_000

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FailureLimiter:
    """Per-client failure counts over the last ``WINDOW`` seconds. Thread-safe, bounded memory.

    ``per_minute`` 0 turns the limit off. At most ``max_clients`` clients are tracked; beyond
    that the one least recently failed is forgotten (an attacker spraying addresses can only
    make the limiter forget, never grow).
    """

    def __init__(
        self, per_minute: int, *, monotonic: Callable[[], float] = time.monotonic, max_clients: int = MAX_CLIENTS
    ) -> None:
        self._limit = per_minute
        self._now = monotonic
        self._max = max_clients
        self._lock = threading.Lock()
        # client -> times of its failures in the window, oldest first; the dict is in the order
        # the clients last failed, so the front is both the eviction and the expiry candidate.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again if it has used up its failures, else None."""
        if self._limit <= 0:
            return None
        with self._lock:
            now = self._now()
            self._expire(now)
            times = self._failures.get(client)
            if times is None:
                return None
            _trim(times, now)
            if len(times) < self._limit:
                return None
            # The window slides: one more attempt is allowed when the oldest counted failure leaves it.
            return max(times[-self._limit] + WINDOW - now, 0.001)

    def failed(self, client: str) -> None:
        """Count one failed authentication by ``client``."""
        if self._limit <= 0:
            return
        with self._lock:
            now = self._now()
            times = self._failures.pop(client, None) or deque()
            _trim(times, now)
            times.append(now)
            while len(times) > self._limit:  # only the newest ``limit`` matter for retry_after
                times.popleft()
            self._failures[client] = times
            self._expire(now)
            while len(self._failures) > self._max:
                self._failures.popitem(last=False)

    def __len__(self) -> int:
        """How many clients are tracked (for tests and metrics)."""
        with self._lock:
            return len(self._failures)

    def _expire(self, now: float) -> None:
        """Forget clients whose last failure left the window; they are at the front."""
        while self._failures:
            client, times = next(iter(self._failures.items()))
            if times and now - times[-1] < WINDOW:
                return
            del self._failures[client]


def _trim(times: deque[float], now: float) -> None:
    while times and now - times[0] >= WINDOW:
        times.popleft()


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Collection[str]) -> str:
    """The address to hold responsible for a request.

    The TCP peer, unless it is a trusted proxy (an exact address or a CIDR network); then the
    right-most X-Forwarded-For entry that is not itself a trusted proxy, since entries to its
    left were written by the client and prove nothing. A missing or garbled header, or one of
    only proxies, gives the peer. No peer at all gives ``"unknown"``.
    """
    if not peer:
        return "unknown"
    networks = _networks(trusted_proxies)
    if not forwarded_for or not _trusted(peer, networks):
        return peer
    for entry in reversed(forwarded_for.split(",")):
        address = _address(entry)
        if address is None:
            return peer  # garbage: nothing in this header can be believed
        if not _trusted(address, networks):
            return address
    return peer


def _networks(trusted: Collection[str]) -> list[_Network]:
    networks: list[_Network] = []
    for item in trusted:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            continue  # a malformed entry trusts nobody
    return networks


def _address(text: str) -> str | None:
    """The normalised IP address in ``text`` (X-Forwarded-For entry), or None if it is not one."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _trusted(address: str, networks: list[_Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
