"""Chromium (Debian's, driven by Playwright) uses the staff app on the demo retailer: logs in,
applies a filter, opens every page, and finds real charts, no console errors and no script run
from hostile data. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Page, sync_playwright
from typer.testing import CliRunner

from conftest import browser_login, screenshot, wait_for_charts
from cxlens.cli.main import app as cli
from cxlens.ops import OpsStore
from cxlens.report.builder import CHROMIUM_ARGS
from cxlens.storage.workspace import Workspace
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings
from cxlens.web.testing import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("webapp-demo")
    made = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "demo", "--customers", "1500"])
    assert made.exit_code == 0, made.output
    ws = Workspace(data_dir)
    ws.ingest("stores", pd.DataFrame({"store_id": ["X1"], "name": [HOSTILE], "region": [HOSTILE]}))
    feedback = {
        "feedback_id": [f"hostile-{i}" for i in range(40)],
        "submitted_at": ["2025-06-01"] * 40,
        "source": ["survey"] * 40,
        "store_id": ["X1"] * 40,
        "channel": ["store"] * 40,
        "nps": [10] * 40,
        "text": [HOSTILE] * 40,
    }
    ws.ingest("feedback", pd.DataFrame(feedback))
    ops = OpsStore(data_dir=data_dir)
    auth.create_user(ops, "admin", PASSWORD, "admin")
    auth.create_user(ops, "manager", PASSWORD, "store_manager", ["S001"])
    with LiveServer(create_app(WebSettings(), ws, ops=ops, export=False)) as srv:
        yield srv
    ops.close()
    ws.close()


def test_admin_logs_in_filters_without_reload_and_opens_every_page(server: LiveServer, page: Page) -> None:
    browser_login(page, server.url, "admin", PASSWORD)
    wait_for_charts(page, 3)
    assert page.locator(".kpi").count() == 4  # NPS, CSAT, CES and star rating: the demo has all four
    screenshot(page, "overview-en")
    screenshot(page, "app-overview")
    # the filter form goes through htmx: the page is not reloaded (the marker survives), the
    # address shows the filters, and app.js redraws the charts in the swapped-in content
    page.evaluate("window.__noReload = 1")
    before = page.locator("#trend-nps").element_handle()
    page.select_option("select[name=region]", "North America")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**region=North%20America**")  # htmx pushes the form's query
    page.locator("#trend-nps .main-svg").first.wait_for(state="attached")
    wait_for_charts(page, 3)
    assert page.evaluate("window.__noReload") == 1
    assert before is not None
    assert page.evaluate("(el) => el.isConnected", before) is False  # the old chart was swapped out
    assert page.locator("select[name=region]").input_value() == "North America"
    screenshot(page, "app-overview-filtered")
    page.click("nav >> text=Stores")  # the nav links carry the filters (swapped in with the page)
    page.wait_for_url("**/app/stores?**region=North+America**")
    wait_for_charts(page, 1)
    regions = set(page.locator("table.league tbody td:nth-child(4)").all_inner_texts())
    assert regions == {"North America"}
    page.goto(f"{server.url}/app/stores")
    wait_for_charts(page, 1)
    screenshot(page, "stores-en")
    screenshot(page, "app-stores")
    page.goto(f"{server.url}/app/stores?metric=ces")
    wait_for_charts(page, 1)
    assert page.locator("table.league tbody tr").count() > 40
    page.goto(f"{server.url}/app/users")
    assert page.locator("table.league tbody tr").count() == 2
    screenshot(page, "app-users")
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []  # type: ignore[attr-defined]
    page.click("form.logout button")
    page.wait_for_url("**/login")


def test_pages_in_chinese_through_the_language_switch(server: LiveServer, page: Page) -> None:
    browser_login(page, server.url, "admin", PASSWORD)
    wait_for_charts(page, 3)
    page.click("nav.langs >> text=中文")
    page.wait_for_url(f"{server.url}/app")
    assert page.locator("html").get_attribute("lang") == "zh"
    assert page.locator("h1").first.inner_text().startswith("概览")
    wait_for_charts(page, 3)
    titles = page.locator(".plot .gtitle").evaluate_all("els => els.map(e => e.textContent)")
    assert any("月度趋势" in t for t in titles), titles
    screenshot(page, "overview-zh")
    page.select_option("select[name=channel]", "web")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**channel=web**")
    wait_for_charts(page, 3)
    assert page.locator("form.filters button[type=submit]").inner_text() == "应用"
    page.goto(f"{server.url}/app/stores")
    wait_for_charts(page, 1)
    assert page.locator("table.league thead th").first.inner_text() == "排名"
    screenshot(page, "stores-zh")
    page.goto(f"{server.url}/app/lang?lang=en&next=/app")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.errors == []  # type: ignore[attr-defined]


def test_pages_work_without_javascript(server: LiveServer) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_context(java_script_enabled=False).new_page()
        browser_login(pg, server.url, "admin", PASSWORD)
        pg.select_option("select[name=region]", "North America")
        pg.click("form.filters button[type=submit]")  # a plain GET form without htmx
        pg.wait_for_url("**region=North+America**")
        assert pg.locator(".kpi").count() == 4
        assert pg.locator("select[name=region]").input_value() == "North America"
        browser.close()


def test_store_manager_sees_only_their_store(server: LiveServer, page: Page) -> None:
    browser_login(page, server.url, "manager", PASSWORD)
    wait_for_charts(page, 3)
    page.goto(f"{server.url}/app/stores")
    wait_for_charts(page, 1)
    assert page.locator("table.league tbody td:nth-child(2)").all_inner_texts() == ["S001"]
    screenshot(page, "app-stores-manager")
    # the store filter lists the store's name; its value stays the id
    options = page.locator("select[name=store_id] option")
    assert options.all_inner_texts() == ["All", "Harbor Lane New York Midtown"]
    assert options.evaluate_all("els => els.map(e => e.value)") == ["", "S001"]
    assert page.errors == []  # type: ignore[attr-defined]
