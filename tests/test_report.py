"""The main job and the report: one offline HTML file with real charts, safe with hostile text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxlens.analyse import metrics as m
from cxlens.cli.main import app
from cxlens.report.builder import CHROMIUM_ARGS, build_report, export_pdf
from cxlens.storage.workspace import Workspace

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
HOSTILE_NAME = "<script>window.__pwned = 1</script>Evil & Co"
HOSTILE_TEXT = '</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the README's main job (small size) through the CLI, plus hostile rows, and rebuild."""
    data_dir = tmp_path_factory.mktemp("main-job")
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "run", "--customers", "2000"])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output
    with Workspace(data_dir) as ws:
        hostile_store = {"store_id": ["X1"], "name": [HOSTILE_NAME], "region": ["<b>north</b>"]}
        ws.ingest("stores", pd.DataFrame(hostile_store))
        ws.ingest(
            "feedback",
            pd.DataFrame(
                {
                    "feedback_id": [f"hostile-{i}" for i in range(40)],
                    "submitted_at": ["2025-06-01"] * 40,
                    "source": ["survey"] * 40,
                    "store_id": ["X1"] * 40,
                    "nps": [10] * 40,
                    "text": [HOSTILE_TEXT] * 40,
                }
            ),
        )
        build_report(ws, data_dir / "report.html")
    return data_dir


def test_main_job_prints_headline_and_writes_the_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "run", "--customers", "500"])
    assert result.exit_code == 0, result.output
    assert re.search(r"NPS \d{4}-\d{2}: -?\d+\.\d \(95% CI", result.output)
    assert (tmp_path / "report.html").stat().st_size > 4_000_000  # plotly.js is inlined
    again = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "run", "--customers", "500"])
    assert again.exit_code == 0
    with Workspace(tmp_path) as ws:
        assert ws.counts()["customers"] == 500  # re-running loads nothing twice


def test_report_is_self_contained(main_job: Path) -> None:
    html = (main_job / "report.html").read_text(encoding="utf-8")
    # plotly.js itself names a CDN for geo maps (unused); nothing outside it refers to the network
    assert "http" not in html.split("</head>", 1)[1].replace("http://www.w3.org", "")
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=\"http", html)
    assert html.count("plotly.js v") == 1  # the library once, not once per figure
    charts = re.findall(r'<script type="application/json" id="([^"]+)-data">', html)
    assert len(charts) >= 6
    for section in (
        "Executive summary",
        "Trends",
        "Breakdowns",
        "Stores",
        "Biggest movers",
        "Key drivers and competitors",
    ):
        assert f"<h2>{section}</h2>" in html


def test_report_numbers_are_the_metrics(main_job: Path) -> None:
    html = (main_job / "report.html").read_text(encoding="utf-8")
    with Workspace(main_job) as ws:
        head = m.headline(ws, ["nps", "csat", "ces"], "month").set_index("metric")
    assert f'<div class="value">{head.loc["nps", "value"]:,.1f}</div>' in html
    assert f'<div class="value">{head.loc["csat", "value"]:,.1f}</div>' in html
    assert f'<div class="value">{head.loc["ces", "value"]:,.2f}</div>' in html
    assert f"n = {head.loc['nps', 'n']:,}" in html


def test_hostile_text_is_escaped(main_job: Path) -> None:
    html = (main_job / "report.html").read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in html
    assert "Evil &amp; Co" in html  # escaped in the tables
    # and inside chart data the angle brackets are JSON-escaped so no tag can close the script
    for blob in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S):
        assert "<" not in blob
        json.loads(blob)


@pytest.mark.browser
def test_report_renders_in_chromium_with_charts(main_job: Path) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
        page.goto((main_job / "report.html").as_uri(), wait_until="load")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        plots = page.locator(".js-plotly-plot")
        assert plots.count() >= 6
        for i in range(plots.count()):
            box = plots.nth(i).bounding_box()
            assert box is not None
            assert box["width"] > 200
            assert box["height"] > 150
        # bars and lines were drawn, not empty axes
        assert page.locator(".js-plotly-plot .bars path").count() > 10
        assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 3
        assert page.evaluate("window.__pwned === undefined")
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


@pytest.mark.browser
def test_pdf_export(main_job: Path, tmp_path: Path) -> None:
    pdf = export_pdf(main_job / "report.html", tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page") >= 3


def test_report_uses_the_workspace_journey_map(tmp_path: Path) -> None:
    import yaml

    custom = {
        "name": "two-step",
        "channels": [{"id": "web", "name": "Web", "kind": "online"}],
        "stages": [
            {
                "id": "browse_zone",
                "name": "Browse",
                "touchpoints": [{"id": "look", "name": "Look", "channels": ["web"]}],
            },
            {
                "id": "pay_zone",
                "name": "Pay",
                "touchpoints": [{"id": "till", "name": "Till", "channels": ["web"]}],
            },
        ],
    }
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(custom))
    with Workspace(tmp_path / "d", path) as ws:
        n = 40
        ws.ingest(
            "feedback",
            pd.DataFrame(
                {
                    "feedback_id": [f"f{i}" for i in range(n)],
                    "submitted_at": ["2025-05-01"] * (n // 2) + ["2025-06-01"] * (n // 2),
                    "source": ["survey"] * n,
                    "channel": ["web"] * n,
                    "touchpoint": ["look", "till"] * (n // 2),
                    "nps": [i % 11 for i in range(n)],
                    "csat": [1 + i % 5 for i in range(n)],
                }
            ),
        )
        html = build_report(ws, tmp_path / "r.html").read_text(encoding="utf-8")
    # the workspace map's stages, by the names it gives them (ids stay in the data, not the charts)
    assert '"Browse"' in html
    assert '"Pay"' in html
    assert "browse_zone" not in html


@pytest.mark.spark
@pytest.mark.slow
def test_report_on_the_spark_cluster_says_what_duckdb_says(main_job: Path, spark_session: object) -> None:
    """`cxlens report --engine spark` on the test cluster: every table of the report (headline,
    stores, movers, journeys, customers with the churn lift, drivers, data) reads the same as
    DuckDB's report of the same store."""
    target = main_job / "report-spark.html"
    args = ["--data-dir", str(main_job), "report", "--engine", "spark", "--out", str(target)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    duck_html = (main_job / "report.html").read_text(encoding="utf-8")
    spark_html = target.read_text(encoding="utf-8")

    def tables(html: str) -> list[str]:
        return [re.sub(r"\s+", " ", t) for t in re.findall(r"<table.*?</table>", html, re.S)]

    assert len(tables(duck_html)) >= 6
    assert tables(spark_html) == tables(duck_html)
    values = lambda html: re.findall(r'<div class="value">([^<]+)</div>', html)  # noqa: E731
    assert values(spark_html) == values(duck_html)
    assert "lift" in spark_html
