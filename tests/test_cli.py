"""The command line as a user runs it: exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cxlens.cli.main import app

runner = CliRunner()


def test_journey_show_prints_the_default_map() -> None:
    result = runner.invoke(app, ["journey", "show"])
    assert result.exit_code == 0, result.output
    assert "Journey map: retail-default" in result.output
    assert "checkout_queue" in result.output
    data = json.loads(runner.invoke(app, ["journey", "show", "--json"]).output)
    assert data["stages"][0]["id"] == "awareness"


def test_journey_show_reports_an_invalid_map(tmp_path: Path) -> None:
    bad = tmp_path / "map.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "channels": [], "stages": []}))
    result = runner.invoke(app, ["--journey-map", str(bad), "journey", "show"])
    assert result.exit_code == 1
    assert f"invalid journey map {bad}" in result.output


def test_ingest_then_status_and_rejection(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    good = tmp_path / "stores.csv"
    good.write_text("store_id,name,region\ns1,Central,north\ns2,Harbour,south\n")
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", "stores", str(good)])
    assert result.exit_code == 0, result.output
    assert "2 of 2 rows loaded" in result.output
    again = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", "stores", str(good)])
    assert "0 of 2 rows loaded, 2 already present" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text("store_id,name,latitude\ns3,X,100\n")
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", "stores", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:1:latitude: above the maximum 90: 100" in result.output
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", "stores", str(bad), "--quarantine"])
    assert result.exit_code == 0
    assert "0 of 1 rows loaded, 1 quarantined in _rejects" in result.output

    status = runner.invoke(app, ["--data-dir", str(data_dir), "status"])
    assert status.exit_code == 0
    assert "stores" in status.output
    assert " 2 " in status.output


def test_ingest_unknown_table_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "d"), "ingest", "shops", str(f)])
    assert result.exit_code == 2
    assert "unknown table 'shops'" in result.output


def test_data_dir_from_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CXLENS_DATA_DIR", str(tmp_path / "envdir"))
    f = tmp_path / "s.csv"
    f.write_text("store_id,name\ns1,A\n")
    assert runner.invoke(app, ["ingest", "stores", str(f)]).exit_code == 0
    assert (tmp_path / "envdir" / "catalog.db").exists()
    assert list((tmp_path / "envdir" / "warehouse" / "model" / "stores" / "data").rglob("*.parquet"))


def test_analyse_metrics_and_compare(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "d")
    fb = tmp_path / "fb.csv"
    rows = ["feedback_id,submitted_at,source,store_id,nps,csat"]
    rows += [f"a{i},2025-01-{1 + i % 28:02d},survey,s1,{i % 11},{1 + i % 5}" for i in range(60)]
    rows += [f"b{i},2025-02-{1 + i % 28:02d},survey,s2,{9 + i % 2},5" for i in range(60)]
    fb.write_text("\n".join(rows) + "\n")
    assert runner.invoke(app, ["--data-dir", data_dir, "ingest", "feedback", str(fb)]).exit_code == 0

    result = runner.invoke(
        app, ["--data-dir", data_dir, "analyse", "metrics", "--by", "store_id", "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    records = {r["store_id"]: r for r in json.loads(result.output)}
    # s1: i % 11 for i < 60 gives 0-4 six times and 5-10 five times:
    # 10 promoters (9, 10) and 40 detractors (0-6) of 60
    assert records["s1"]["n"] == 60
    assert abs(records["s1"]["value"] - 100 * (10 - 40) / 60) < 1e-9
    assert records["s2"]["value"] == 100.0

    csv_out = runner.invoke(
        app, ["--data-dir", data_dir, "analyse", "metrics", "-m", "csat", "--grain", "month", "-o", "csv"]
    )
    assert csv_out.exit_code == 0
    assert csv_out.output.splitlines()[0].startswith("period,metric,n,value,ci_low,ci_high")

    compare = runner.invoke(
        app, ["--data-dir", data_dir, "analyse", "compare", "--grain", "month", "-o", "json"]
    )
    assert compare.exit_code == 0, compare.output
    [row] = json.loads(compare.output)
    assert row["significant"] is True

    bad = runner.invoke(app, ["--data-dir", data_dir, "analyse", "metrics", "--by", "planet"])
    assert bad.exit_code == 2
    assert "planet" in bad.output


def test_csv_output_is_safe_from_formula_injection() -> None:
    import pandas as pd

    from cxlens.report.export import safe_csv

    frame = pd.DataFrame({"store": ['=HYPERLINK("http://x")', "+1", "ok", "@SUM(A1)"], "n": [1, 2, 3, 4]})
    text = safe_csv(frame)
    assert text.splitlines()[1:] == ['"\'=HYPERLINK(""http://x"")",1', "'+1,2", "ok,3", "'@SUM(A1),4"]


def test_error_messages_print_square_brackets_as_they_are(capsys) -> None:  # type: ignore[no-untyped-def]
    """``fail`` prints plain text: 'cxlens[web]' or '[b]' from a data file are not markup."""
    from cxlens.cli.common import fail

    fail("needs the web extra: pip install 'cxlens[web]'; value '[b]x[/b]' in row 3")
    printed = capsys.readouterr().err
    assert "pip install 'cxlens[web]'" in printed
    assert "'[b]x[/b]'" in printed
