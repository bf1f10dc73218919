"""The worked examples of docs/own-data.md, end to end on the real files in shared/datasets: each
mapping in docs/mappings loads its file (sampled where large) through `cxlens ingest --mapping`
with nothing rejected and nothing added on a second load, what was stored matches the source
counted independently with pandas, and the report and the web overview open in Chromium with
charts and no errors. The data stays in shared/; CI runs beside it, so a missing file fails."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ARTIFACTS, browser_login, screenshot, wait_for_charts
from cxlens.analyse import metrics as m
from cxlens.cli.main import app as cli
from cxlens.collect.mapping import load_mapping
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings
from cxlens.web.testing import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]
DATA = Path("/work/shared/datasets")
MAPPINGS = Path(__file__).resolve().parents[1] / "docs" / "mappings"
PASSWORD = "correct horse battery"
OLIST = "olist_brazilian_ecommerce/classified_reviews/olist_classified_public_dataset.csv.gz"
CLOTHING = "en_womens_clothing_reviews/womens_clothing_ecommerce_reviews.csv.gz"
TWEETS = "en_twitter_customer_support_sample/twcs_small.csv"
CJ = "completejourney_8451"
UCI = "uci_online_shoppers_intention/online_shoppers_intention.csv.gz"
JA = "ja_amazon_reviews_binary/reviews.csv.gz"
KO = "ko_nsmc_movie_reviews/reviews.csv.gz"
RU = "ru_wildberries_reviews/reviews.csv.gz"


@dataclass(frozen=True)
class Load:
    """One `cxlens ingest TABLE FILE --mapping MAPPING` of a worked example."""

    table: str
    source: str
    mapping: str
    rows: int | None = None  # records sampled from the file (None: all)


EXAMPLES: dict[str, list[Load]] = {
    "olist": [
        Load("feedback", OLIST, "olist-reviews.yaml"),
        Load("orders", OLIST, "olist-orders.yaml"),
    ],
    "womens-clothing": [
        Load("feedback", CLOTHING, "womens-clothing-reviews.yaml", 3000),
        Load("products", CLOTHING, "womens-clothing-products.yaml", 3000),
    ],
    "twitter-support": [Load("feedback", TWEETS, "twitter-support.yaml", 2500)],
    "completejourney": [
        Load("products", f"{CJ}/products.csv.gz", "completejourney-products.yaml", 20000),
        Load("customers", f"{CJ}/demographics.csv", "completejourney-households.yaml"),
        Load("promotions", f"{CJ}/campaign_descriptions.csv", "completejourney-campaigns.yaml"),
        Load("orders", f"{CJ}/transactions_sample.csv.gz", "completejourney-orders.yaml", 30000),
        Load("order_items", f"{CJ}/transactions_sample.csv.gz", "completejourney-order-items.yaml", 30000),
    ],
    "ja-ko-ru-reviews": [
        Load("feedback", JA, "ja-amazon-reviews.yaml", 1500),
        Load("feedback", KO, "ko-nsmc-reviews.yaml", 1500),
        Load("feedback", RU, "ru-wildberries-reviews.yaml", 1500),
    ],
    "uci-sessions": [
        Load("events", UCI, "uci-sessions.yaml", 4000),
        Load("events", UCI, "uci-sessions-purchases.yaml", 4000),
    ],
}


def test_every_real_file_has_a_worked_example() -> None:
    used = {load.mapping for loads in EXAMPLES.values() for load in loads}
    assert used == {p.name for p in MAPPINGS.glob("*.yaml")}
    sources = {load.source for loads in EXAMPLES.values() for load in loads}
    for source in sources:
        assert (DATA / source).exists(), f"{DATA / source} is missing: CI runs beside shared/datasets"
    doc = (MAPPINGS.parent / "own-data.md").read_text(encoding="utf-8")
    for name in used:
        assert name in doc, f"docs/own-data.md does not show {name}"


def sample(source: Path, rows: int | None, target_dir: Path) -> Path:
    """The first ``rows`` records of ``source`` (a CSV, gzipped or not), named after its folder and file."""
    target = target_dir / f"{source.parent.name}-{source.name}"  # several sets name theirs reviews.csv.gz
    if target.exists():
        return target
    if rows is None:
        target.write_bytes(source.read_bytes())
        return target
    opener: Any = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        kept = [row for _, row in zip(range(rows + 1), reader, strict=False)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(kept)
    data = buffer.getvalue().encode("utf-8")
    target.write_bytes(gzip.compress(data) if source.suffix == ".gz" else data)
    return target


def _ingest(data_dir: Path, load: Load, path: Path) -> str:
    result = CliRunner().invoke(
        cli,
        [
            "--data-dir",
            str(data_dir),
            "ingest",
            load.table,
            str(path),
            "--mapping",
            str(MAPPINGS / load.mapping),
        ],
    )
    assert result.exit_code == 0, f"{load.mapping}: {result.output}"
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


@dataclass
class Built:
    name: str
    data_dir: Path
    files: dict[str, Path]


@pytest.fixture(scope="module", params=list(EXAMPLES))
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    name = request.param
    root = tmp_path_factory.mktemp(f"example-{name}")
    data_dir, files = root / "data", {}
    (root / "src").mkdir()
    for load in EXAMPLES[name]:
        path = sample(DATA / load.source, load.rows, root / "src")
        files[load.mapping] = path
        first = _ingest(data_dir, load, path)
        assert " rows loaded" in first
        assert "quarantined" not in first
        again = _ingest(data_dir, load, path)
        assert "0 of " in again, f"{load.mapping}: a second load added rows: {again}"
    with Workspace(data_dir) as ws:
        has_text = ws.con.execute("SELECT count(text) FROM feedback").fetchall()[0][0] > 0
    runner = CliRunner()
    if has_text:
        analysed = runner.invoke(cli, ["--data-dir", str(data_dir), "text", "analyse"])
        assert analysed.exit_code == 0, analysed.output
    report = runner.invoke(cli, ["--data-dir", str(data_dir), "report"])
    assert report.exit_code == 0, report.output
    return Built(name, data_dir, files)


def _frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def test_what_is_stored_matches_the_source(example: Built) -> None:
    f = example.files
    with Workspace(example.data_dir) as ws:
        q = lambda sql: ws.con.execute(sql).fetchall()  # noqa: E731
        if example.name == "olist":
            src = _frame(f["olist-reviews.yaml"])
            assert q("SELECT count(*), avg(rating) FROM feedback")[0] == (
                len(src),
                pytest.approx(src["review_score"].astype(float).mean()),
            )
            # reviews link to their orders: a late delivery goes with fewer stars
            late = m.metric_table(ws, "rating", by=["late_delivery"]).set_index("late_delivery")
            assert late.loc[True, "value"] < late.loc[False, "value"] - 1
            assert late.loc[True, "ci_high"] < late.loc[False, "ci_low"]
        elif example.name == "womens-clothing":
            src = _frame(f["womens-clothing-reviews.yaml"])
            assert q("SELECT count(*) FROM feedback")[0][0] == len(src)
            assert q("SELECT count(*) FROM products")[0][0] == src["Clothing ID"].nunique()
            per_product = q("SELECT product_id, count(*) FROM feedback GROUP BY 1")
            assert dict(per_product) == src["Clothing ID"].value_counts().to_dict()
        elif example.name == "twitter-support":
            src = _frame(f["twitter-support.yaml"])
            customers = src[src["inbound"] == "True"]
            assert q("SELECT count(*), count(DISTINCT anonymous_id) FROM feedback")[0] == (
                len(customers),
                customers["author_id"].nunique(),
            )
            first = pd.to_datetime(customers["created_at"], format="%a %b %d %H:%M:%S %z %Y").min()
            assert str(q("SELECT min(submitted_at) FROM feedback")[0][0]) == str(first.tz_localize(None))
        elif example.name == "completejourney":
            src = _frame(f["completejourney-orders.yaml"])
            baskets = src.groupby("basket_id")["sales_value"].apply(lambda v: v.astype(float).sum())
            got = dict(q("SELECT order_id, total_amount FROM orders"))
            assert len(got) == len(baskets)
            assert all(got[b] == pytest.approx(v) for b, v in baskets.items())
            assert q("SELECT count(*), max(line_no) FROM order_items")[0] == (
                len(src),
                src.groupby("basket_id").size().max(),
            )
            assert q("SELECT count(*) FROM promotions")[0][0] == len(
                _frame(f["completejourney-campaigns.yaml"])
            )
            bands = q("SELECT count(*) FROM customers WHERE income_band IS NULL OR age_band IS NULL")
            assert bands[0][0] == 0
        elif example.name == "ja-ko-ru-reviews":
            by_language = dict(q("SELECT language, count(*) FROM feedback GROUP BY 1"))
            assert by_language == {
                "ja": len(_frame(f["ja-amazon-reviews.yaml"])),
                "ko": len(_frame(f["ko-nsmc-reviews.yaml"])),
                "ru": len(_frame(f["ru-wildberries-reviews.yaml"])),
            }
            assert q("SELECT count(*) FROM feedback WHERE language = 'ja' AND rating IS NOT NULL")[0][0] == 0
            # ten points become five stars: 1-2 -> 1, ..., 9-10 -> 5
            ten = _frame(f["ko-nsmc-reviews.yaml"])["rating"].astype(int)
            stars = q("SELECT rating, count(*) FROM feedback WHERE language = 'ko' GROUP BY 1")
            assert dict(stars) == ((ten + 1) // 2).value_counts().to_dict()
            ru = _frame(f["ru-wildberries-reviews.yaml"])["rating"].astype(float)
            ru_mean = q("SELECT avg(rating) FROM feedback WHERE language = 'ru'")[0][0]
            assert ru_mean == pytest.approx(ru.mean())
            analysed = dict(q("SELECT language, count(*) FROM feedback_text GROUP BY 1"))
            assert analysed == by_language  # the mapped language is used as given
        else:
            src = _frame(f["uci-sessions.yaml"])
            assert q("SELECT count(*) FROM events WHERE touchpoint = 'product_page'")[0][0] == len(src)
            bought = q("SELECT count(*) FROM events WHERE touchpoint = 'checkout'")[0][0]
            assert bought == int((src["Revenue"] == "TRUE").sum())


def test_report_and_overview_open_in_chromium(example: Built, page: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto((example.data_dir / "report.html").as_uri(), wait_until="load")
    drawn = page.locator(".js-plotly-plot").count()
    if drawn:
        page.wait_for_selector(".js-plotly-plot .main-svg")
    page.screenshot(path=str(ARTIFACTS / f"example-{example.name}-report.png"), full_page=True)
    assert "Executive summary" in page.content()
    with Workspace(example.data_dir) as ws:
        shown = m.available_metrics(ws)
        ops = OpsStore(data_dir=example.data_dir)
        auth.create_user(ops, "admin", PASSWORD, "admin")
        try:
            with LiveServer(create_app(WebSettings(warm_pages=False), ws, ops=ops, export=False)) as srv:
                browser_login(page, srv.url, "admin", PASSWORD)
                if shown:
                    assert wait_for_charts(page, len(shown)) == len(shown)
                    assert page.locator(".kpi").count() == len(shown)
                else:
                    assert "No scores yet" in page.content()
                screenshot(page, f"example-{example.name}-overview")
        finally:
            ops.close()
    assert drawn >= (2 if shown else 1)
    assert page.errors == []  # type: ignore[attr-defined]
    if "rating" in shown:
        assert "Star rating" in (example.data_dir / "report.html").read_text(encoding="utf-8")
    assert load_mapping(MAPPINGS / EXAMPLES[example.name][0].mapping).table == EXAMPLES[example.name][0].table
