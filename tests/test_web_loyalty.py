"""The loyalty and promotion pages and their API twins: figures equal the library's, store managers
see their own customers and stores, pages render in every UI language with translated chart
titles, and Chromium draws every chart at desktop and phone width (screenshots in
test-artifacts/web-loyalty*.png and web-promotions*.png)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page

from conftest import DemoStore, browser_login, screenshot, wait_for_charts
from cxlens.analyse import campaigns as cm
from cxlens.analyse import loyalty as ly
from cxlens.ops import OpsStore
from cxlens.web import auth
from cxlens.web import loyalty_figures as lf
from cxlens.web.app import create_app
from cxlens.web.insight_figures import Scope
from cxlens.web.settings import WebSettings
from cxlens.web.staff_i18n import STAFF_LOCALES
from cxlens.web.testing import LiveServer

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
API = [
    "/api/v1/loyalty/members",
    "/api/v1/loyalty/tiers",
    "/api/v1/loyalty/points",
    "/api/v1/loyalty/points-series",
    "/api/v1/loyalty/tier-upgrade",
    "/api/v1/loyalty/tier-upgrade-effect",
    "/api/v1/loyalty/enrolment",
    "/api/v1/loyalty/expiry",
    "/api/v1/loyalty/cx",
    "/api/v1/promo/campaigns",
    "/api/v1/promo/display",
    "/api/v1/promo/prices",
    "/api/v1/promo/dips",
    "/api/v1/promo/dip-effects",
    "/api/v1/promo/bundles",
    "/api/v1/promo/stacked",
    "/api/v1/promo/cx",
]


def login(app: Any, username: str) -> TestClient:
    client = TestClient(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    data = {"username": username, "password": PASSWORD, "csrf": token.group(1), "next": "/app"}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    return client


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("web-loyalty")
    ws = demo_store(root / "ws", customers=3_000, seed=5)
    ops = OpsStore(data_dir=root)
    auth.create_user(ops, "analyst", PASSWORD, "analyst")
    auth.create_user(ops, "manager", PASSWORD, "store_manager", ["S002"])
    keys = {n: auth.create_api_key(ops, n, "tests") for n in ("analyst", "manager")}
    app = create_app(WebSettings(warm_cache=False), ws, ops=ops, export=False)
    with TestClient(app) as client:
        yield {
            "ws": ws,
            "client": client,
            "key": {n: {"X-API-Key": k} for n, k in keys.items()},
            "analyst": login(app, "analyst"),
            "manager": login(app, "manager"),
        }
    ops.close()
    ws.close()


def _rows(env: dict[str, Any], path: str, who: str = "analyst") -> pd.DataFrame:
    reply = env["client"].get(path, headers=env["key"][who])
    assert reply.status_code == 200, (path, reply.text)
    body = reply.json()
    assert body["stores"] == (["S002"] if who == "manager" else None)
    return pd.DataFrame(body["rows"])


def test_pages_render_with_their_charts(env: dict[str, Any]) -> None:
    html = env["analyst"].get("/app/loyalty").text
    for chart in ("loyalty-members", "loyalty-points", "loyalty-migration", "loyalty-rd", "loyalty-nps"):
        assert f'id="{chart}-data"' in html, chart
    assert "Does joining change how members shop?" in html
    assert 'href="/app/loyalty" aria-current="page"' in html
    html = env["analyst"].get("/app/promotions").text
    for chart in ("promo-campaigns", "promo-features", "promo-dip-0", "promo-bundle-0"):
        assert f'id="{chart}-data"' in html, chart
    assert "Spring win-back: 20% off fresh produce" in html  # campaign names, not ids
    assert "Pantry flash sale: 48 hours only" in html


@pytest.mark.parametrize("locale", [loc for loc in STAFF_LOCALES if loc != "en"])
def test_pages_speak_every_ui_language(env: dict[str, Any], locale: str) -> None:
    for path, chart in (("/app/loyalty", "loyalty-members"), ("/app/promotions", "promo-features")):
        html = env["analyst"].get(path, params={"lang": locale}).text
        assert f'<html lang="{locale}">' in html
        block = re.search(rf'id="{chart}-data">(.*?)</script>', html)
        assert block is not None
        title = json.loads(block.group(1))["layout"]["title"]["text"]
        assert re.search(r"[A-Za-z]{4}", title) is None, title  # no English word left
        assert "Members and active members" not in html
        assert "Extra units sold" not in html


def test_api_twins_equal_the_library(env: dict[str, Any]) -> None:
    ws = env["ws"]
    for path in API:
        _rows(env, path)
        csv = env["client"].get(path, params={"format": "csv"}, headers=env["key"]["analyst"])
        assert csv.status_code == 200
        assert csv.headers["content-type"].startswith("text/csv")
        pd.read_csv(io.StringIO(csv.text))
    members = _rows(env, "/api/v1/loyalty/members")
    lib = ly.members_series(ws)
    assert members["members"].tolist() == lib["members"].tolist()
    campaigns = _rows(env, "/api/v1/promo/campaigns").set_index("campaign_id")
    expected = cm.campaign_effects(ws).set_index("campaign_id")
    assert campaigns["uplift_per_household"].tolist() == pytest.approx(
        expected["uplift_per_household"].tolist(), nan_ok=True
    )
    points = _rows(env, "/api/v1/loyalty/points").iloc[0]
    assert points["balance"] == pytest.approx(ly.points_summary(ws).balance)


def test_store_managers_see_their_customers_and_stores(env: dict[str, Any]) -> None:
    ws = env["ws"]
    assert (
        env["client"].get("/api/v1/loyalty/members?store_id=S001", headers=env["key"]["manager"]).status_code
        == 403
    )
    theirs = _rows(env, "/api/v1/loyalty/members", "manager")
    everyone = _rows(env, "/api/v1/loyalty/members")
    assert 0 < theirs["members"].iloc[-1] < everyone["members"].iloc[-1]
    scoped = lf.scoped(ws, Scope(stores=("S002",)))
    lm = scoped("loyalty_members").to_pandas()
    orders = ws.table("orders").to_pandas()
    fb = ws.table("feedback").to_pandas()
    customers = set(orders.loc[orders["store_id"] == "S002", "customer_id"].dropna())
    customers |= set(fb.loc[fb["store_id"] == "S002", "customer_id"].dropna())
    assert set(lm["customer_id"]) <= customers
    assert theirs["members"].iloc[-1] == len(lm)
    pp = scoped("product_promotions").to_pandas()
    assert set(pp["store_id"]) == {"S002"}
    display = _rows(env, "/api/v1/promo/display", "manager")
    assert (display["cells"] < _rows(env, "/api/v1/promo/display")["cells"]).all()
    page = env["manager"].get("/app/promotions")
    assert page.status_code == 200
    assert env["manager"].get("/app/loyalty?store_id=S005").status_code == 403


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("web-loyalty-browser")
    ws = demo_store(root / "ws", customers=3_000, seed=5)
    ops = OpsStore(data_dir=root)
    auth.create_user(ops, "analyst", PASSWORD, "analyst")
    with LiveServer(create_app(WebSettings(warm_cache=False), ws, ops=ops, export=False)) as srv:
        yield srv
    ops.close()
    ws.close()


@pytest.mark.browser
def test_chromium_draws_the_pages_at_desktop_and_phone_width(server: LiveServer, page: Page) -> None:
    browser_login(page, server.url, "analyst", PASSWORD, "/app/loyalty")
    assert wait_for_charts(page, 5) == 5
    screenshot(page, "loyalty")
    page.goto(f"{server.url}/app/promotions")
    assert wait_for_charts(page, 4) >= 4
    screenshot(page, "promotions")
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name, charts in (
        ("/app/loyalty?lang=zh", "loyalty-phone-zh", 5),
        ("/app/promotions?lang=ja", "promotions-phone-ja", 4),
    ):
        page.goto(f"{server.url}{path}")
        assert wait_for_charts(page, charts) >= charts
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, f"{name}: the page scrolls sideways ({width}px)"
        screenshot(page, name)
    assert page.errors == []  # type: ignore[attr-defined]
