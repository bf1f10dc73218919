"""Rate limits shared by every server process, and the per-account sign-in backoff.

:class:`RateLimiter` is a GCRA limit ("at most ``limit`` per ``window`` seconds, with bursts up
to ``limit``") whose state is one row per key in the operational store (``rate_buckets``), so
every worker behind one address counts the same hits: each hit is a single conditional
``UPDATE`` (atomic on SQLite and PostgreSQL). To keep that write off most requests, a process
takes a *lease* of a tenth of the limit at once and spends it locally; leased tokens are counted
in the shared row, so all processes together never exceed the limit (a lease a process does not
spend in time is lost, which only makes the limit stricter). Without a store it counts in memory.

:func:`login_wait` / :func:`login_failed` / :func:`login_succeeded` keep failed sign-ins per
username (known or not, so the answer never tells which names exist): after
``free_failures`` failures each further attempt must wait 30 s, doubling up to 15 minutes,
whatever address it comes from.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from datetime import timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.exc import IntegrityError

from cxlens.ops import OpsStore, utcnow
from cxlens.ops.auth_models import LoginThrottle
from cxlens.ops.models import RateBucket

FIRST_LOCK_SECONDS = 30.0
MAX_LOCK_SECONDS = 900.0


class RateLimiter:
    """Allow at most ``limit`` hits per ``window`` seconds per key (``limit <= 0``: no limit)."""

    def __init__(
        self, limit: int, window: float = 60.0, *, ops: OpsStore | None = None, name: str = ""
    ) -> None:
        self.limit, self.window, self.ops, self.name = limit, window, ops, name
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.lease = max(1, limit // 10)
        #: Tokens leased from the shared row and not spent yet: key -> (tokens, valid until).
        self._leases: dict[str, tuple[int, float]] = {}

    def spend_leased(self, key: str) -> bool:
        """Allow a hit without the store if it can be (no limit, or a leased token left; never
        blocks, so the event loop may call it); False means call :meth:`hit`."""
        if self.limit <= 0:
            return True
        if self.ops is None:
            return False
        key = f"{self.name}:{key}"[:256]
        now = time.monotonic()
        with self._lock:
            tokens, until = self._leases.get(key, (0, 0.0))
            if tokens > 0 and now < until:
                self._leases[key] = (tokens - 1, until)
                return True
        return False

    def hit(self, key: str) -> float | None:
        """Record a hit; return None if allowed, else the seconds until the next is allowed."""
        if self.limit <= 0:
            return None
        if self.ops is None:
            return self._memory_hit(key)
        if self.spend_leased(key):
            return None
        key = f"{self.name}:{key}"[:256]
        now = time.monotonic()
        for size in dict.fromkeys((self.lease, 1)):  # a whole lease, else a single token
            wait = self._take(key, size)
            if wait is None:
                if size > 1:
                    with self._lock:
                        self._leases[key] = (size - 1, now + self.window)
                return None
        return wait

    def _take(self, key: str, tokens: int) -> float | None:
        """Take ``tokens`` from the shared row at once; None if taken, else the wait for one."""
        try:
            return self._take_once(key, tokens)
        except IntegrityError:  # a concurrent first hit created the row: take from it
            return self._take_once(key, tokens)

    def _take_once(self, key: str, tokens: int) -> float | None:
        assert self.ops is not None
        now = time.time()
        step = self.window / self.limit
        tolerance = self.window - step
        need = tolerance - (tokens - 1) * step  # every token taken must fit in the window
        with self.ops.session() as s:
            moved = s.execute(
                update(RateBucket)
                .where(RateBucket.key == key, RateBucket.tat - now <= need)
                .values(
                    tat=case(
                        (RateBucket.tat > now, RateBucket.tat + tokens * step), else_=now + tokens * step
                    )
                )
            )
            if getattr(moved, "rowcount", 0):
                wait = None
            else:
                row = s.get(RateBucket, key)
                wait = None if row is None else max(0.0, row.tat - now - tolerance)
                if row is None:
                    s.add(RateBucket(key=key, tat=now + tokens * step))
            if random.random() < 0.002:  # forget keys idle for a window (keeps the table small)
                s.execute(delete(RateBucket).where(RateBucket.tat < now - self.window))
        return wait

    def _memory_hit(self, key: str) -> float | None:
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


def _name(username: str) -> str:
    return username.strip().lower()[:128]


def login_wait(ops: OpsStore, username: str) -> float | None:
    """Seconds this username must wait before another sign-in attempt, or None."""
    with ops.sessions() as s:
        row = s.get(LoginThrottle, _name(username))
    if row is None or row.locked_until is None:
        return None
    left = (row.locked_until - utcnow()).total_seconds()
    return left if left > 0 else None


def login_failed(ops: OpsStore, username: str, free_failures: int) -> float | None:
    """Count a failed sign-in; the lock it starts (seconds), if any."""
    now = utcnow()
    name = _name(username)
    for _ in range(2):  # a concurrent first failure may insert the row first
        try:
            with ops.session() as s:
                row = s.get(LoginThrottle, name)
                if row is None:
                    row = LoginThrottle(username=name, failures=0)
                    s.add(row)
                row.failures = (row.failures or 0) + 1
                row.last_failure_at = now
                over = row.failures - free_failures
                lock = min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** min(over, 10)) if over >= 0 else None
                row.locked_until = now + timedelta(seconds=lock) if lock else None
            return lock
        except IntegrityError:
            continue
    return None


def login_succeeded(ops: OpsStore, username: str) -> None:
    """Forget the failures of a username after a successful sign-in."""
    with ops.session() as s:
        s.execute(delete(LoginThrottle).where(LoginThrottle.username == _name(username)))
