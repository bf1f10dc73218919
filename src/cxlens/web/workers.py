"""Several web worker processes: one of them runs the background jobs.

With ``cxlens serve --workers N`` every worker serves requests, but the exports from the
operational store, survey triggers and alert runs should run once, not N times. The worker that
holds the **jobs lease** runs them; the others try to take it before each cycle, so when the
holder stops another takes over within one export interval. The lease is a PostgreSQL advisory
lock when the operational store is PostgreSQL (it then also works across hosts), else an
exclusive lock on a file in the data directory (one host).
"""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from cxlens.ops import OpsStore

LEASE_FILE = ".cxlens-jobs.lock"
#: Advisory-lock key of the jobs lease (any constant; "cxjobs" in ASCII).
ADVISORY_KEY = 0x63786A6F6273


class JobsLease:
    """Try-only lease: :meth:`held` takes it if free and tells whether this process has it."""

    def __init__(self, ops: OpsStore, data_dir: Path) -> None:
        self.ops, self.data_dir = ops, data_dir
        self._held = False
        self._handle: Any = None
        self._guard = threading.Lock()

    def held(self) -> bool:
        """Whether this process holds the lease (taking it now if nobody does)."""
        with self._guard:
            if not self._held:
                self._held = self._take()
            return self._held

    def _take(self) -> bool:
        if self.ops.dialect == "postgresql":
            con = self.ops.engine.connect()  # held open: the lock lives as long as the session
            if con.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar():
                con.commit()
                self._handle = con
                return True
            con.rollback()
            con.close()
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fh = (self.data_dir / LEASE_FILE).open("a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        self._handle = fh
        return True

    def release(self) -> None:
        """Give the lease up (at shutdown)."""
        with self._guard:
            if self._handle is not None:
                self._handle.close()  # closing the session or the file releases the lock
                self._handle = None
            self._held = False
