"""Request rate limits: token buckets (per seller, per client address), in this process's memory.

Each hub process keeps its own buckets, so with N workers a seller may reach N times the rate; the
operator divides the rates accordingly (the README says so). Keeping them in memory costs no database
round-trip on the hot feed path. A request may cost more than one token (`cost`): the write budget charges
one per item written, the lookup limit one per member id asked about.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

MAX_KEYS = 50_000  # beyond this, buckets that refilled completely are forgotten (they hold no state)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self, per_minute: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._monotonic = monotonic
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: Hashable, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst:
                del self._buckets[key]

    def acquire(self, key: Hashable, cost: float = 1.0) -> float:
        """Take `cost` tokens; returns 0 when allowed, else the seconds to wait before retrying.

        A cost above the burst can never be paid at once: it is capped at the burst.
        """
        cost = min(cost, self.burst)
        now = self._monotonic()
        with self._lock:
            bucket = self._bucket(key, now)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate

    def waiting(self, key: Hashable, cost: float = 1.0) -> float:
        """Seconds until `cost` tokens (capped at the burst) are available (0: now), without taking them."""
        cost = min(cost, self.burst)
        now = self._monotonic()
        with self._lock:
            bucket = self._bucket(key, now)
            return 0.0 if bucket.tokens >= cost else (cost - bucket.tokens) / self.rate

    def charge(self, key: Hashable, cost: float) -> None:
        """Take `cost` tokens after the fact (the bucket may go into debt: later requests wait)."""
        now = self._monotonic()
        with self._lock:
            bucket = self._bucket(key, now)
            bucket.tokens = max(-self.burst, bucket.tokens - cost)


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
