"""Atomicity: killing a real loading process mid-write leaves the store exactly as before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
    proc = _cli_ingest(data_dir, big)
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


def _cli_ingest(data_dir: Path, path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CXLENS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "cxlens", "ingest", "events", str(path), "--no-progress"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_killing_one_of_two_concurrent_loads_loses_nothing_the_other_committed(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    with Workspace(data_dir) as ws:
        ws.ingest("events", big_events_csv(tmp_path / "first.csv", 1_000, "old"))
    big = big_events_csv(tmp_path / "big.csv", 3_000_000, "big")
    small = big_events_csv(tmp_path / "small.csv", 20_000, "small")

    doomed = _cli_ingest(data_dir, big)
    assert doomed.stderr is not None
    seen = []
    for line in doomed.stderr:
        seen.append(line)
        if line.startswith("staged"):
            break
    # the other load starts and commits while the first one validates and writes
    other = _cli_ingest(data_dir, small)
    out, errors = other.communicate(timeout=300)
    assert other.returncode == 0, errors
    assert "20,000 of 20,000 rows loaded" in out
    for line in doomed.stderr:
        seen.append(line)
        if line.startswith("writing"):
            time.sleep(0.3)
            doomed.send_signal(signal.SIGKILL)
            break
    doomed.wait(timeout=120)
    assert doomed.returncode == -signal.SIGKILL, seen
    assert not any("committed" in x for x in seen), "the big load finished before the kill"

    with Workspace(data_dir, read_only=True) as ws:
        assert ws.counts()["events"] == 21_000
        assert ws.query("SELECT source, rows_loaded FROM _loads ORDER BY load_id") == [
            (str(tmp_path / "first.csv"), 1_000),
            (str(small), 20_000),
        ]
        assert ws.query("SELECT count(*) FROM events WHERE event_id LIKE 'big%'") == [(0,)]
        assert ws.query("SELECT count(DISTINCT event_id) FROM events") == [(21_000,)]
    # the killed load, run again, completes; the files it left are removed by expiry
    with Workspace(data_dir) as ws:
        [result] = ws.ingest("events", big)
        assert result.rows_loaded == 3_000_000
        assert ws.counts()["events"] == 3_021_000
        assert ws.expire(older_than_hours=0)["events"] >= 1


def test_loads_from_several_processes_at_once_store_each_key_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    Workspace(data_dir).close()
    frames = []
    for i in range(4):  # overlapping key ranges: rows 0-2999, 1000-3999, 2000-4999, 3000-5999
        frame = pd.DataFrame(
            {
                "event_id": [f"k{j:06d}" for j in range(i * 1000, i * 1000 + 3000)],
                "occurred_at": "2025-02-01 10:00:00",
                "anonymous_id": "a",
                "channel": "web",
                "event_type": "page_view",
            }
        )
        path = tmp_path / f"part{i}.csv"
        frame.to_csv(path, index=False)
        frames.append(path)
    procs = [_cli_ingest(data_dir, p) for p in frames]
    for p in procs:
        _, errors = p.communicate(timeout=300)
        assert p.returncode == 0, errors
    with Workspace(data_dir, read_only=True) as ws:
        assert ws.query("SELECT count(*), count(DISTINCT event_id) FROM events") == [(6_000, 6_000)]
        loads = ws.query("SELECT rows_read, rows_loaded, rows_duplicate FROM _loads")
        assert len(loads) == 4
        assert sum(r[1] for r in loads) == 6_000
        assert all(r[0] == r[1] + r[2] for r in loads)


def test_a_commit_that_loses_the_race_rechecks_keys_against_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process commits overlapping keys between this load's check and its commit: the
    commit fails, the new files are checked, the shared keys are dropped and the retry lands."""
    from cxlens.storage.store import TableStore

    data_dir = tmp_path / "store"
    mine = pd.DataFrame(
        {
            "event_id": [f"k{j:04d}" for j in range(100)],
            "occurred_at": "2025-02-01 10:00:00",
            "anonymous_id": "a",
            "channel": "web",
            "event_type": "page_view",
        }
    )
    theirs = mine.iloc[60:].assign(event_id=[f"k{j:04d}" for j in range(60, 140)][:40])
    real_commit = TableStore.commit
    raced = []

    def commit_after_a_rival(self: TableStore, build: Any, operation: str, load_id: int | None = None) -> int:
        if operation == "load" and not raced:
            raced.append(True)
            with Workspace(data_dir) as rival:  # another writer, with its own catalogue connection
                [r] = rival.ingest("events", theirs)
                assert r.rows_loaded == 40
        return real_commit(self, build, operation, load_id)

    with Workspace(data_dir) as ws:
        monkeypatch.setattr(TableStore, "commit", commit_after_a_rival)
        [result] = ws.ingest("events", mine)
        assert raced
        assert result.rows_loaded == 60
        assert result.rows_duplicate == 40
        assert ws.query("SELECT count(*), count(DISTINCT event_id) FROM events") == [(100, 100)]
        assert sorted(r[0] for r in ws.query("SELECT rows_loaded FROM _loads")) == [40, 60]
