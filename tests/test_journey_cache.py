"""Journey states: the lean path computation agrees with the journeys, and the per-data-version cache
returns the same states, reuses them until a load commits, and never serves stale ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cxlens.analyse import journey_cache as jc
from cxlens.analyse import journeys as jr
from cxlens.storage.workspace import Workspace

GAP = timedelta(days=2)
RULES = jr.JourneyRules(inactivity_gap=GAP)
TOUCHPOINTS = [
    ("product_view", "product_page", "web"),
    ("product_view", "product_page", "app"),
    ("store_visit", "store_visit", "store"),
    ("add_to_cart", "add_to_cart", "web"),
    ("payment", "payment", "web"),
    ("pos_purchase", "checkout_queue", "store"),
    ("support_call", "support_contact", "call"),
]


def _events(n: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """Random events of 30 customers and 20 anonymous ids over 30 days, with repeats and ties."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, len(TOUCHPOINTS), n)
    anon = rng.random(n) < 0.4
    at = pd.Timestamp("2025-05-01") + pd.to_timedelta(rng.integers(0, 30 * 24, n), unit="h")
    return pd.DataFrame(
        {
            "event_id": [f"E{first_id + i:05d}" for i in range(n)],
            "occurred_at": at,
            "customer_id": np.where(anon, None, [f"C{i:02d}" for i in rng.integers(0, 30, n)]),
            "anonymous_id": np.where(anon, [f"A{i:02d}" for i in rng.integers(0, 20, n)], None),
            "channel": [TOUCHPOINTS[k][2] for k in kind],
            "touchpoint": [TOUCHPOINTS[k][1] for k in kind],
            "event_type": [TOUCHPOINTS[k][0] for k in kind],
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(tmp_path / "store")
    anon = [f"A{i:02d}" for i in range(12)]
    ids = pd.DataFrame({"anonymous_id": anon, "customer_id": [f"C{i:02d}" for i in range(12)]})
    ws.ingest("identities", ids.assign(id_type="cookie"))
    ws.ingest("events", _events(600, seed=5))
    yield ws
    ws.close()


def _states_from_journey_events(
    ws: Workspace, level: str, rules: jr.JourneyRules, collapse: bool
) -> pd.DataFrame:
    """The path states derived in pandas from :func:`journey_events` (the reference journeys)."""
    ev = jr.journey_events(ws, rules).to_pandas().sort_values(["journey_id", "event_no"])
    ev["state"] = ev[level]
    if collapse:
        same = ev["journey_id"].eq(ev["journey_id"].shift()) & ev["state"].eq(ev["state"].shift())
        ev = ev[~same].copy()
    ev["step"] = ev.groupby("journey_id").cumcount() + 1
    ev["next_state"] = ev.groupby("journey_id")["state"].shift(-1)
    return _tidy(ev)


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["journey_id", "step", "state", "next_state"]].astype(
        {"step": "int64", "state": object, "next_state": object}
    )
    out = out.sort_values(["journey_id", "step"]).reset_index(drop=True)
    return out.where(out.notna(), None)


@pytest.mark.parametrize(
    ("level", "rules", "collapse"),
    [
        ("touchpoint", RULES, True),
        ("stage", RULES, True),
        ("channel", RULES, False),
        ("event_type", jr.JourneyRules(inactivity_gap=GAP, split_after_purchase=True), True),
        ("touchpoint", jr.JourneyRules(inactivity_gap=GAP, start_event_types=("store_visit",)), True),
    ],
)
def test_journey_states_follow_the_journeys(
    store: Workspace, level: str, rules: jr.JourneyRules, collapse: bool
) -> None:
    got = jr.journey_states(store, level, rules, collapse_repeats=collapse).to_pandas()  # type: ignore[arg-type]
    ref = _states_from_journey_events(store, level, rules, collapse)
    pd.testing.assert_frame_equal(_tidy(got), ref)


def _files(ws: Workspace) -> list[Path]:
    return sorted(jc.cache_dir(ws).glob("*.parquet"))


def test_cached_states_equal_the_computed_ones_and_are_reused(store: Workspace) -> None:
    fresh = _tidy(jr.journey_states(store, "touchpoint", RULES).to_pandas())
    cached = jc.cached_states(store, "touchpoint", RULES)
    pd.testing.assert_frame_equal(_tidy(cached.to_pandas()), fresh)
    (first,) = _files(store)
    assert first.name.startswith(f"v{store.data_version()}-touchpoint-")
    written = first.stat().st_mtime_ns
    again = jc.cached_states(store, "touchpoint", RULES)  # a hit: the same file, not rewritten
    assert _files(store) == [first]
    assert first.stat().st_mtime_ns == written
    pd.testing.assert_frame_equal(
        jr.transitions(store, "touchpoint", RULES, states=again), jr.transitions(store, "touchpoint", RULES)
    )
    # Other settings are other states: a file of their own.
    jc.cached_states(store, "touchpoint", jr.JourneyRules(inactivity_gap=timedelta(days=1)))
    jc.cached_states(store, "stage", RULES)
    assert len(_files(store)) == 3
    assert jc.clear(store) == 3
    assert _files(store) == []


def test_a_load_makes_new_states_and_old_ones_go(store: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    before = jr.transitions(store, "touchpoint", RULES, states=jc.cached_states(store, "touchpoint", RULES))
    (old,) = _files(store)
    monkeypatch.setattr(jc, "GRACE_SECONDS", 3600)
    store.ingest("events", _events(200, seed=6, first_id=10_000))
    after = jr.transitions(store, "touchpoint", RULES, states=jc.cached_states(store, "touchpoint", RULES))
    assert after["n"].sum() > before["n"].sum()  # the new events are in: no stale states
    pd.testing.assert_frame_equal(after, jr.transitions(store, "touchpoint", RULES))
    assert len(_files(store)) == 2  # the old version stays while a reader may still use it
    os.utime(old, (0, 0))
    monkeypatch.setattr(jc, "GRACE_SECONDS", 60)
    store.ingest("events", _events(10, seed=7, first_id=20_000))
    jc.cached_states(store, "touchpoint", RULES)
    names = [f.name for f in _files(store)]
    assert old.name not in names
    assert f"v{store.data_version()}-" in " ".join(names)


def test_cli_paths_use_the_cache_unless_told_not_to(store: Workspace) -> None:
    from typer.testing import CliRunner

    from cxlens.cli.main import app

    data_dir = str(store.data_dir)
    store.close()  # the CLI opens the store itself
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(app, ["--data-dir", data_dir, "journey", "paths", *args])
        assert result.exit_code == 0, result.output
        return result.output

    uncached = run("transitions", "--gap-days", "2", "-o", "json", "--no-cache")
    assert not _files(store)
    assert run("transitions", "--gap-days", "2", "-o", "json") == uncached
    assert len(_files(store)) == 1
    assert run("transitions", "--gap-days", "2", "-o", "json") == uncached  # read from the file
    bad = runner.invoke(app, ["--data-dir", data_dir, "journey", "paths", "top", "-l", "aisle"])
    assert bad.exit_code == 2
    assert "unknown level" in bad.output


def test_report_section_reads_and_fills_the_cache(store: Workspace) -> None:
    from cxlens.report.journey_section import journey_section

    plain = journey_section(store)
    assert not _files(store)
    cached = journey_section(store, workspace=store)
    assert [f.name.split("-")[1] for f in _files(store)] == ["stage"]
    assert [t.rows for t in cached.tables] == [t.rows for t in plain.tables]
    assert [c.json for c in cached.charts] == [c.json for c in plain.charts]


@pytest.mark.spark
@pytest.mark.slow
def test_cached_states_on_spark_equal_duckdb(spark_session: Any, store: Workspace) -> None:
    duck = _tidy(jc.cached_states(store, "stage", RULES).to_pandas())
    spark = _tidy(jc.cached_states(store, "stage", RULES, engine="spark").to_pandas())
    pd.testing.assert_frame_equal(spark, duck)
    assert len(_files(store)) == 2  # one file per engine
