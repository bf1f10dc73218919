"""Shared fixtures: isolated settings, fresh workspaces, and one Spark session per test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cxlens.cli.common import state
from cxlens.config import get_settings
from cxlens.storage.workspace import Workspace


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test gets default settings and a data directory of its own."""
    for key in list(os.environ):
        if key.startswith("CXLENS_") and not key.startswith("CXLENS_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CXLENS_DATA_DIR", str(tmp_path / "cxlens-data"))
    get_settings.cache_clear()
    # the CLI's global options live in a module-level object: reset them between tests
    state.data_dir = None
    state.journey_map = None
    yield
    get_settings.cache_clear()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """An empty workspace in a temporary directory."""
    ws = Workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local Spark session for the whole run (starting one takes seconds)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("cxlens-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ops(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty operational store: SQLite in a temp dir, or a fresh database on the PostgreSQL
    test server (``CXLENS_TEST_POSTGRES_URL``; under CI=true a missing server is an error)."""
    from cxlens.ops import OpsStore
    from cxlens.ops.testing import fresh_database, postgres_server_url

    if request.param == "sqlite":
        store = OpsStore(data_dir=tmp_path)
        yield store
        store.close()
        return
    server = postgres_server_url()
    if server is None:
        pytest.skip("CXLENS_TEST_POSTGRES_URL is not set (make test starts a server)")
    with fresh_database(server) as url:
        store = OpsStore(url)
        yield store
        store.close()
