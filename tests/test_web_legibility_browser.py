"""Chromium (Debian's, driven by Playwright) opens every staff page of a small demo retailer in
English and Chinese at 1400 and 390 px wide and fails on what a reader would stumble on: chart
labels drawn over each other or cut off at the chart's edge, and English words left in the
interface of a Chinese page (headings, table headers, captions, buttons, filter choices, chart
titles and axis titles; data such as store names, brands and customers' words may be in any
language).
Screenshots go to test-artifacts/web-legible-<page>-<locale>-<width>.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from conftest import ARTIFACTS, DemoStore, browser_login
from cxlens.ops import OpsStore
from cxlens.text.store import enrich_feedback
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings
from cxlens.web.staff_i18n import LOCALE_NAMES
from cxlens.web.testing import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery"
PAGES = ("/app", "/app/stores", "/app/journey", "/app/voc", "/app/customers", "/app/drivers", "/app/loyalty",
         "/app/promotions", "/app/cases", "/app/plans")  # fmt: skip
WIDTHS = (1400, 390)
#: Words that are the same in every language of the interface (names of scores, formats, units,
#: methods), and the language switch's own names.
NOT_ENGLISH = {"NPS", "CSAT", "CES", "JSON", "CSV", "API", "RFM", "CLV", "SMS", "E-mail", "Shapley", "CUPED"}
#: Names from the data (products, promotions, campaigns, stores), which titles may quote.
DATA_NAMES: set[str] = set()
NOT_ENGLISH |= {word for name in LOCALE_NAMES.values() for word in name.split()}

#: Every label plotly draws, per chart, with its box, the chart's box and the label's kind.
LABELS_JS = """
(plots) => plots.map((plot) => {
  const svg = plot.querySelector('.main-svg');
  const box = svg ? svg.getBoundingClientRect() : plot.getBoundingClientRect();
  const pick = (selector, kind) => Array.from(plot.querySelectorAll(selector)).map((el) => {
    const r = el.getBoundingClientRect();
    return {kind, text: (el.textContent || '').trim(), x: r.left, y: r.top, w: r.width, h: r.height};
  }).filter((l) => l.text && l.w > 0 && l.h > 0);
  return {
    id: plot.id,
    box: {x: box.left, y: box.top, w: box.width, h: box.height},
    labels: [
      ...pick('.gtitle', 'title'),
      ...pick('.g-xtitle text, .g-ytitle text', 'axis title'),
      ...pick('.xtick text, .ytick text', 'tick'),
      ...pick('.textpoint text', 'point label'),
      ...pick('.sankey .node-label', 'node label'),
      ...pick('.legendtext', 'legend'),
    ],
  };
})
"""
#: The interface's own words on a page (not data: table cells, verbatims and chart ticks are data).
CHROME_JS = """
() => {
  const out = [];
  const sel = 'main h1, main h2, main h3, main th, main caption, main label, main button, main summary, '
    + 'nav a, .plot .gtitle, .plot .g-xtitle, .plot .g-ytitle, .plot .cbtitle, '
    + 'select[name=channel] option, select[name=region] option, select[name=segment] option';
  for (const el of document.querySelectorAll(sel)) {
    const own = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join(' ');
    const cls = el.getAttribute('class') || '';
    out.push({sel: el.tagName + (cls ? '.' + cls : ''), text: (own || el.textContent || '').trim()});
  }
  return out;
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("legibility")
    ws = demo_store(root / "ws", customers=1500, seed=7)
    enrich_feedback(ws)
    for table in ("products", "promotions", "campaigns", "stores"):
        if ws.counts().get(table):
            DATA_NAMES.update(ws.table(table).select("name").to_pandas()["name"].dropna().astype(str))
    ops = OpsStore(data_dir=root)
    auth.create_user(ops, "admin", PASSWORD, "admin")
    with LiveServer(create_app(WebSettings(), ws, ops=ops, export=False)) as srv:
        yield srv
    ops.close()
    ws.close()


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """The share of the smaller box that the two boxes have in common."""
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    if w <= 0 or h <= 0:
        return 0.0
    return (w * h) / min(a["w"] * a["h"], b["w"] * b["h"])


def problems(charts: list[dict[str, Any]]) -> list[str]:
    """Labels drawn over each other (more than a third of the smaller one) or cut at the chart's edge."""
    found = []
    for chart in charts:
        box, labels = chart["box"], chart["labels"]
        for label in labels:
            right, bottom = box["x"] + box["w"], box["y"] + box["h"]
            if (
                label["x"] < box["x"] - 2
                or label["y"] < box["y"] - 2
                or label["x"] + label["w"] > right + 2
                or label["y"] + label["h"] > bottom + 2
            ):
                found.append(f"{chart['id']}: {label['kind']} {label['text']!r} is cut at the chart's edge")
        checked = [x for x in labels if x["kind"] in ("title", "axis title", "point label", "node label")]
        for i, a in enumerate(checked):
            for b in checked[i + 1 :]:
                if _overlap(a, b) > 0.34:
                    found.append(
                        f"{chart['id']}: {a['kind']} {a['text']!r} overlaps {b['kind']} {b['text']!r}"
                    )
    return found


def english_words(items: list[dict[str, str]]) -> list[str]:
    """Interface strings with an English word (three or more Latin letters not in NOT_ENGLISH)."""
    found = []
    for item in items:
        text = item["text"]
        for name in sorted((n for n in DATA_NAMES if n in text), key=len, reverse=True):
            text = text.replace(name, " ")
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z'\-]{2,}", text) if w not in NOT_ENGLISH]
        if words:
            found.append(f"{item['sel']}: {item['text']!r}")
    return found


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_every_page_is_legible_at_two_widths(server: LiveServer, page: Page, locale: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser_login(page, server.url, "admin", PASSWORD)
    page.goto(f"{server.url}/app/lang?lang={locale}&next=/app")
    failures: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in PAGES:
            page.goto(f"{server.url}{path}")
            plots = page.locator(".plot").count()
            if plots:
                page.locator(".plot.js-plotly-plot .main-svg").nth(plots - 1).wait_for(
                    state="attached", timeout=60_000
                )
            page.wait_for_timeout(300)  # plotly lays out its labels after the first draw
            name = path.strip("/").replace("/", "-") or "app"
            page.screenshot(path=str(ARTIFACTS / f"web-legible-{name}-{locale}-{width}.png"), full_page=True)
            charts = page.locator(".plot.js-plotly-plot").evaluate_all(LABELS_JS)
            failures += [f"{path} {width}px: {p}" for p in problems(charts)]
            if locale != "en":
                chrome = page.evaluate(CHROME_JS)
                failures += [f"{path} {width}px: English left: {p}" for p in english_words(chrome)]
    assert page.errors == []  # type: ignore[attr-defined]
    assert not failures, "\n".join(failures)
