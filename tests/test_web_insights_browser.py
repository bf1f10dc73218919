"""Chromium (Debian's, driven by Playwright) opens the journey, voice-of-customer and customer
pages, and the drivers, cases and action-plan pages, of a small demo retailer: plotly draws every
chart, the verbatim search runs no script from hostile text, a case is worked through its forms,
there are no console errors, and a store manager's verbatims are their store's.
Screenshots go to test-artifacts/web-{journey,voc,customers,drivers,cases,case,plans}.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pytest
from playwright.sync_api import Page

from conftest import DemoStore, browser_login, screenshot, wait_for_charts
from cxlens.act.alerts import run_alerts
from cxlens.act.cases import open_from_alert
from cxlens.act.plans import create_plan
from cxlens.demo import PLANTED
from cxlens.ops import OpsStore
from cxlens.text.store import enrich_feedback
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings
from cxlens.web.testing import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery"
HOSTILE = '"><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> late delivery'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("insights-browser")
    ws = demo_store(root / "ws", customers=1500, seed=7)
    hostile = {
        "feedback_id": [f"hostile-{i}" for i in range(5)],
        "submitted_at": ["2025-12-30"] * 5,
        "source": ["survey"] * 5,
        "store_id": ["S001"] * 5,
        "channel": ["store"] * 5,
        "nps": [2] * 5,
        "language": ["en"] * 5,
        "text": [HOSTILE] * 5,
    }
    ws.ingest("feedback", pd.DataFrame(hostile))
    enrich_feedback(ws)
    ops = OpsStore(data_dir=root)
    auth.create_user(ops, "admin", PASSWORD, "admin")
    auth.create_user(ops, "manager", PASSWORD, "store_manager", ["S002"])
    run = run_alerts(ops, ws, since=datetime(2025, 12, 1), send=False)
    open_from_alert(ops, run.alert_ids[0], actor="admin")
    create_plan(
        ops,
        "Staff training",
        stores=list(PLANTED.training_stores),
        start=PLANTED.training_date,
        touchpoint=PLANTED.training_touchpoint,
        driver="staff",
    )
    with LiveServer(create_app(WebSettings(), ws, ops=ops, export=False)) as srv:
        yield srv
    ops.close()
    ws.close()


def test_admin_opens_journey_voc_and_customers(server: LiveServer, page: Page) -> None:
    browser_login(page, server.url, "admin", PASSWORD, "/app/journey")
    assert wait_for_charts(page, 3) == 3
    assert page.locator(".journey-map .stage").count() >= 5
    assert page.locator(".js-plotly-plot .sankey").count() == 1
    screenshot(page, "journey")
    page.click("nav >> text=Voice of customer")
    page.wait_for_url("**/app/voc**")
    assert wait_for_charts(page, 2) == 2
    assert page.locator(".js-plotly-plot .heatmaplayer").count() == 1
    screenshot(page, "voc")
    page.fill("input[name=q]", "onerror")
    page.click("form[action='#verbatims'] button[type=submit]")
    page.wait_for_url("**q=onerror**")
    assert page.locator("table.verbatims tbody tr").count() == 5
    assert "<script>window.__pwned=2</script>" in page.locator("table.verbatims td.text").first.inner_text()
    page.select_option("select[name=sentiment]", "negative")
    page.click("form[action='#verbatims'] button[type=submit]")
    page.wait_for_url("**sentiment=negative**")
    page.click("nav >> text=Customers")
    page.wait_for_url("**/app/customers**")
    assert wait_for_charts(page, 3) == 3
    assert page.locator(".kpi").count() == 3
    assert page.locator("table.league").count() == 3
    screenshot(page, "customers")
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []  # type: ignore[attr-defined]


def test_admin_opens_drivers_works_a_case_and_sees_the_plan_effect(server: LiveServer, page: Page) -> None:
    browser_login(page, server.url, "admin", PASSWORD, "/app/drivers")
    assert wait_for_charts(page, 3) >= 3
    screenshot(page, "drivers")
    page.click("nav >> text=Cases")
    page.wait_for_url("**/app/cases**")
    assert page.locator("table.league").count() == 2  # cases and recent alerts
    screenshot(page, "cases")
    page.locator("table.league").first.locator("tbody a").first.click()
    page.wait_for_url("**/app/cases/*")
    page.fill("textarea[name=text]", "Called the customer; <b>refund</b> agreed")
    page.locator("form[action$='/note'] button[type=submit]").click()
    page.wait_for_url("**/app/cases/*")
    assert "<b>refund</b> agreed" in page.inner_text("main")
    screenshot(page, "case")
    page.click("nav >> text=Action plans")
    page.wait_for_url("**/app/plans**")
    wait_for_charts(page, 1)
    assert "Clear effect" in page.inner_text("main")
    screenshot(page, "plans")
    assert page.errors == []  # type: ignore[attr-defined]


def test_store_manager_sees_their_stores_verbatims_only(server: LiveServer, page: Page) -> None:
    browser_login(page, server.url, "manager", PASSWORD, "/app/voc")
    wait_for_charts(page, 1)
    stores = {s.split("\n")[0] for s in page.locator("table.verbatims td:nth-child(2)").all_inner_texts()}
    assert stores <= {"S002", "–"}
    options = page.locator("select[name=store_id] option")  # the store's name; the value stays its id
    assert options.all_inner_texts() == ["All", "Harbor Lane New York Brooklyn"]
    assert options.evaluate_all("els => els.map(e => e.value)") == ["", "S002"]
    page.goto(f"{server.url}/app/customers")
    wait_for_charts(page, 3)
    page.goto(f"{server.url}/app/journey")
    wait_for_charts(page, 3)
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []  # type: ignore[attr-defined]
