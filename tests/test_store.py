"""The table store: Iceberg tables read as plain Parquet, copy-on-write deletes, compaction,
schema growth, concurrent writers in several processes, and migration of an earlier store."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyiceberg.manifest import DataFileContent

from cxlens.model import schema
from cxlens.model.schema import DUCKDB_TYPES, TABLE_ORDER, TABLES, Column, ColumnType, Table
from cxlens.storage.migrate import MigrationError, migrate
from cxlens.storage.workspace import LEGACY_DB_FILE, LegacyStoreError, Workspace


def events(prefix: str, n: int, start: int = 0) -> pd.DataFrame:
    """``n`` valid events with ids ``prefix<start>`` ... (customer ``c<i % 5>``)."""
    return pd.DataFrame(
        {
            "event_id": [f"{prefix}{i:05d}" for i in range(start, start + n)],
            "occurred_at": pd.Timestamp("2025-03-01") + pd.to_timedelta(range(n), unit="min"),
            "customer_id": [f"c{i % 5}" for i in range(start, start + n)],
            "channel": "web",
            "event_type": "page_view",
        }
    )


def plain_parquet_rows(ws: Workspace, table: str) -> pd.DataFrame:
    """The table as a plain Parquet reader sees it: the current snapshot's file list, nothing else."""
    state = ws.store.fresh(table)
    assert all(f.content == DataFileContent.DATA for f in state.files), "a delete file was written"
    if not state.paths:
        return pd.DataFrame()
    return duckdb.connect().execute("SELECT * FROM read_parquet(?)", [state.paths]).df()


def test_delete_where_rewrites_files_and_plain_parquet_readers_agree(workspace: Workspace) -> None:
    workspace.ingest("events", events("a", 40))
    workspace.ingest("events", events("b", 40))
    before_files = {f.file_path for f in workspace.store.fresh("events").files}
    version = workspace.data_version()

    assert workspace.delete_where("events", "customer_id", ["c1", "c3", "nobody"]) == 32
    assert workspace.data_version() > version
    left = plain_parquet_rows(workspace, "events")
    assert len(left) == 48
    assert set(left["customer_id"]) == {"c0", "c2", "c4"}
    after_files = {f.file_path for f in workspace.store.fresh("events").files}
    assert not before_files & after_files  # both files held deleted rows: both rewritten
    assert workspace.counts()["events"] == 48
    assert workspace.table("events").count().execute() == 48
    # deleting what is not there commits nothing
    version = workspace.data_version()
    assert workspace.delete_where("events", "customer_id", ["c1"]) == 0
    assert workspace.data_version() == version
    with pytest.raises(KeyError, match="no column 'shoe_size'"):
        workspace.delete_where("events", "shoe_size", [1])


def test_deletes_keep_rows_whose_column_is_null_and_purge_leaves_no_trace(workspace: Workspace) -> None:
    """``NOT (x IN ...)`` is NULL for a NULL ``x``: a delete once dropped every row of an unknown
    customer with the ones asked for. Purging after a delete leaves no earlier file, and no
    manifest entry keeping the removed file's column bounds (the erased values)."""
    anonymous = events("n", 10).assign(customer_id=None, anonymous_id="a1")
    workspace.ingest("events", pd.concat([events("a", 10), anonymous]))
    first = set(workspace.store.fresh("events").paths)
    assert workspace.delete_where("events", "customer_id", ["c0"]) == 2
    assert workspace.counts()["events"] == 18
    assert plain_parquet_rows(workspace, "events")["customer_id"].isna().sum() == 10
    assert all(Path(p).exists() for p in first)  # kept for readers of the earlier snapshot

    assert workspace.purge("events") >= len(first)
    assert not any(Path(p).exists() for p in first)
    table = workspace.store.fresh("events").table
    assert len(table.metadata.snapshots) == 1
    entries = [
        e
        for m in table.current_snapshot().manifests(table.io)
        for e in m.fetch_manifest_entry(table.io, False)
    ]
    assert all(b"c0" not in bound for e in entries for bound in e.data_file.lower_bounds.values())
    assert workspace.counts()["events"] == 18
    assert workspace.table("events").count().execute() == 18


