"""Engines: the same Ibis expression over the same data on DuckDB and local Spark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import ibis
import pandas as pd
import pytest

from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree, normalise

EVENTS = pd.DataFrame(
    {
        "event_id": [f"e{i}" for i in range(8)],
        "occurred_at": pd.to_datetime(
            [
                "2025-01-01 10:00",
                "2025-01-01 10:05",
                "2025-01-01 10:09",
                "2025-01-02 09:00",
                "2025-01-01 11:00",
                "2025-01-01 11:30",
                "2025-01-03 12:00",
                "2025-01-03 12:01",
            ]
        ),
        "anonymous_id": ["a", "a", "a", "a", "b", "b", "c", "c"],
        "channel": ["web", "web", "web", "store", "app", "app", "store", "store"],
        "event_type": [
            "page_view",
            "add_to_cart",
            "checkout",
            "store_visit",
            "page_view",
            "add_to_cart",
            "store_visit",
            "store_checkout",
        ],
    }
)


def transitions(t: Any) -> Any:
    """Count touchpoint-to-next-touchpoint transitions per actor (a lead window + group-by)."""
    ev = t("events")
    w = ibis.window(group_by=ev.anonymous_id, order_by=[ev.occurred_at, ev.event_id])
    pairs = ev.mutate(next_tp=ev.touchpoint.lead().over(w)).filter(lambda r: r.next_tp.notnull())
    return pairs.group_by(["touchpoint", "next_tp"]).aggregate(n=lambda r: r.count())


@pytest.fixture
def loaded(workspace: Workspace) -> Workspace:
    workspace.ingest("events", EVENTS)
    return workspace


def test_transitions_on_duckdb(loaded: Workspace) -> None:
    df = normalise(transitions(lambda name: loaded.table(name)).to_pandas(), ["touchpoint", "next_tp"])
    got = {(r.touchpoint, r.next_tp): r.n for r in df.itertuples()}
    assert got == {
        ("product_page", "add_to_cart"): 2,
        ("add_to_cart", "checkout"): 1,
        ("checkout", "store_visit"): 1,
        ("store_visit", "checkout_queue"): 1,
    }


@pytest.mark.spark
def test_transitions_parity_duckdb_vs_spark(loaded: Workspace, spark_session: Any) -> None:
    df = assert_engines_agree(loaded, transitions, sort_by=["touchpoint", "next_tp"])
    assert df["n"].sum() == 5


@pytest.mark.spark
def test_spark_reads_the_stores_files_and_follows_new_loads(loaded: Workspace, spark_session: Any) -> None:
    assert loaded.table("events", "spark").count().execute() == 8
    loaded.ingest("events", EVENTS.assign(event_id=[f"x{i}" for i in range(8)]))
    assert loaded.table("events", "spark").count().execute() == 16
    # no export: Spark's input files are the data files the table's metadata lists
    read = {
        p.removeprefix("file://").removeprefix("file:") for p in spark_session.table("events").inputFiles()
    }
    assert read == set(loaded.store.fresh("events").paths)
    assert not (loaded.data_dir / "parquet").exists()


def test_unknown_engine_and_table(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="unknown engine 'oracle'"):
        workspace.table("events", "oracle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown table 'visits'"):
        workspace.table("visits")


def test_duckdb_queries_from_many_threads_while_loading(tmp_path: Any) -> None:
    """Request threads query while another thread loads: each thread has its own cursor, so no
    query fails with 'connection is busy' and every count is a committed state (8 or 16)."""
    import gc
    import threading

    with Workspace(tmp_path / "ws") as ws:
        ws.ingest("events", EVENTS)
        more = EVENTS.assign(event_id=[f"x{i}" for i in range(8)])
        seen: list[int] = []
        errors: list[BaseException] = []
        started = threading.Barrier(5)
        stop = threading.Event()

        def count() -> int:
            t = ws.table("events")
            return int(t.filter(t.event_type != "nothing").count().execute())

        def worker() -> None:
            try:
                seen.append(count())
                started.wait()
                while not stop.is_set():
                    seen.append(count())
                seen.append(count())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        started.wait()  # every worker has queried once before the load starts
        ws.ingest("events", more)
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
        assert set(seen) == {8, 16}
        assert count() == 16
        # the workers' cursors are closed once their threads are gone
        engine = ws.engine("duckdb")
        del threads
        gc.collect()
        assert len(engine._cursors) == 1  # only this thread's


@pytest.mark.spark
def test_the_tests_run_spark_on_the_standalone_cluster(spark_master: str, spark_session: Any) -> None:
    if os.environ.get("CXLENS_TEST_SPARK_MASTER"):
        pytest.skip("CXLENS_TEST_SPARK_MASTER chose another master")
    assert spark_master.startswith("spark://127.0.0.1:")
    assert spark_session.sparkContext.master == spark_master
    # executors run in the worker's processes, not in this one
    assert spark_session.sparkContext._jsc.sc().getExecutorMemoryStatus().size() >= 2


@pytest.mark.spark
@pytest.mark.slow
def test_cli_metrics_on_the_standalone_cluster_equal_duckdbs(
    spark_master: str, spark_session: Any, tmp_path: Any
) -> None:
    """`CXLENS_SPARK_MASTER=spark://... cxlens analyse metrics ... --engine spark`, a process of its
    own with its own application on the cluster, prints what DuckDB prints."""
    import numpy as np

    if not spark_master.startswith("spark://"):
        pytest.skip("needs the standalone cluster")
    rng = np.random.default_rng(5)
    n = 600
    with Workspace(tmp_path / "ws") as ws:
        regions = {"S1": "north", "S2": "north", "S3": "south", "S4": "west"}
        stores = {"store_id": list(regions), "name": list(regions), "region": list(regions.values())}
        ws.ingest("stores", pd.DataFrame(stores))
        ws.ingest(
            "feedback",
            pd.DataFrame(
                {
                    "feedback_id": [f"f{i}" for i in range(n)],
                    "submitted_at": pd.Timestamp("2025-01-01")
                    + pd.to_timedelta(rng.integers(0, 90 * 86400, n), "s"),
                    "source": "survey",
                    "store_id": rng.choice(list(regions), n),
                    "nps": rng.integers(0, 11, n),
                }
            ),
        )
    env = {
        **os.environ,
        "CXLENS_DATA_DIR": str(tmp_path / "ws"),
        "CXLENS_SPARK_MASTER": spark_master,
        "CXLENS_SPARK_EXECUTOR_MEMORY": "1g",
        "CXLENS_SPARK_DRIVER_MEMORY": "1g",
    }
    args = [sys.executable, "-m", "cxlens", "analyse", "metrics", "-m", "nps", "-b", "region"]
    args += ["--grain", "month", "-o", "json"]
    duck = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    spark = subprocess.run([*args, "--engine", "spark"], env=env, capture_output=True, text=True, timeout=900)
    assert duck.returncode == 0, duck.stderr
    assert spark.returncode == 0, spark.stderr[-3000:]
    duck_rows, spark_rows = json.loads(duck.stdout), json.loads(spark.stdout)
    assert len(duck_rows) == 9  # 3 regions x 3 months
    assert _close(spark_rows, duck_rows)


def _close(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Equal records, floats to 1e-9."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float) and isinstance(y[k], float):
                assert x[k] == pytest.approx(y[k], rel=1e-9, abs=1e-9), k
            else:
                assert x[k] == y[k], k
    return True
