"""Atomicity: killing a real loading process mid-write leaves the store exactly as before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from cxlens.storage.workspace import Workspace

pytestmark = pytest.mark.slow


def big_events_csv(path: Path, n: int, prefix: str) -> Path:
    """Write ``n`` valid event rows."""
    rng = np.random.default_rng(7)
    types = np.array(["page_view", "add_to_cart", "store_visit", "checkout"])
    channels = np.array(["web", "app", "store", "web"])
    idx = rng.integers(0, 4, n)
    table = pa.table(
        {
            "event_id": pa.array([f"{prefix}{i}" for i in range(n)]),
            "occurred_at": pa.array(
                pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")
            ),
            "anonymous_id": pa.array([f"a{i % 50_000}" for i in range(n)]),
            "channel": pa.array(channels[idx]),
            "event_type": pa.array(types[idx]),
        }
    )
    pacsv.write_csv(table, path)
    return path


def snapshot(data_dir: Path) -> tuple[int, int, list[tuple[object, ...]]]:
    """Rows, load-log lines and a sample of events, as a new process opening the store sees them."""
    with Workspace(data_dir, read_only=True) as ws:
        n = ws.query("SELECT count(*) FROM events")[0][0]
        loads = ws.query("SELECT count(*) FROM _loads")[0][0]
        sample = ws.query("SELECT event_id, occurred_at FROM events ORDER BY event_id LIMIT 5")
    return n, loads, sample


def test_killing_a_load_mid_write_leaves_the_previous_state(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    with Workspace(data_dir) as ws:
        ws.ingest("events", big_events_csv(tmp_path / "first.csv", 1_000, "old"))
    before = snapshot(data_dir)
    assert before[0] == 1_000

    big = big_events_csv(tmp_path / "big.csv", 3_000_000, "new")
    env = {**os.environ, "CXLENS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxlens", "ingest", "events", str(big), "--no-progress"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("writing"):
            time.sleep(0.3)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    rest = proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL, (lines, rest)
    assert not any("committed" in x for x in [*lines, rest]), "the load finished before the kill"

    assert snapshot(data_dir) == before
    # The store still works: the same load now completes.
    with Workspace(data_dir) as ws:
        [result] = ws.ingest("events", big)
        assert result.rows_loaded == 3_000_000
        assert ws.counts()["events"] == 3_001_000