def test_replace_rows_swaps_derived_rows_of_two_tables_in_one_commit(workspace: Workspace) -> None:
    spec_a = Table(
        "derived_a", "test", (Column("k", ColumnType.STRING, "key"), Column("v", ColumnType.INT, "v")), ("k",)
    )
    spec_b = Table(
        "derived_b",
        "test",
        (Column("k", ColumnType.STRING, "key"), Column("w", ColumnType.FLOAT, "w")),
        ("k",),
    )
    workspace.ensure_tables([spec_a, spec_b])
    workspace.replace_rows(
        {
            "derived_a": pd.DataFrame({"k": ["x", "y"], "v": [1, 2]}),
            "derived_b": pd.DataFrame({"k": ["x"], "w": [0.5]}),
        },
        "k",
        ["x", "y"],
    )
    version = workspace.data_version()
    workspace.replace_rows(
        {
            "derived_a": pd.DataFrame({"k": ["x"], "v": [10]}),
            "derived_b": pd.DataFrame({"k": ["x"], "w": [1.5]}),
        },
        "k",
        ["x"],
    )
    assert workspace.data_version() == version + 1  # one commit for both tables
    assert sorted(workspace.query("SELECT k, v FROM derived_a")) == [("x", 10), ("y", 2)]
    assert workspace.query("SELECT k, w FROM derived_b") == [("x", 1.5)]
    assert workspace.engine("duckdb").table("derived_a").count().execute() == 2


def test_compaction_merges_small_files_and_expiry_keeps_what_readers_use(workspace: Workspace) -> None:
    for i in range(6):
        workspace.ingest("events", events(f"p{i}", 10))
    old = workspace.store.fresh("events").paths
    assert len(old) == 6
    rows = sorted(plain_parquet_rows(workspace, "events").astype(str).itertuples(index=False))
    result = workspace.compact("events", force=True)
    assert result == {"events": (6, 1)}
    assert sorted(plain_parquet_rows(workspace, "events").astype(str).itertuples(index=False)) == rows
    ids = plain_parquet_rows(workspace, "events")["event_id"].tolist()
    assert ids == sorted(ids)  # compaction sorts by the primary key
    # a reader that planned on the old files can still read them until they expire
    assert duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [old]).fetchall() == [(60,)]
    assert workspace.expire(older_than_hours=1)["events"] == 0
    assert all(Path(p).exists() for p in old)
    deleted = workspace.expire(older_than_hours=0)
    assert deleted["events"] >= 6
    assert not any(Path(p).exists() for p in old)
    assert workspace.table("events").count().execute() == 60


def test_new_tables_and_columns_of_the_data_model_are_picked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Workspace(tmp_path / "ws") as ws:
        ws.ingest("stores", pd.DataFrame({"store_id": ["S1"], "name": ["One"]}))
    stores = TABLES["stores"]
    grown = dataclasses.replace(
        stores, columns=(*stores.columns, Column("floor_m2", ColumnType.FLOAT, "Floor area."))
    )
    visits = Table(
        "visits",
        "Store visits.",
        (Column("visit_id", ColumnType.STRING, "Visit.", required=True),),
        ("visit_id",),
    )
    monkeypatch.setitem(schema.TABLES, "stores", grown)
    monkeypatch.setitem(schema.TABLES, "visits", visits)
    monkeypatch.setattr(schema, "TABLE_ORDER", (*TABLE_ORDER, "visits"))
    monkeypatch.setattr("cxlens.storage.workspace.TABLES", schema.TABLES)
    monkeypatch.setattr("cxlens.storage.workspace.TABLE_ORDER", schema.TABLE_ORDER)
    with Workspace(tmp_path / "ws") as ws:
        assert ws.counts()["visits"] == 0
        ws.ingest("stores", pd.DataFrame({"store_id": ["S2"], "name": ["Two"], "floor_m2": [850.0]}))
        got = ws.table("stores").order_by("store_id").to_pandas()
        assert got["store_id"].tolist() == ["S1", "S2"]
        assert got["floor_m2"].isna().tolist() == [True, False]  # the file from before lacks the column
        ws.ingest("visits", pd.DataFrame({"visit_id": ["v1"]}))
        assert ws.table("visits").count().execute() == 1


def test_another_process_commit_moves_the_version_and_the_views(tmp_path: Path) -> None:
    data_dir = tmp_path / "ws"
    with Workspace(data_dir) as ws:
        ws.ingest("events", events("a", 5))
        version = ws.data_version()
        assert ws.table("events").count().execute() == 5
        csv = tmp_path / "more.csv"
        events("z", 7).to_csv(csv, index=False)
        env = {**os.environ, "CXLENS_DATA_DIR": str(data_dir)}
        subprocess.run(
            [sys.executable, "-m", "cxlens", "ingest", "events", str(csv), "--no-progress"],
            check=True,
            capture_output=True,
            env=env,
        )
        assert ws.data_version() > version
        assert ws.table("events").count().execute() == 12
        assert ws.counts()["events"] == 12


