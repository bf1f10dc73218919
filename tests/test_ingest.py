"""Ingest: every format, validation with file:row:column errors, idempotency, hostile input."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxlens.collect.ingest import IngestError, SourceError
from cxlens.storage.workspace import Workspace

FEEDBACK_CSV = """feedback_id,submitted_at,source,store_id,nps,csat,text,language
f1,2025-03-01T10:00:00+02:00,survey,s1,9,5,Great staff,en
f2,2025-03-01 09:30:00,survey,s1,3,2,Long queue,en
f3,2025-03-02T08:00:00Z,review,s2,,,"Entrega rápida, ótimo",pt
"""


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows(ws: Workspace, table: str) -> pd.DataFrame:
    return ws.con.execute(f'SELECT * FROM "{table}" ORDER BY 1').df()


def test_csv_loads_with_types_and_utc_timestamps(workspace: Workspace, tmp_path: Path) -> None:
    [result] = workspace.ingest("feedback", write(tmp_path / "fb.csv", FEEDBACK_CSV))
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 3, 0)
    df = rows(workspace, "feedback")
    assert df["feedback_id"].tolist() == ["f1", "f2", "f3"]
    # +02:00 is normalised to UTC; naive values are taken as UTC; Z is UTC.
    assert df["submitted_at"].astype(str).tolist() == [
        "2025-03-01 08:00:00",
        "2025-03-01 09:30:00",
        "2025-03-02 08:00:00",
    ]
    assert df["nps"].tolist()[:2] == [9, 3]
    assert pd.isna(df["nps"].iloc[2])
    assert df["text"].iloc[2] == "Entrega rápida, ótimo"


@pytest.mark.parametrize(
    "name", ["fb.csv", "fb.csv.gz", "fb.tsv", "fb.parquet", "fb.json", "fb.ndjson", "fb.jsonl.gz"]
)
def test_every_file_format_loads_the_same_rows(workspace: Workspace, tmp_path: Path, name: str) -> None:
    frame = pd.read_csv(io.StringIO(FEEDBACK_CSV), dtype=str)
    records = [{k: v for k, v in r.items() if not pd.isna(v)} for r in frame.to_dict("records")]
    path = tmp_path / name
    if name.startswith("fb.csv"):
        data = FEEDBACK_CSV.encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    elif name.endswith(".tsv"):
        frame.to_csv(path, sep="\t", index=False)
    elif name.endswith(".parquet"):
        frame.to_parquet(path)
    elif name.endswith(".json"):
        path.write_text(json.dumps(records))
    else:
        lines = "\n".join(json.dumps(r) for r in records)
        path.write_bytes(gzip.compress(lines.encode()) if name.endswith(".gz") else lines.encode())
    [result] = workspace.ingest("feedback", path)
    assert result.rows_loaded == 3, result
    df = rows(workspace, "feedback")
    assert df["nps"].iloc[0] == 9
    assert str(df["submitted_at"].iloc[0]) == "2025-03-01 08:00:00"


def test_data_frames_from_pandas_polars_and_arrow(workspace: Workspace) -> None:
    base = {
        "store_id": ["s1", "s2"],
        "name": ["Central", "Harbour"],
        "latitude": [51.5, -33.9],
        "opened_on": ["2020-01-01", "2021-06-30"],
    }
    workspace.ingest("stores", pd.DataFrame(base))
    assert workspace.counts()["stores"] == 2
    workspace.ingest("stores", pl.DataFrame({**base, "store_id": ["s3", "s4"]}))
    workspace.ingest("stores", pa.table({**base, "store_id": ["s5", "s6"]}))
    df = rows(workspace, "stores")
    assert df["store_id"].tolist() == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert pd.Timestamp(df["opened_on"].iloc[1]) == pd.Timestamp("2021-06-30")


def test_one_bad_row_names_file_row_column_and_stores_nothing(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest("feedback", write(tmp_path / "good.csv", FEEDBACK_CSV))
    before = rows(workspace, "feedback")
    bad = write(
        tmp_path / "bad.csv",
        "feedback_id,submitted_at,source,nps\ng1,2025-04-01,survey,8\ng2,2025-04-01,survey,12\ng3,2025-04-01,survey,7\n",
    )
    with pytest.raises(IngestError) as exc:
        workspace.ingest("feedback", bad)
    assert f"{bad}:2:nps: above the maximum 10: 12" in str(exc.value)
    assert "nothing stored" in str(exc.value)
    pd.testing.assert_frame_equal(rows(workspace, "feedback"), before)
    assert workspace.con.execute("SELECT count(*) FROM _rejects").fetchone()[0] == 0


def test_quarantine_loads_good_rows_and_keeps_bad_ones(workspace: Workspace, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "mixed.csv",
        "feedback_id,submitted_at,source,nps,ces\n"
        "g1,2025-04-01,survey,8,\n"
        "g2,yesterday,survey,5,\n"
        "g3,2025-04-02,survey,,9\n"
        "g4,2025-04-03,postcard,10,\n",
    )
    [result] = workspace.ingest("feedback", bad, policy="quarantine")
    assert (result.rows_loaded, result.rows_rejected) == (1, 3)
    assert rows(workspace, "feedback")["feedback_id"].tolist() == ["g1"]
    rejects = workspace.con.execute(
        "SELECT row_number, column_name, reason, raw_record FROM _rejects ORDER BY row_number"
    ).fetchall()
    assert [(r[0], r[1]) for r in rejects] == [(2, "submitted_at"), (3, "ces"), (4, "source")]
    assert "not a valid timestamp: yesterday" in rejects[0][2]
    assert "above the maximum 7: 9" in rejects[1][2]
    assert "postcard is not one of: survey" in rejects[2][2]
    assert json.loads(rejects[0][3])["submitted_at"] == "yesterday"


def test_reingesting_a_file_adds_nothing(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "fb.csv", FEEDBACK_CSV)
    workspace.ingest("feedback", path)
    counts = workspace.counts()
    [again] = workspace.ingest("feedback", path)
    assert (again.rows_loaded, again.rows_duplicate) == (0, 3)
    assert workspace.counts() == counts
    # The same keys from another file and format are also skipped, new keys are added.
    more = pd.DataFrame(
        {
            "feedback_id": ["f1", "f9"],
            "submitted_at": ["2025-05-01", "2025-05-01"],
            "source": ["survey", "survey"],
            "nps": [1, 2],
        }
    )
    [res] = workspace.ingest("feedback", more)
    assert (res.rows_loaded, res.rows_duplicate) == (1, 1)
    assert rows(workspace, "feedback").set_index("feedback_id").loc["f1", "nps"] == 9


def test_composite_keys_are_idempotent(workspace: Workspace) -> None:
    items = pd.DataFrame(
        {
            "order_id": ["o1", "o1", "o2"],
            "line_no": [1, 2, 1],
            "product_id": ["p", "q", "p"],
            "quantity": [1, 2, 3],
            "unit_price": [9.9, 1.0, 9.9],
        }
    )
    workspace.ingest("order_items", items)
    [res] = workspace.ingest("order_items", items)
    assert res.rows_loaded == 0
    assert workspace.counts()["order_items"] == 3


def test_duplicate_keys_in_one_file_are_reported(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "store_id,name\ns1,A\ns2,B\ns1,C\n")
    with pytest.raises(
        IngestError, match=r"d.csv:3:store_id: duplicate key \(store_id=s1\) first seen at row 1"
    ):
        workspace.ingest("stores", path)
    assert workspace.counts()["stores"] == 0


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("store_id,name,latitude\ns1,A,north\n", ":1:latitude: not a valid float: north"),
        ("store_id,name,latitude\ns1,A,91\n", ":1:latitude: above the maximum 90: 91"),
        ("store_id,name,latitude\ns1,A,nan\n", ":1:latitude: not a finite number: nan"),
        ("store_id,name,opened_on\ns1,A,2020-02-30\n", ":1:opened_on: not a valid date: 2020-02-30"),
        ("store_id,name,format\ns1,A,megastore\n", ":1:format: megastore is not one of"),
        ("store_id,name\n,A\n", ":1:store_id: required value missing"),
        ("store_id,name,country\ns1,A,GBR\n", ":1:country: longer than 2 characters (3)"),
    ],
)
def test_wrong_values_are_named(workspace: Workspace, tmp_path: Path, csv_text: str, expected: str) -> None:
    with pytest.raises(IngestError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        workspace.ingest("stores", write(tmp_path / "s.csv", csv_text))


def test_missing_required_column_is_a_file_error(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"missing required column\(s\) name for table 'stores'"):
        workspace.ingest("stores", write(tmp_path / "s.csv", "store_id,region\ns1,north\n"))


def test_unknown_columns_fail_unless_allowed(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "store_id,name,manager\ns1,A,Kim\n")
    with pytest.raises(SourceError, match=r"unknown column\(s\) manager"):
        workspace.ingest("stores", path)
    workspace.ingest("stores", path, allow_extra_columns=True)
    assert workspace.counts()["stores"] == 1


def test_unknown_table_lists_the_tables(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown table 'shops'; the data model has: stores, products"):
        workspace.ingest("shops", write(tmp_path / "s.csv", "a\n1\n"))


def test_bad_encoding_is_a_clear_error_and_encoding_option_reads_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    text = "feedback_id,submitted_at,source,text,language\nz1,2025-01-01,review,质量很好，物流很快,zh\n"
    path = write(tmp_path / "gbk.csv", text, encoding="gbk")
    with pytest.raises(SourceError, match=r"not valid utf-8 text.*--encoding"):
        workspace.ingest("feedback", path)
    assert workspace.counts()["feedback"] == 0
    workspace.ingest("feedback", path, encoding="gbk")
    assert rows(workspace, "feedback")["text"].iloc[0] == "质量很好，物流很快"


@pytest.mark.parametrize(
    ("name", "content"),
    [("e.csv", b""), ("e.ndjson", b""), ("e.json", b"  \n"), ("e.csv.gz", gzip.compress(b""))],
)
def test_empty_files_are_refused(workspace: Workspace, tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError, match="empty"):
        workspace.ingest("stores", path)


def test_header_only_file_loads_nothing(workspace: Workspace, tmp_path: Path) -> None:
    [result] = workspace.ingest("stores", write(tmp_path / "h.csv", "store_id,name\n"))
    assert (result.rows_read, result.rows_loaded) == (0, 0)


def test_a_single_10mb_line_is_rejected_cleanly(workspace: Workspace, tmp_path: Path) -> None:
    huge = "x" * (10 * 1024 * 1024)
    path = write(
        tmp_path / "big.csv",
        "feedback_id,submitted_at,source,text\nok,2025-01-01,review,fine\nbig,2025-01-01,review,"
        + huge
        + "\n",
    )
    with pytest.raises(IngestError, match=r"big.csv:2:text: longer than 100,000 characters \(10485760\)"):
        workspace.ingest("feedback", path)
    [result] = workspace.ingest("feedback", path, policy="quarantine")
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)


def test_malformed_ndjson_lines_are_reported_by_line(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.ndjson",
        '{"store_id": "s1", "name": "A"}\n\n{"store_id": "s2", "name": \n'
        '[1, 2]\n{"store_id": "s3", "name": "C"}\n',
    )
    with pytest.raises(IngestError) as exc:
        workspace.ingest("stores", path)
    message = str(exc.value)
    assert f"{path}:3:(record): invalid JSON" in message
    assert f"{path}:4:(record): expected a JSON object, got list" in message
    [result] = workspace.ingest("stores", path, policy="quarantine")
    assert (result.rows_loaded, result.rows_rejected) == (2, 2)


def test_mixed_time_zones_normalise_to_utc(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "tz.csv",
        "feedback_id,submitted_at,source,nps\n"
        "a,2025-06-01T12:00:00+09:00,survey,9\n"
        "b,2025-06-01T03:00:00Z,survey,9\n"
        "c,2025-06-01 05:00:00+02,survey,9\n"
        "d,2025-05-31T23:00:00-04:00,survey,9\n",
    )
    workspace.ingest("feedback", path)
    values = rows(workspace, "feedback")["submitted_at"].astype(str).tolist()
    assert values == ["2025-06-01 03:00:00"] * 4


def test_events_get_touchpoint_from_event_type(workspace: Workspace) -> None:
    events = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "occurred_at": ["2025-01-01T10:00:00Z"] * 3,
            "anonymous_id": ["a1", "a1", "a1"],
            "channel": ["web", "web", "store"],
            "event_type": ["add_to_cart", "page_view", "store_checkout"],
            "properties": ['{"sku": 1}', None, "{}"],
        }
    )
    workspace.ingest("events", events)
    assert rows(workspace, "events")["touchpoint"].tolist() == [
        "add_to_cart",
        "product_page",
        "checkout_queue",
    ]
    bad = events.assign(
        event_id=["e4", "e5", "e6"],
        event_type=["teleport", "page_view", "page_view"],
        properties=[None, "[1]", "{oops"],
        customer_id=None,
        anonymous_id=[None, "a", "a"],
    )
    with pytest.raises(IngestError) as exc:
        workspace.ingest("events", bad)
    message = str(exc.value)
    assert ":1:touchpoint: event_type teleport maps to no touchpoint" in message
    assert ":1:customer_id|anonymous_id: an event names a customer_id or an anonymous_id" in message
    assert ":2:properties: not a JSON object" in message
    assert ":3:properties: not valid JSON" in message


def test_channel_must_be_in_the_journey_map(workspace: Workspace) -> None:
    frame = pd.DataFrame(
        {
            "order_id": ["o1"],
            "customer_id": ["c1"],
            "ordered_at": ["2025-01-01"],
            "channel": ["carrier_pigeon"],
            "total_amount": [10.0],
        }
    )
    with pytest.raises(IngestError, match="carrier_pigeon is not one of: web, app, store"):
        workspace.ingest("orders", frame)


def test_typed_parquet_with_wrong_types_is_validated(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    pq.write_table(
        pa.table(
            {
                "order_id": ["o1", "o2"],
                "line_no": [1, 1],
                "product_id": ["p1", "p2"],
                "quantity": [2.0, 2.5],
                "unit_price": [1.0, -1.0],
            }
        ),
        path,
    )
    with pytest.raises(IngestError) as exc:
        workspace.ingest("order_items", path)
    assert ":2:quantity: not a whole number: 2.5" in str(exc.value)
    assert ":2:unit_price: below the minimum 0: -1.0" in str(exc.value)


def test_directory_source_loads_each_file(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "stores"
    folder.mkdir()
    write(folder / "a.csv", "store_id,name\ns1,A\n")
    write(folder / "b.csv", "store_id,name\ns2,B\n")
    (folder / "_SUCCESS").touch()
    results = workspace.ingest("stores", folder)
    assert [r.rows_loaded for r in results] == [1, 1]


def test_missing_file_and_unknown_format(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        workspace.ingest("stores", tmp_path / "nope.csv")
    with pytest.raises(SourceError, match="cannot tell the format"):
        workspace.ingest("stores", write(tmp_path / "s.xlsx", "x"))


def test_load_log_records_each_commit(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "fb.csv", FEEDBACK_CSV)
    versions = [workspace.data_version()]
    workspace.ingest("feedback", path)
    versions.append(workspace.data_version())
    workspace.ingest("feedback", path)
    versions.append(workspace.data_version())
    log = workspace.con.execute(
        "SELECT load_id, rows_read, rows_loaded, rows_duplicate FROM _loads ORDER BY load_id"
    ).fetchall()
    assert log == [(1, 3, 3, 0), (2, 3, 0, 3)]
    assert versions[0] < versions[1] < versions[2]  # every commit moves the data version


def test_personal_data_is_redacted_on_load_when_enabled(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cxlens.config import get_settings

    text = "Call me on +44 20 7946 0958 or mail jo.bloggs@example.com, card 4111 1111 1111 1111"
    frame = pd.DataFrame(
        {"feedback_id": ["p1"], "submitted_at": ["2025-01-01"], "source": ["chat"], "text": [text]}
    )
    workspace.ingest("feedback", frame)
    assert rows(workspace, "feedback")["text"].iloc[0] == text  # off by default

    monkeypatch.setenv("CXLENS_REDACT_PII", "1")
    get_settings.cache_clear()
    workspace.ingest("feedback", frame.assign(feedback_id=["p2"], title=["from jo.bloggs@example.com"]))
    stored = rows(workspace, "feedback").set_index("feedback_id").loc["p2"]
    assert stored["text"] == "Call me on [PHONE] or mail [EMAIL], card [CARD]"
    assert stored["title"] == "from [EMAIL]"


def test_parquet_staged_by_duckdb_matches_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Parquet file that needs no mapping is staged by DuckDB's own reader: the stored rows, the
    staged types and every row's problem (row numbers included) are what the pyarrow path gives."""
    import cxlens.collect.ingest as ci

    n = 3000
    ids = [f"e{i:05d}" for i in range(n)]
    ids[2001] = ids[7]  # a duplicate key: reported at its row, first seen at row 8
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ids,
                "occurred_at": pa.array(
                    [pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(minutes=i) for i in range(n)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "customer_id": [f"c{i % 50}" for i in range(n)],
                "channel": ["web" if i != 1500 else "Web" for i in range(n)],  # a case-folded value
                "event_type": ["page_view" if i != 2999 else "teleport" for i in range(n)],
                "value": pa.array([float(i) if i != 10 else float("inf") for i in range(n)]),
            }
        ),
        path,
        row_group_size=700,  # several row groups: row numbers must run on across them
    )
    seen: dict[str, tuple[list[ci.LoadResult], list[tuple[object, ...]], dict[str, str]]] = {}
    staged_types: dict[str, dict[str, str]] = {}
    direct, general_stage = ci._stage_parquet, ci._stage

    def spy(stage: Any, how: str) -> Any:
        def staged(*args: Any, **kwargs: Any) -> Any:
            out = stage(*args, **kwargs)
            if out is not None:
                staged_types[how] = out[1]
            return out

        return staged

    monkeypatch.setattr(ci, "_stage", spy(general_stage, "pyarrow"))
    for how in ("duckdb", "pyarrow"):
        monkeypatch.setattr(
            ci, "_stage_parquet", spy(direct, how) if how == "duckdb" else lambda *a, **k: None
        )
        with Workspace(tmp_path / how) as ws:
            results = ws.ingest("events", path, policy="quarantine")
            stored = ws.query("SELECT * FROM events ORDER BY event_id")
            rejects = ws.query("SELECT row_number, column_name, reason FROM _rejects ORDER BY 1, 2, 3")
        seen[how] = (results, stored, {str(r[0]): str(r[1:]) for r in rejects})
    assert set(staged_types) == {"duckdb", "pyarrow"}, "each path was to stage the file once"
    assert staged_types["duckdb"] == staged_types["pyarrow"]
    fast, general = seen["duckdb"], seen["pyarrow"]
    assert fast[1] == general[1]
    assert fast[2] == general[2]
    assert set(fast[2]) == {"11", "2002", "3000"}  # inf value, duplicate key, unmapped event type
    (a,), (b,) = fast[0], general[0]
    assert (a.rows_read, a.rows_loaded, a.rows_rejected, a.notes) == (
        b.rows_read,
        b.rows_loaded,
        b.rows_rejected,
        b.notes,
    )
    assert [str(e) for e in a.errors] == [str(e) for e in b.errors]
    assert any("matched without regard to case" in note for note in a.notes)


def test_a_parquet_name_duckdb_would_read_as_a_glob_still_loads(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "stores[eu]*.parquet"
    pq.write_table(pa.table({"store_id": ["s1", "s2"], "name": ["Harbour", "Central"]}), path)
    # read as a pattern, the name would match this file instead
    pq.write_table(pa.table({"store_id": ["s9"], "name": ["Elsewhere"]}), tmp_path / "storese-old.parquet")
    [result] = workspace.ingest("stores", path)
    assert (result.rows_read, result.rows_loaded) == (2, 2)
    assert [r[0] for r in workspace.query("SELECT name FROM stores ORDER BY store_id")] == [
        "Harbour",
        "Central",
    ]
