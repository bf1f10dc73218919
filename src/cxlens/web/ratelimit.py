"""A sliding-window rate limit per client address, in memory (one server process)."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """Allow at most ``limit`` hits per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Record a hit; return None if allowed, else the seconds until the next is allowed."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.0, hits[0] + self.window - now)
            hits.append(now)
            if len(self._hits) > 100_000:
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}
            return None
