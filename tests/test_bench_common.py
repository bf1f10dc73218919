"""The benchmarks' shared harness: a disagreement with a peer fails the run (exit code 1), results
are written as JSON, and ``--publish`` puts the table, machine, date and command in the docs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import _common as bc


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(bc, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(bc, "DOCS_JSON_DIR", tmp_path / "docs" / "benchmarks")
    monkeypatch.setattr(bc, "DOCS_MD", tmp_path / "docs" / "benchmarks.md")
    return tmp_path


def _run(*argv: str) -> bc.Run:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1000)
    bc.add_arguments(parser)
    args = parser.parse_args(list(argv))
    bc.apply_smoke(args, size=10)
    return bc.Run("demo", args, list(argv))


def test_agreeing_checks_pass_and_the_results_are_written(places: Path) -> None:
    run = _run("--size", "50")
    assert run.equal("counts", {"a": 1}, {"a": 1})
    assert run.close("parameter", 1.0, 1.0 + 1e-9, rel=1e-6)
    run.table("Times", ["case", "seconds"], [["cxlens", 1.5], ["peer", 3.0]])
    assert run.finish({"ratio": 0.5}) == 0
    (out,) = (places / "results").glob("demo-*.json")
    payload = json.loads(out.read_text())
    assert payload["command"] == "python bench/demo.py --size 50"
    assert payload["machine"]["cores"] >= 1
    assert [c["ok"] for c in payload["checks"]] == [True, True]
    assert payload["results"] == {"ratio": 0.5}
    assert not (places / "docs").exists()  # published only when asked


def test_any_disagreement_fails_the_run(places: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run()
    run.equal("itemsets", {"x", "y"}, {"x", "y"})
    assert not run.close("alpha", 4.09, 4.2, rel=1e-3)
    assert not run.ran("pyfim", {"unavailable": "not installed"})
    assert run.finish({}) == 1
    err = capsys.readouterr().err
    assert "2 of 3 checks FAILED" in err
    assert "pyfim ran: not installed" in err


def test_smoke_size_and_publishing(places: Path) -> None:
    smoke = _run("--smoke", "--publish")
    assert smoke.smoke
    assert not smoke.publish  # smoke runs never overwrite the published figures
    run = _run("--publish")
    run.table("Times", ["case", "seconds"], [["cxlens", 1.25]])
    assert run.finish({}) == 0
    doc = (places / "docs" / "benchmarks.md").read_text()
    assert "Command: `python bench/demo.py --publish`" in doc
    assert "| cxlens | 1.250 |" in doc
    assert (places / "docs" / "benchmarks" / "demo.json").exists()
    again = _run("--publish")
    again.table("Times", ["case", "seconds"], [["cxlens", 2.5]])
    again.finish({})
    doc = (places / "docs" / "benchmarks.md").read_text()
    assert doc.count("<!-- begin demo") == 1  # the block is replaced, not appended again
    assert "| cxlens | 2.500 |" in doc
    assert "1.250" not in doc


def test_a_table_without_rows_renders() -> None:
    """``bench/journeys.py --only duckdb-sql`` has no cxlens/peer pair, so its ratio table is empty."""
    table = {"title": "Ratios", "columns": ["pair", "job"], "rows": [], "note": "Goal: 1.3x"}
    assert bc.render_table(table, markdown=False).splitlines()[:2] == ["Ratios", "pair  job"]
    assert "| pair | job |" in bc.render_table(table)
