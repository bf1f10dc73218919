"""A retailer's own export in, without code: column mapping on ingest (flags and YAML), derived
keys, the preview's suggestions, separators, line endings, case-insensitive enumerations, date
messages, and every problem reported as ``file:row:column: reason`` rather than a traceback."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxlens.cli.main import app
from cxlens.collect.ingest import IngestError
from cxlens.collect.mapping import (
    ColumnMapping,
    MappingError,
    guess_date_format,
    load_mapping,
    suggest_mapping,
)
from cxlens.collect.readers import SourceError
from cxlens.model.schema import get_table
from cxlens.storage.workspace import Workspace

runner = CliRunner()
JA_FLAGS = [
    "--map",
    "submitted_at=投稿日",
    "--map",
    "rating=評価",
    "--map",
    "text=レビュー本文",
    "--set",
    "source=review",
    "--date-format",
    "%Y/%m/%d",
]
JA_ROWS = [
    ("2024/03/05", "5", "とても良い商品です。また買います。"),
    ("2024/03/06", "2", "配送が遅くて残念でした。箱も潰れていました。"),
    ("2024/03/20", "4", "サイズがぴったりでした"),
    ("2024/04/02", "1", "説明と違う色が届きました。返品したいです。"),
    ("2024/04/15", "5", "店員さんの対応が丁寧でした"),
]


def japanese_export(path: Path) -> Path:
    """A Japanese review export as spreadsheets write it: BOM, CRLF and LF mixed, no id column."""
    lines = ["投稿日,評価,レビュー本文", *(",".join(r) for r in JA_ROWS)]
    body = "".join(line + ("\r\n" if i % 2 == 0 else "\n") for i, line in enumerate(lines))
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    return path


def cx(data_dir: Path, *args: str) -> object:
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


def stored(ws_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with Workspace(ws_dir) as ws:
        return ws.con.execute(sql).fetchall()


@pytest.mark.slow  # text analysis loads the sentiment model; the report runs every section
def test_japanese_review_export_loads_twice_and_every_command_then_works(tmp_path: Path) -> None:
    data, export = tmp_path / "data", japanese_export(tmp_path / "レビュー.csv")
    first = cx(data, "ingest", "feedback", str(export), *JA_FLAGS)
    assert first.exit_code == 0, first.output
    assert "5 of 5 rows loaded" in first.output
    again = cx(data, "ingest", "feedback", str(export), *JA_FLAGS)
    assert again.exit_code == 0, again.output
    assert "0 of 5 rows loaded, 5 already present" in again.output
    rows = stored(data, "SELECT submitted_at, rating, text, source FROM feedback ORDER BY submitted_at")
    assert [(str(r[0])[:10], str(r[1]), r[2]) for r in rows] == [
        (d.replace("/", "-"), s, t) for d, s, t in JA_ROWS
    ]
    assert {r[3] for r in rows} == {"review"}
    metrics = cx(data, "analyse", "metrics", "-m", "rating", "-o", "json")
    assert metrics.exit_code == 0, metrics.output
    [row] = json.loads(metrics.output)
    assert row["n"] == 5
    assert row["value"] == pytest.approx(sum(int(r[1]) for r in JA_ROWS) / 5)
    analysed = cx(data, "text", "analyse")
    assert analysed.exit_code == 0, analysed.output
    report = cx(data, "report", "--out", str(tmp_path / "report.html"))
    assert report.exit_code == 0, report.output
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Star rating" in html
    assert "Traceback" not in report.output + analysed.output


def test_mapping_file_loads_what_the_flags_load_and_save_mapping_round_trips(tmp_path: Path) -> None:
    export = japanese_export(tmp_path / "reviews.csv")
    saved = tmp_path / "ja.yaml"
    result = cx(tmp_path / "a", "ingest", "feedback", str(export), *JA_FLAGS, "--save-mapping", str(saved))
    assert result.exit_code == 0, result.output
    mapping = load_mapping(saved)
    assert mapping.table == "feedback"
    assert mapping.map == {"submitted_at": "投稿日", "rating": "評価", "text": "レビュー本文"}
    assert mapping.set == {"source": "review"}
    assert mapping.date_formats == ["%Y/%m/%d"]
    result = cx(tmp_path / "b", "ingest", "feedback", str(export), "--mapping", str(saved))
    assert result.exit_code == 0, result.output
    sql = "SELECT feedback_id, submitted_at, rating, text FROM feedback ORDER BY 1"
    assert stored(tmp_path / "a", sql) == stored(tmp_path / "b", sql)


def test_documented_file_format_is_read_as_written(tmp_path: Path) -> None:
    text = """# cxlens column mapping: cxlens ingest TABLE FILE --mapping this.yaml