def _legacy_store(path: Path) -> None:
    """A store as cxlens wrote it before the table store: one DuckDB file."""
    con = duckdb.connect(str(path))
    for name in TABLE_ORDER:
        cols = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in TABLES[name].columns)
        con.execute(f'CREATE TABLE "{name}" ({cols})')
    con.execute(
        "CREATE TABLE _loads (load_id BIGINT, table_name VARCHAR, source VARCHAR, source_bytes BIGINT, "
        "rows_read BIGINT, rows_loaded BIGINT, rows_duplicate BIGINT, rows_rejected BIGINT, policy VARCHAR, "
        "loaded_at TIMESTAMP)"
    )
    con.execute(
        "CREATE TABLE _rejects (load_id BIGINT, table_name VARCHAR, source VARCHAR, row_number BIGINT, "
        "column_name VARCHAR, reason VARCHAR, raw_record VARCHAR)"
    )
    con.execute(
        "CREATE TABLE feedback_aspects (feedback_id VARCHAR, aspect VARCHAR, sub_aspect VARCHAR, "
        "mentions INTEGER, sentiment VARCHAR, score DOUBLE, version VARCHAR)"
    )
    con.execute(
        "INSERT INTO events (event_id, occurred_at, customer_id, channel, touchpoint) "
        "SELECT 'e' || i, TIMESTAMP '2025-01-01' + i * INTERVAL 1 MINUTE, 'c' || (i % 7), 'web', "
        "'product_page' "
        "FROM range(1000) t(i)"
    )
    con.execute("INSERT INTO stores (store_id, name) VALUES ('S1', 'Ōsaka 梅田'), ('S2', NULL)")
    con.execute(
        "INSERT INTO _loads VALUES (41, 'events', 'e.csv', 10, 1000, 1000, 0, 0, 'reject', now()::TIMESTAMP)"
    )
    con.execute("INSERT INTO _rejects VALUES (41, 'events', 'e.csv', 7, 'channel', 'bad', '{}')")
    con.execute("INSERT INTO feedback_aspects VALUES ('f1', 'service', 'staff', 2, 'positive', 0.8, 'v1')")
    con.close()


def test_migrate_copies_every_table_and_checks_counts_and_checksums(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    _legacy_store(data_dir / LEGACY_DB_FILE)
    with pytest.raises(LegacyStoreError, match="cxlens store migrate"):
        Workspace(data_dir).counts()
    ws = Workspace(data_dir)
    checks = migrate(ws)
    ws.close()
    by_table = {c.table: c for c in checks}
    assert by_table["events"].rows_after == 1000
    assert by_table["stores"].rows_after == 2
    assert by_table["feedback_aspects"].rows_after == 1
    assert by_table["_loads"].rows_after == 1
    assert all(c.ok for c in checks)
    assert not (data_dir / LEGACY_DB_FILE).exists()
    assert (data_dir / (LEGACY_DB_FILE + ".migrated")).exists()
    with Workspace(data_dir) as ws:
        assert ws.counts()["events"] == 1000
        assert ws.query("SELECT name FROM stores ORDER BY store_id") == [("Ōsaka 梅田",), (None,)]
        assert ws.engine().table("feedback_aspects").count().execute() == 1
        [result] = ws.ingest("events", events("n", 3))
        assert result.load_id is not None
        assert result.load_id > 41  # no id of the old log is reused


def test_migrate_refuses_a_store_that_already_holds_rows(tmp_path: Path) -> None:
    data_dir = tmp_path / "both"
    with Workspace(data_dir) as ws:
        ws.ingest("events", events("a", 3))
    _legacy_store(data_dir / LEGACY_DB_FILE)
    with Workspace(data_dir) as ws, pytest.raises(MigrationError, match="already holds rows"):
        migrate(ws)
    assert (data_dir / LEGACY_DB_FILE).exists()


def test_files_written_by_a_load_are_parquet_with_iceberg_field_ids(workspace: Workspace) -> None:
    workspace.ingest("events", events("a", 3))
    [path] = workspace.store.fresh("events").paths
    ids = [f.metadata[b"PARQUET:field_id"] for f in pq.read_schema(path)]
    assert ids == [str(i).encode() for i in range(1, len(TABLES["events"].columns) + 1)]


@pytest.mark.postgres
def test_the_catalogue_on_postgresql_serves_loads_from_several_processes(tmp_path: Path) -> None:
    """The production shape: the table catalogue in PostgreSQL; two processes load at once, a
    third reads, and a workspace on another data directory (another host) sees the same tables."""
    from cxlens.ops.testing import fresh_database, postgres_server_url

    server = postgres_server_url()
    if server is None:
        pytest.skip("CXLENS_TEST_POSTGRES_URL is not set (make test starts a server)")
    with fresh_database(server) as url:
        warehouse = tmp_path / "shared-warehouse"
        env = {**os.environ, "CXLENS_CATALOG_URL": url, "CXLENS_WAREHOUSE": str(warehouse)}
        paths = []
        for i in range(2):
            path = tmp_path / f"part{i}.csv"
            events("k", 2000, start=i * 1000).to_csv(path, index=False)  # 1000 keys in common
            paths.append(path)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "cxlens", "ingest", "events", str(p), "--no-progress"],
                env={**env, "CXLENS_DATA_DIR": str(tmp_path / f"host{i}")},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, p in enumerate(paths)
        ]
        for proc in procs:
            _, errors = proc.communicate(timeout=300)
            assert proc.returncode == 0, errors
        with Workspace(tmp_path / "reader", catalog_url=url, warehouse=warehouse) as ws:
            assert ws.query("SELECT count(*), count(DISTINCT event_id) FROM events") == [(3000, 3000)]
            assert sorted(r[0] for r in ws.query("SELECT rows_loaded FROM _loads")) == [1000, 2000]
            assert not (tmp_path / "reader" / "catalog.db").exists()


