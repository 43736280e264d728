"""A token bucket per caller (token ``sub`` + role), kept in memory by each gateway process."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_second`` requests on average, up to ``burst`` at once, for each caller.

    ``take`` answers 0 when the request may go ahead, else the whole seconds to wait.
    """

    #: Buckets kept before idle (full) ones are forgotten.
    PRUNE_ABOVE = 10_000

    def __init__(
        self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be positive and burst at least 1")
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def take(self, key: tuple[str, str]) -> int:
        """Spend one request of ``key``'s bucket, if it holds one.

        Parameters:
          key(tuple[str, str]): The caller: ``(role, party id)``, the token's ``role`` and
            ``sub`` (or the link's).

        Returns:
          int: 0 when the request may go ahead (a token was spent); else the whole seconds,
          at least 1, until the bucket holds a token again (the ``Retry-After`` of a 429).
        """
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.per_second)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.per_second))

    def _prune(self, now: float) -> None:
        """Forget callers whose bucket has filled up again: they start full anyway."""
        refill = self.burst / self.per_second
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if now - bucket.updated < refill
        }
