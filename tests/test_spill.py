"""``CXLENS_DUCKDB_MEMORY_LIMIT``: with a limit far below what the data needs, DuckDB spills to
``<data_dir>/tmp`` and the load and the analytics finish with the same results as without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlens.analyse import journeys as jr
from cxlens.config import get_settings
from cxlens.storage.workspace import Workspace

TOUCHPOINTS = ("product_view", "add_to_cart", "checkout", "payment", "store_visit", "pos_purchase")


def _events(path: Path, n: int = 300_000, seed: int = 4) -> Path:
    """``n`` events of 20,000 customers over 90 days as one Parquet file (about 25 MB in memory)."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, len(TOUCHPOINTS), n)
    frame = pd.DataFrame(
        {
            "event_id": [f"E{i:09d}" for i in range(n)],
            "occurred_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 90 * 86_400, n), "s"),
            "customer_id": [f"C{i:06d}" for i in rng.integers(0, 20_000, n)],
            "channel": np.where(kind >= 4, "store", "web"),
            "event_type": np.asarray(TOUCHPOINTS)[kind],
            "properties": [f'{{"page": "/p/{i % 5000}", "referrer": "campaign-{i % 97}"}}' for i in range(n)],
        }
    )
    frame.to_parquet(path)
    return path


def _run(data_dir: Path, source: Path) -> tuple[pd.DataFrame, pd.DataFrame, str, bool]:
    """Load the events and compute transitions and the step matrix; also the limit in force and
    whether DuckDB spilled (it wrote files in this process's temporary directory, which the
    workspace creates empty)."""
    with Workspace(data_dir) as ws:
        ws.ingest("identities", pd.DataFrame(columns=["anonymous_id", "customer_id", "id_type"]))
        ws.ingest("events", source)
        transitions = jr.transitions(ws, "touchpoint")
        steps = jr.step_matrix(ws, "touchpoint", max_steps=12)
        limit = ws.backend().raw_sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        spilled = any(ws.tmp_dir.iterdir())
    return transitions, steps, str(limit), spilled


@pytest.mark.slow
def test_a_tiny_memory_limit_spills_and_gives_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _events(tmp_path / "events.parquet")
    free_tr, free_steps, _, spilled = _run(tmp_path / "free", source)
    assert not spilled  # 4 GB: nothing to spill

    monkeypatch.setenv("CXLENS_DUCKDB_MEMORY_LIMIT", "32MB")
    monkeypatch.setenv("CXLENS_DUCKDB_THREADS", "1")
    get_settings.cache_clear()
    tight_tr, tight_steps, limit, spilled = _run(tmp_path / "tight", source)
    assert limit.endswith("MiB")
    assert float(limit.split()[0]) <= 32
    assert spilled  # DuckDB wrote temporary files under the data directory

    pd.testing.assert_frame_equal(tight_tr, free_tr)
    pd.testing.assert_frame_equal(tight_steps, free_steps)
    assert int(free_tr["n"].sum()) > 100_000
