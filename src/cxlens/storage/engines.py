"""Analytics engines: Ibis backends over the workspace's data, on DuckDB (default) or PySpark.

Analytic code receives Ibis tables and never imports an engine. The DuckDB engine reads the
embedded store directly. The Spark engine reads a Parquet snapshot of the store, written under
``<data_dir>/parquet/v<version>/`` and refreshed when a load has committed since; on a cluster,
point Spark at the same Parquet layout in shared storage.
"""

from __future__ import annotations

import shutil
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import ibis

from cxlens.config import get_settings
from cxlens.model.schema import TABLE_ORDER, get_table

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from cxlens.storage.workspace import Workspace


class EngineUnavailableError(RuntimeError):
    """The requested engine cannot start here (missing extra, no Java, ...)."""


class AnalyticsEngine(Protocol):
    """What an engine offers: an Ibis backend and the data-model tables on it."""

    name: str

    @property
    def backend(self) -> BaseBackend: ...

    def table(self, name: str) -> ir.Table: ...

    def close(self) -> None: ...


class _ThreadBackend:
    """Holds one thread's Ibis backend; when the thread ends, its cursor is closed."""

    __slots__ = ("__weakref__", "backend")

    def __init__(self, backend: BaseBackend) -> None:
        self.backend = backend


class DuckDBEngine:
    """Ibis over the embedded DuckDB store, one cursor of the workspace connection per thread.

    A DuckDB connection serves one caller at a time, so the web app's request threads, the
    exporter and the CLI each get their own cursor (a connection to the same database): queries
    run concurrently, and each sees only committed loads. A thread's cursor is closed when the
    thread ends (server thread pools retire idle threads) or when the engine closes. An Ibis
    expression belongs to the thread that built it: build and run it in one thread.
    """

    name = "duckdb"

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._local = threading.local()
        self._cursors: dict[int, Any] = {}
        self._guard = threading.Lock()

    @property
    def backend(self) -> BaseBackend:
        """This thread's Ibis backend (created on first use)."""
        holder: _ThreadBackend | None = getattr(self._local, "holder", None)
        if holder is None:
            cursor = self.workspace.con.cursor()
            holder = _ThreadBackend(ibis.duckdb.from_connection(cursor))
            with self._guard:
                self._cursors[id(cursor)] = cursor
            weakref.finalize(holder, self._release, id(cursor))
            self._local.holder = holder
        return holder.backend

    def _release(self, key: int) -> None:
        with self._guard:
            cursor = self._cursors.pop(key, None)
        if cursor is not None:
            cursor.close()

    def table(self, name: str) -> ir.Table:
        """The data-model table ``name``."""
        get_table(name)
        return self.backend.table(name)

    def close(self) -> None:
        """Close the cursors; the workspace owns the connection itself."""
        with self._guard:
            cursors, self._cursors = list(self._cursors.values()), {}
        for cursor in cursors:
            cursor.close()
        self._local = threading.local()


class SparkEngine:
    """Ibis over PySpark, reading a Parquet snapshot of the store (local mode by default)."""

    name = "spark"

    def __init__(self, workspace: Workspace, session: Any | None = None) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineUnavailableError(
                "the spark engine needs PySpark: pip install 'cxlens[spark]' (and Java 17)"
            ) from exc
        self.workspace = workspace
        if session is None:
            session = (
                SparkSession.builder.master(get_settings().spark_master)
                .appName("cxlens")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .getOrCreate()
            )
        self.session = session
        self.backend = ibis.pyspark.connect(session)
        self._version: int | None = None

    @property
    def snapshot_root(self) -> Path:
        """Directory holding the Parquet snapshots."""
        return self.workspace.data_dir / "parquet"

    def refresh(self) -> Path:
        """Write a Parquet snapshot of every table if the store changed; return its directory."""
        version = self.workspace.data_version()
        target = self.snapshot_root / f"v{version}"
        if not (target / "_SUCCESS").exists():
            tmp = self.snapshot_root / f".v{version}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            con = self.workspace.con
            for name in TABLE_ORDER:
                target_file = str(tmp / (name + ".parquet")).replace("'", "''")
                con.execute(f"COPY \"{name}\" TO '{target_file}' (FORMAT parquet)")
            (tmp / "_SUCCESS").touch()
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
            for old in self.snapshot_root.glob("v*"):
                if old != target:
                    shutil.rmtree(old, ignore_errors=True)
        if self._version != version:
            for name in TABLE_ORDER:
                self.backend.read_parquet(str(target / f"{name}.parquet"), table_name=name)
            self._version = version
        return target

    def table(self, name: str) -> ir.Table:
        """The data-model table ``name``, from the current snapshot."""
        get_table(name)
        self.refresh()
        return self.backend.table(name)

    def close(self) -> None:
        """Leave the Spark session running: it is process-wide and expensive to restart."""


def make_engine(name: str, workspace: Workspace) -> AnalyticsEngine:
    """Create the engine called ``name`` for ``workspace``."""
    if name == "duckdb":
        return DuckDBEngine(workspace)
    if name == "spark":
        return SparkEngine(workspace)
    raise ValueError(f"unknown engine {name!r}; choose duckdb or spark")