table: feedback              # optional; must match TABLE when given
map:                         # data-model column: header in the source file (any Unicode)
  submitted_at: 投稿日
  rating: 評価
  text: レビュー本文
set:                         # data-model column: constant value for every row
  source: review
date_formats: ["%Y/%m/%d"]   # strptime formats tried in order for timestamp columns
sep: ";"                     # optional reader options: sep, encoding, format
encoding: utf-8
"""
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    m = load_mapping(path)
    assert (m.table, m.sep, m.encoding, m.format) == ("feedback", ";", "utf-8", None)
    assert list(m.map) == ["submitted_at", "rating", "text"]
    export = tmp_path / "semi.csv"
    export.write_text("投稿日;評価;レビュー本文\n2024/03/05;5;良い, とても良い\n", encoding="utf-8")
    with Workspace(tmp_path / "ws") as ws:
        [result] = ws.ingest("feedback", export, mapping=m)
        assert result.rows_loaded == 1
        with pytest.raises(MappingError, match="is for table 'feedback', not 'orders'"):
            ws.ingest("orders", export, mapping=m)


def test_mapping_errors_name_the_file_key_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("map:\n  txt: Review\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"'txt' is not a column of table 'feedback'.*did you mean 'text'"):
        load_mapping(bad).check(get_table("feedback"))
    bad.write_text("mapp:\n  text: Review\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"unknown key\(s\) mapp.*did you mean 'map'"):
        load_mapping(bad)
    bad.write_text("map: [text\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"bad.yaml:\d+:\d+: not valid YAML"):
        load_mapping(bad)
    export = japanese_export(tmp_path / "r.csv")
    result = cx(
        tmp_path / "d", "ingest", "feedback", str(export), "--map", "text=レビュー", "--map", "rating=評価"
    )
    assert result.exit_code != 0
    assert "no column 'レビュー' in the file (did you mean 'レビュー本文'?)" in result.output
    assert "Traceback" not in result.output


def test_derived_key_follows_the_documented_rule(tmp_path: Path) -> None:
    export = tmp_path / "reviews.csv"
    export.write_text("date,stars,body\n2024-03-05,5,great\n2024-03-05,5,great\n2024-03-06,1,bad\n")
    flags = ColumnMapping(
        map={"submitted_at": "date", "rating": "stars", "text": "body"}, set={"source": "review"}
    )
    with Workspace(tmp_path / "ws") as ws:
        [first] = ws.ingest("feedback", export, mapping=flags)
        [again] = ws.ingest("feedback", export, mapping=flags)
        ids = [
            r[0]
            for r in ws.con.execute("SELECT feedback_id FROM feedback ORDER BY submitted_at, 1").fetchall()
        ]
    assert (first.rows_loaded, again.rows_loaded, again.rows_duplicate) == (3, 0, 3)

    def key(*values: str) -> str:
        text = "reviews.csv\x1esource=review\x1e" + "\x1f".join(values)
        return "reviews-" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    same = key("2024-03-05", "5", "great")
    assert ids == [*sorted([same, same + "-2"]), key("2024-03-06", "1", "bad")]
    assert any("derived" in n for n in first.notes)


def test_line_numbers_and_one_row_per_order_from_transaction_lines(tmp_path: Path) -> None:
    lines = tmp_path / "lines.csv"
    lines.write_text(
        "basket,who,when,sku,amount\n"
        "B1,H1,2024-01-02 10:00,P1,2.50\nB2,H2,2024-01-03 11:00,P1,1.00\n"
        "B1,H1,2024-01-02 10:00,P2,4.25\nB1,H1,2024-01-02 10:00,P3,0.25\n"
    )
    items = ColumnMapping(
        map={"order_id": "basket", "product_id": "sku", "unit_price": "amount"}, set={"quantity": "1"}
    )
    orders = ColumnMapping(
        map={"order_id": "basket", "customer_id": "who", "ordered_at": "when", "total_amount": "amount"},
        set={"channel": "store"},
        one_row_per="order_id",
        sum=["total_amount"],
    )
    with Workspace(tmp_path / "ws") as ws:
        ws.ingest("order_items", lines, mapping=items)
        ws.ingest("orders", lines, mapping=orders)
        got_items = ws.con.execute(
            "SELECT order_id, line_no, product_id FROM order_items ORDER BY 1, 2"
        ).fetchall()
        got_orders = ws.con.execute(
            "SELECT order_id, customer_id, total_amount FROM orders ORDER BY 1"
        ).fetchall()
    assert got_items == [("B1", 1, "P1"), ("B1", 2, "P2"), ("B1", 3, "P3"), ("B2", 1, "P1")]
    raw = pd.read_csv(lines)
    expected = raw.groupby("basket").agg(who=("who", "first"), amount=("amount", "sum")).reset_index()
    assert got_orders == [(r.basket, r.who, pytest.approx(r.amount)) for r in expected.itertuples()]


def test_values_where_templates_and_rest_as_json(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions.csv"
    sessions.write_text("Month,Pages,Bought,Browser\nFeb,3,FALSE,2\nJune,7,TRUE,1\nMar,,FALSE,\n")
    views = ColumnMapping(
        map={"value": "Pages"},
        set={
            "occurred_at": "{Month} 2017",
            "anonymous_id": "visitor-{_row}",
            "channel": "web",
            "event_type": "product_view",
        },
        rest_as_json="properties",
        date_formats=["%b %Y"],
    )
    buys = ColumnMapping(
        map={"value": "Pages"},
        set={
            "occurred_at": "{Month} 2017",
            "anonymous_id": "visitor-{_row}",
            "channel": "web",
            "event_type": "checkout",
        },
        where={"Bought": ["TRUE"]},
        date_formats=["%b %Y"],
    )
    with Workspace(tmp_path / "ws") as ws:
        ws.ingest("events", sessions, mapping=views)
        [bought] = ws.ingest("events", sessions, mapping=buys)
        rows = ws.con.execute(
            "SELECT anonymous_id, occurred_at, touchpoint, value, properties FROM events ORDER BY 1, 3"
        ).fetchall()
    assert bought.rows_loaded == 1
    assert "2 rows left out by where" in bought.notes
    assert [(r[0], str(r[1])[:10], r[2]) for r in rows] == [
        ("visitor-1", "2017-02-01", "product_page"),
        ("visitor-2", "2017-06-01", "checkout"),
        ("visitor-2", "2017-06-01", "product_page"),
        ("visitor-3", "2017-03-01", "product_page"),
    ]
    assert json.loads(rows[0][4]) == {"Bought": "FALSE", "Browser": "2"}
    assert rows[3][4] == '{"Bought": "FALSE"}'
    assert rows[3][3] is None
    customers = tmp_path / "households.csv"
    customers.write_text("id,age,income\n1,19-24,Under 15K\n2,65+,100-124K\n")
    bands = ColumnMapping(
        map={"customer_id": "id", "age_band": "age", "income_band": "income"},
        values={"age_band": {"19-24": "18-24"}, "income_band": {"Under 15K": "low", "100-124K": "high"}},
    )
    with Workspace(tmp_path / "ws2") as ws:
        ws.ingest("customers", customers, mapping=bands)
        got = ws.con.execute("SELECT customer_id, age_band, income_band FROM customers ORDER BY 1").fetchall()
    assert got == [("1", "18-24", "low"), ("2", "65+", "high")]


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Review Text", "text"),
        ("评价内容", "text"),
        ("レビュー本文", "text"),
        ("리뷰 내용", "text"),
        ("Текст отзыва", "text"),
        ("comentário", "text"),
        ("Rating", "rating"),
        ("评分", "rating"),
        ("評価", "rating"),
        ("별점", "rating"),
        ("Оценка", "rating"),
        ("nota", "rating"),
        ("Review Date", "submitted_at"),
        ("评价时间", "submitted_at"),
        ("投稿日", "submitted_at"),
        ("작성일", "submitted_at"),
        ("Дата отзыва", "submitted_at"),
        ("data da avaliação", "submitted_at"),
    ],
)
def test_suggestions_read_headers_in_six_languages(header: str, column: str) -> None:
    headers = [header, "unrelated column"]
    assert suggest_mapping(headers, get_table("feedback")) == {column: header}


def test_suggestions_take_each_header_once_and_prefer_exact_names() -> None:
    headers = ["Title", "Review Text", "Rating", "Clothing ID", "Recommended IND", "rating"]
    got = suggest_mapping(headers, get_table("feedback"))
    assert got == {"product_id": "Clothing ID", "title": "Title", "text": "Review Text"}  # 'rating' is named


def test_date_layouts_are_guessed_from_samples() -> None:
    assert guess_date_format(["2024/03/05", "2024/12/31"]) == "%Y/%m/%d"
    assert guess_date_format(["31.12.2024", "05.03.2024"]) == "%d.%m.%Y"
    assert guess_date_format(["Wed Oct 04 13:59:33 +0000 2017"]) == "%a %b %d %H:%M:%S %z %Y"
    assert guess_date_format(["2024-03-05T10:00:00+09:00", "2024-03-06"]) is None  # ISO needs none


def test_preview_shows_rows_as_stored_and_a_mapping_and_writes_nothing(tmp_path: Path) -> None:
    export, data, saved = japanese_export(tmp_path / "r.csv"), tmp_path / "data", tmp_path / "s.yaml"
    result = cx(data, "ingest", "feedback", str(export), "--preview", "--save-mapping", str(saved))
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for expected in (
        "submitted_at ← 投稿日",
        "rating ← 評価",
        "text ← レビュー本文",
        "2024-03-05",
        "%Y/%m/%d",
    ):
        assert expected in out
    assert not list((data / "warehouse").rglob("*.parquet"))  # a preview stores nothing
    suggested = load_mapping(saved)
    assert suggested.set == {"source": "review"}
    assert suggested.date_formats == ["%Y/%m/%d"]
    loaded = cx(data, "ingest", "feedback", str(export), "--mapping", str(saved))
    assert "5 of 5 rows loaded" in loaded.output


def test_enumerations_match_without_regard_to_case_with_a_note(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "feedback_id": ["a", "b", "c"],
            "submitted_at": ["2024-01-01"] * 3,
            "source": ["Survey", "REVIEW", "review"],
            "channel": ["Web", "store", "APP"],
            "nps": [9, 3, 7],
        }
    )
    with Workspace(tmp_path / "ws") as ws:
        [result] = ws.ingest("feedback", frame)
        got = ws.con.execute("SELECT source, channel FROM feedback ORDER BY feedback_id").fetchall()
    assert got == [("survey", "web"), ("review", "store"), ("review", "app")]
    assert any(n.startswith("source: 2 value(s) matched without regard to case") for n in result.notes)
    assert any(n.startswith("channel: 2 value(s)") for n in result.notes)


def test_a_failing_date_names_the_formats_and_the_flag(tmp_path: Path) -> None:
    export = tmp_path / "dates.csv"
    export.write_text("feedback_id,submitted_at,source,rating\n1,05/03/2024,review,4\n")
    with Workspace(tmp_path / "ws") as ws:
        with pytest.raises(IngestError) as plain:
            ws.ingest("feedback", export)
        with pytest.raises(IngestError) as tried:
            ws.ingest("feedback", export, mapping=ColumnMapping(date_formats=["%Y/%m/%d"]))
    [e1], [e2] = plain.value.result.errors, tried.value.result.errors
    assert (e1.row, e1.column) == (1, "submitted_at")
    assert "05/03/2024" in e1.reason
    assert "ISO 8601" in e1.reason
    assert "--date-format" in e1.reason
    assert "read with --date-format %Y/%m/%d" in e2.reason
    assert str(e1).startswith(f"{export}:1:submitted_at: not a valid timestamp")


@pytest.mark.parametrize(("sep", "name"), [(";", "semi.csv"), ("\t", "tabs.txt"), ("|", "pipes.csv")])
def test_separators_are_detected(tmp_path: Path, sep: str, name: str) -> None:
    export = tmp_path / name
    rows = [
        ["feedback_id", "submitted_at", "source", "rating", "text"],
        ["1", "2024-03-05", "review", "5", "good, really"],
    ]
    export.write_text("\n".join(sep.join(r) for r in rows) + "\n", encoding="utf-8")
    with Workspace(tmp_path / "ws") as ws:
        [result] = ws.ingest("feedback", export)
        assert result.rows_loaded == 1
        assert ws.con.execute("SELECT text FROM feedback").fetchall() == [("good, really",)]


def test_wrong_separator_is_a_message_not_a_crash(tmp_path: Path) -> None:
    export = tmp_path / "semi.csv"
    export.write_text(
        "feedback_id;submitted_at;source;rating;text\n1;2024-03-05;review;5;good, really, good\n"
    )
    result = cx(tmp_path / "d", "ingest", "feedback", str(export), "--sep", ",")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "UnboundLocalError" not in result.output
    assert "semi.csv" in result.output


def test_mixed_line_endings_load(tmp_path: Path) -> None:
    export = tmp_path / "mixed.csv"
    export.write_bytes(
        b'feedback_id,submitted_at,source,text\r\n1,2024-03-05,review,a\n2,2024-03-06,review,"two\r\nlines"\r\n'
        b"3,2024-03-07,review,c\n"
    )
    with Workspace(tmp_path / "ws") as ws:
        [result] = ws.ingest("feedback", export)
        texts = ws.con.execute("SELECT text FROM feedback ORDER BY feedback_id").fetchall()
    assert result.rows_loaded == 3
    assert texts[0] == ("a",)
    assert texts[2] == ("c",)
    assert texts[1][0].replace("\r", "") == "two\nlines"


def test_bad_values_are_reported_as_file_row_column(tmp_path: Path) -> None:
    export = japanese_export(tmp_path / "r.csv")
    text = export.read_bytes().decode("utf-8-sig").replace(",4,", ",six,")
    export.write_text(text, encoding="utf-8")
    result = cx(tmp_path / "d", "ingest", "feedback", str(export), *JA_FLAGS)
    assert result.exit_code == 1
    assert f"{export}:3:rating: not a valid int: six" in result.output
    assert "Traceback" not in result.output


def test_missing_template_column_and_unknown_source_are_source_errors(tmp_path: Path) -> None:
    export = japanese_export(tmp_path / "r.csv")
    mapping = ColumnMapping(map={"rating": "評価"}, set={"submitted_at": "{日付}", "source": "review"})
    with Workspace(tmp_path / "ws") as ws, pytest.raises(SourceError, match="names column '日付'"):
        ws.ingest("feedback", export, mapping=mapping)


def test_a_row_with_too_few_or_many_fields_is_named_by_its_row(tmp_path: Path) -> None:
    export = tmp_path / "ragged.csv"
    export.write_text(
        'feedback_id,submitted_at,source,text\n1,2024-01-01,review,"a, quoted\nline"\n2,2024-01-01,review\n'
    )
    result = cx(tmp_path / "d", "ingest", "feedback", str(export))
    assert result.exit_code == 1
    assert f"{export}:2:(record): 3 fields where the header has 4" in " ".join(result.output.split())


def test_a_header_without_rows_still_checks_the_mapping(tmp_path: Path) -> None:
    export = tmp_path / "empty.csv"
    export.write_text("date,stars\n")
    with Workspace(tmp_path / "ws") as ws:
        with pytest.raises(SourceError, match=r"no column 'Review' in the file \(named in --map/--set\)"):
            ws.ingest("feedback", export, mapping=ColumnMapping(map={"text": "Review"}, origin="--map/--set"))
        [empty] = ws.ingest("feedback", export, mapping=ColumnMapping(map={"rating": "stars"}))
    assert (empty.rows_read, empty.rows_loaded) == (0, 0)


def test_a_score_off_its_scale_says_how_to_translate_it(tmp_path: Path) -> None:
    """A 1-10 rating export is the usual cause of 'above the maximum 5': the message names the
    scale and the mapping's `values:`, and the worked example's translation then loads the file."""
    src = tmp_path / "ten.csv"
    src.write_text("text,rating\nloved it,10\nawful,1\nfine,6\n", encoding="utf-8")
    flags = ["--set", "source=review", "--set", "submitted_at=2024-01-01"]
    bad = runner.invoke(app, ["--data-dir", str(tmp_path / "d"), "ingest", "feedback", str(src), *flags])
    assert bad.exit_code == 1
    assert (
        f"{src}:1:rating: above the maximum 5: 10 (rating runs from 1 to 5; for another scale "
        "translate the values with `values:` in a mapping file, see docs/own-data.md)"
    ) in " ".join(bad.output.split())
    mapping = Path(__file__).resolve().parents[1] / "docs" / "mappings" / "ko-nsmc-reviews.yaml"
    good = runner.invoke(
        app, ["--data-dir", str(tmp_path / "d"), "ingest", "feedback", str(src), "--mapping", str(mapping)]
    )
    assert good.exit_code == 0, good.output
    with Workspace(tmp_path / "d") as ws:
        assert sorted(r[0] for r in ws.query("SELECT rating FROM feedback")) == [1, 3, 5]
