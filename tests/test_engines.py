"""Engines: the same Ibis expression over the same data on DuckDB and local Spark."""

from __future__ import annotations

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
