"""Analytics engines: Ibis backends over the workspace's tables, on DuckDB (default) or PySpark.

Analytic code receives Ibis tables and never imports an engine. Both engines read the same
Parquet data files, listed by the tables' Iceberg metadata (no export, no copy): DuckDB through
the workspace's views, Spark through ``spark.read.parquet`` of each table's current file list.
Neither needs an Iceberg extension or jar (none can be downloaded here), which is why the store
never writes delete files (see :mod:`cxlens.storage.store`).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, Protocol

import ibis

from cxlens.config import get_settings
from cxlens.storage.store import TableState

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

    __slots__ = ("__weakref__", "backend", "tables")

    def __init__(self, backend: BaseBackend) -> None:
        self.backend = backend
        #: Ibis tables this thread made, by view name: (the view's metadata file, the table).
        self.tables: dict[str, tuple[str | None, ir.Table]] = {}


class DuckDBEngine:
    """Ibis over the workspace's DuckDB views, one cursor of the workspace database per thread.

    A DuckDB connection serves one caller at a time, so the web app's request threads, the
    exporter and the CLI each get their own cursor (a connection to the same database): queries
    run concurrently, and each sees only committed loads (of any process: :meth:`table` first
    points the views at the current files). A thread's cursor is closed when the
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
            cursor = self.workspace._local().cursor()
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
        """The stored table ``name``, as of the latest commit (the Ibis table is reused while the
        view reads the same snapshot: asking DuckDB for a schema costs milliseconds per call)."""
        self.workspace.refresh()
        backend = self.backend
        holder: _ThreadBackend = self._local.holder
        location = self.workspace._views.get(name)
        cached = holder.tables.get(name)
        if cached is not None and location is not None and cached[0] == location:
            return cached[1]
        table = backend.table(name)
        holder.tables[name] = (location, table)
        return table

    def close(self) -> None:
        """Close the cursors; the workspace owns the connection itself."""
        with self._guard:
            cursors, self._cursors = list(self._cursors.values()), {}
        for cursor in cursors:
            cursor.close()
        self._local = threading.local()


class SparkEngine:
    """Ibis over PySpark, reading each table's current Parquet files (local mode by default; set
    ``CXLENS_SPARK_MASTER`` to a cluster whose executors see the warehouse path)."""

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
            session = spark_session(SparkSession.builder)
        self.session = session
        self.backend = ibis.pyspark.connect(session)
        self._seen: dict[str, str] = {}
        self._guard = threading.Lock()

    def table(self, name: str) -> ir.Table:
        """The stored table ``name``, as of the latest commit."""
        store = self.workspace.store
        _, pointers = store.pointers()
        if name not in pointers:
            raise KeyError(f"no table {name!r} in the store")
        with self._guard:
            state = store.state(name, pointers[name])
            if self._seen.get(name) != state.table.metadata_location:
                self._frame(state).createOrReplaceTempView(name)
                self._seen[name] = state.table.metadata_location
                self._size_shuffles(store, pointers)
        return self.backend.table(name)

    def _frame(self, state: TableState) -> Any:
        """A Spark DataFrame of the table's columns over its current files (typed when empty)."""
        from pyspark.sql import functions as F  # noqa: N812 - the PySpark convention

        schema = spark_schema(state)
        if not state.files:
            return self.session.createDataFrame([], schema)
        merge = len(state.table.metadata.schemas) > 1
        df = self.session.read.option("mergeSchema", str(merge).lower()).parquet(
            *[f.file_path for f in state.files]
        )
        cols = []
        for field in schema.fields:
            col = F.col(field.name) if field.name in df.columns else F.lit(None)
            cols.append(col.cast(field.dataType).alias(field.name))
        return df.select(*cols)

    def _size_shuffles(self, store: Any, pointers: dict[str, str]) -> None:
        """Shuffle partitions from the data size: ~128 MB of Parquet per partition, at least the
        cluster's default parallelism, at most 2,000."""
        total = sum(
            f.file_size_in_bytes for view, loc in pointers.items() for f in store.state(view, loc).files
        )
        parallelism = self.session.sparkContext.defaultParallelism
        partitions = max(parallelism, min(2000, math.ceil(total / (128 * 1024 * 1024))))
        self.session.conf.set("spark.sql.shuffle.partitions", str(partitions))

    def close(self) -> None:
        """Leave the Spark session running: it is process-wide and expensive to restart."""


def spark_session(builder: Any, master: str | None = None, app_name: str = "cxlens") -> Any:
    """Configure and start (or reuse) the Spark session from the settings."""
    settings = get_settings()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        builder.master(master or settings.spark_master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.executor.memory", settings.spark_executor_memory)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )


def spark_schema(state: TableState) -> Any:
    """The Spark schema of a table (timestamps without a zone, as DuckDB writes them)."""
    from pyspark.sql import types as T  # noqa: N812 - the PySpark convention

    mapping = {
        "VARCHAR": T.StringType(),
        "BIGINT": T.LongType(),
        "INTEGER": T.IntegerType(),
        "DOUBLE": T.DoubleType(),
        "BOOLEAN": T.BooleanType(),
        "TIMESTAMP": T.TimestampNTZType(),
        "DATE": T.DateType(),
    }
    from cxlens.storage.store import duckdb_type

    return T.StructType(
        [T.StructField(f.name, mapping[duckdb_type(f.field_type)], True) for f in state.table.schema().fields]
    )


def make_engine(name: str, workspace: Workspace) -> AnalyticsEngine:
    """Create the engine called ``name`` for ``workspace``."""
    if name == "duckdb":
        return DuckDBEngine(workspace)
    if name == "spark":
        return SparkEngine(workspace)
    raise ValueError(f"unknown engine {name!r}; choose duckdb or spark")
