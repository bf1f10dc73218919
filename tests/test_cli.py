"""The command line as a user runs it: exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
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


def test_tables_for_people_show_names_and_json_keeps_the_ids(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "200")
    data_dir = str(tmp_path / "d")
    stores = tmp_path / "stores.csv"
    stores.write_text("store_id,name\nS001,Harbour Street\nS002,Central Mall\n")
    fb = tmp_path / "fb.csv"
    rows = ["feedback_id,submitted_at,source,store_id,touchpoint,channel,nps"]
    rows += [
        f"a{i},2025-01-{1 + i % 28:02d},survey,S00{1 + i % 2},checkout_queue,store,{i % 11}"
        for i in range(40)
    ]
    fb.write_text("\n".join(rows) + "\n")
    for table, path in (("stores", stores), ("feedback", fb)):
        assert runner.invoke(app, ["--data-dir", data_dir, "ingest", table, str(path)]).exit_code == 0
    base = [
        "--data-dir",
        data_dir,
        "analyse",
        "metrics",
        "-b",
        "store_id",
        "-b",
        "touchpoint",
        "-b",
        "channel",
    ]
    table = runner.invoke(app, base)
    assert table.exit_code == 0, table.output
    lines = [line for line in table.output.splitlines() if "S001" in line]
    [line] = lines
    assert "Harbour Street" in line
    assert "Store checkout queue" in line
    assert "checkout_queue" not in table.output
    records = json.loads(runner.invoke(app, [*base, "-o", "json"]).output)
    assert {(r["store_id"], r["touchpoint"], r["channel"]) for r in records} == {
        ("S001", "checkout_queue", "store"),
        ("S002", "checkout_queue", "store"),
    }
    assert all("store" not in r for r in records)


def test_tables_printed_after_the_workspace_closes_still_show_names(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Commands that print once their workspace is closed (``text summary`` and others) look the
    names up in the same store, read-only."""
    monkeypatch.setenv("COLUMNS", "200")
    data_dir = str(tmp_path / "d")
    fb = tmp_path / "fb.csv"
    fb.write_text(
        "feedback_id,submitted_at,source,text\n"
        "r1,2025-01-02,review,The checkout was slow and the card payment failed.\n"
        "r2,2025-01-03,review,Checkout and payment were quick.\n"
    )
    assert runner.invoke(app, ["--data-dir", data_dir, "ingest", "feedback", str(fb)]).exit_code == 0
    assert runner.invoke(app, ["--data-dir", data_dir, "text", "analyse"]).exit_code == 0
    summary = runner.invoke(app, ["--data-dir", data_dir, "text", "summary"])
    assert summary.exit_code == 0, summary.output
    assert "Checkout and payment" in summary.output
    assert "checkout_payment" not in summary.output
    records = json.loads(runner.invoke(app, ["--data-dir", data_dir, "text", "summary", "-o", "json"]).output)
    assert "checkout_payment" in {r["aspect"] for r in records}


def test_store_ids_are_checked_against_the_stores_table(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "d")

    def users(*args: str) -> Any:
        return runner.invoke(
            app, ["--data-dir", data_dir, "users", *args, "--password", "correct horse battery"]
        )

    # no stores loaded yet: taken as given, with a warning (stores may be set up before their data)
    early = users("create", "early", "--role", "store_manager", "--store", "S999")
    assert early.exit_code == 0, early.output
    assert "no stores are loaded yet, so S999 cannot be checked" in early.stderr
    stores = tmp_path / "stores.csv"
    stores.write_text("store_id,name\nS001,Harbour\nS002,Central\n")
    assert runner.invoke(app, ["--data-dir", data_dir, "ingest", "stores", str(stores)]).exit_code == 0
    bad = users("create", "kim", "--role", "store_manager", "--store", "S999")
    assert bad.exit_code == 1
    assert "--store S999: no such store in the stores table (2 stores)" in bad.output
    assert "kim" not in runner.invoke(app, ["--data-dir", data_dir, "users", "list"]).output
    typo = users("create", "kim", "--role", "store_manager", "--store", "s001")
    assert "did you mean S001?" in typo.output
    good = users("create", "kim", "--role", "store_manager", "--store", "S001", "-o", "json")
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout) == {"username": "kim", "role": "store_manager", "stores": ["S001"]}