def test_store_commands_list_files_compact_and_expire(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cxlens.cli.main import app

    data_dir = tmp_path / "cli"
    with Workspace(data_dir) as ws:
        for i in range(3):
            ws.ingest("events", events(f"b{i}", 5))

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "store", *args])
        assert result.exit_code == 0, result.output
        return result.output

    listed = run("files", "events").split()
    assert len(listed) == 3
    assert duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [listed]).fetchall() == [(15,)]
    assert "events" in run("info")
    assert "events: 3 files -> 1" in run("compact", "--table", "events", "--force")
    assert len(run("files", "events").split()) == 1
    assert "unreferenced files" in run("expire", "--hours", "0")
    on_disk = list((data_dir / "warehouse" / "model" / "events" / "data").rglob("*.parquet"))
    assert [str(p) for p in on_disk] == run("files", "events").split()  # the 3 replaced files are gone
    bad = CliRunner().invoke(app, ["--data-dir", str(data_dir), "store", "files", "visits"])
    assert bad.exit_code == 1
    assert "no table 'visits'" in bad.output


def test_many_small_loads_are_compacted_by_the_loading_process(workspace: Workspace) -> None:
    from cxlens.storage.store import SMALL_FILES_TO_COMPACT

    for i in range(SMALL_FILES_TO_COMPACT):
        workspace.ingest("events", events(f"s{i:02d}", 3))
    files = workspace.store.fresh("events").files
    assert len(files) < SMALL_FILES_TO_COMPACT
    assert workspace.counts()["events"] == 3 * SMALL_FILES_TO_COMPACT
    assert workspace.query("SELECT count(DISTINCT event_id) FROM events") == [(3 * SMALL_FILES_TO_COMPACT,)]


def test_an_object_store_warehouse_is_refused_with_the_way_to_mount_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mount the object store"):
        Workspace(tmp_path / "ws", warehouse="s3://bucket/cxlens")


def test_a_load_larger_than_memory_spills_in_a_new_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cxlens.config import get_settings

    monkeypatch.setenv("CXLENS_DUCKDB_MEMORY_LIMIT", "150MB")
    get_settings.cache_clear()
    source = tmp_path / "many.parquet"
    duckdb.connect().execute(
        "COPY (SELECT 'e' || lpad(i::VARCHAR, 9, '0') AS event_id, TIMESTAMP '2025-01-01' AS occurred_at, "
        "'a' || (i % 1000) AS anonymous_id, 'web' AS channel, 'page_view' AS event_type "
        f"FROM range(1500000) t(i)) TO '{source}' (FORMAT parquet)"
    )
    with Workspace(tmp_path / "new" / "dir") as ws:
        [result] = ws.ingest("events", source)
        assert result.rows_loaded == 1_500_000
        assert ws.tmp_dir.parent.exists()


def test_a_pointer_reading_is_one_state_of_every_table_even_after_later_loads(tmp_path: Path) -> None:
    """A backup (and any reader) takes every table at one reading of the catalogue; a load that
    commits meanwhile must not show up in one table (events) and not in another (_loads). The
    backup test once saw 20 more events than the loads reported."""
    data_dir = tmp_path / "ws"
    with Workspace(data_dir) as ws, Workspace(data_dir) as other:
        ws.ingest("events", events("a", 5))
        _, pointers = ws.store.pointers()
        for name in ("events", "_loads"):
            ws.store.state(name, pointers[name])  # cached at the reading, as a reader has it
        other.ingest("events", events("b", 7))
        _, later = ws.store.pointers()
        assert later["events"] != pointers["events"]
        assert ws.store.fresh("events").rows == 12  # the cache now holds the newer state
        assert ws.store.state("events", pointers["events"]).rows == 5
        assert ws.store.state("_loads", pointers["_loads"]).rows == 1
        assert ws.store.state("events", later["events"]).rows == 12
        gone = pointers["events"].replace(".metadata.json", "-gone.metadata.json")
        assert ws.store.state("events", gone).rows == 12  # a reader falls back to the current state
        with pytest.raises(FileNotFoundError):
            ws.store.state("events", gone, strict=True)  # a backup reads the catalogue again