def test_wide_tables_wrap_in_a_terminal_and_keep_their_width_in_a_pipe(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from cxlens.cli.common import out, print_frame

    frame = pd.DataFrame(
        {f"estimate_{i}": [1234.5678 * i] for i in range(8)} | {"store_name": ["Harbour Road superstore"]}
    )
    print_frame(frame, "table", "wide")  # into a pipe: its natural width, nothing cut or wrapped
    piped = capsys.readouterr().out
    assert "…" not in piped
    assert all(f"estimate_{i}" in piped for i in range(8))
    assert "Harbour Road superstore" in piped
    assert max(len(line) for line in piped.splitlines()) > 80
    monkeypatch.setattr(out, "_force_terminal", True)
    monkeypatch.setattr(out, "_width", 60)
    print_frame(frame, "table", "wide")  # a 60-column terminal: cells wrap, none is cut to "estima…"
    shown = capsys.readouterr().out
    assert "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 60


def test_numbers_never_read_minus_zero(capsys) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from cxlens.cli.common import cell, print_record
    from cxlens.cli.main import print_headline

    assert cell(-0.0) == "0.00"
    assert cell(-0.004) == "-0.004"  # small but not zero: two significant digits, sign kept
    assert cell(-1234.5) == "-1,234.50"
    print_record({"change": -0.00001 + 0.00001 - 1e-12, "diff": -3e-5}, "table", "x")
    record = capsys.readouterr().out
    assert "-0 " not in record
    head = pd.DataFrame(
        [
            {"label": "NPS", "n": 120, "period": pd.Timestamp("2025-06-01"), "value": -0.04, "ci_low": -9.2,
             "ci_high": 9.1, "change": -0.03, "previous_period": pd.Timestamp("2025-05-01"),
             "verdict": "no significant change", "p_value": 0.99}
        ]
    )  # fmt: skip
    print_headline(head)
    line = capsys.readouterr().out
    assert "2025-06: 0.0 (95% CI -9.2 to 9.1" in line
    assert "; +0.0 vs 2025-05" in line
    assert "-0.0" not in line


@pytest.mark.slow
def test_serve_says_it_is_ready_only_when_it_answers(tmp_path: Path) -> None:
    """`cxlens serve` warms the figure cache before it answers; its "ready" line comes after that,
    so a request sent the moment the line appears is answered."""
    import os
    import subprocess
    import sys
    import urllib.request

    import pandas as pd

    from conftest import free_port
    from cxlens.storage.workspace import Workspace

    data_dir = tmp_path / "d"
    with Workspace(data_dir) as ws:
        ws.ingest("stores", pd.DataFrame({"store_id": ["S1"], "name": ["One"]}))
        ws.ingest(
            "feedback",
            pd.DataFrame(
                {
                    "feedback_id": [f"f{i}" for i in range(40)],
                    "submitted_at": pd.Timestamp("2025-06-01") + pd.to_timedelta(range(40), unit="h"),
                    "source": "survey",
                    "store_id": "S1",
                    "nps": pd.array([i % 11 for i in range(40)], dtype="Int64"),
                }
            ),
        )
    port = free_port()
    env = {**os.environ, "CXLENS_DATA_DIR": str(data_dir), "CXLENS_WARM_PAGES": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxlens", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server prints, or exits
        assert line.startswith(f"ready: cxlens on http://127.0.0.1:{port}"), (line, proc.poll())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
    finally:
        proc.terminate()
        _, errors = proc.communicate(timeout=60)
    assert f"starting cxlens on http://127.0.0.1:{port}" in errors
