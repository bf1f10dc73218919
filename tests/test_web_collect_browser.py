"""Chromium (Debian's, driven by Playwright) answers surveys on a real server: in English, in
Chinese through the language switcher, and from a QR code with the keyboard only and JavaScript
off. The answers reach the feedback table within seconds and show up in the NPS metric."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from cxlens.analyse import metrics
from cxlens.collect.links import qr_bytes
from cxlens.collect.surveys import template
from cxlens.ops import OpsStore, Response
from cxlens.report.builder import CHROMIUM_ARGS
from cxlens.storage.workspace import Workspace
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings
from cxlens.web.testing import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def ops_store(tmp_path: Path) -> Iterator[OpsStore]:
    ops = OpsStore(data_dir=tmp_path)
    yield ops
    ops.close()


@pytest.fixture
def server(workspace: Workspace, ops_store: OpsStore) -> Iterator[LiveServer]:
    with LiveServer(create_app(WebSettings(export_interval=0.2), workspace, ops=ops_store)) as srv:
        col = srv.app.state.cx.collector
        col.save_survey(template("post_purchase"))
        col.save_survey(template("in_store"))
        yield srv


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), textarea')]
    .filter(el => !el.closest('[aria-hidden=true]') && el.labels.length === 0).length"""


def test_answered_in_two_languages_and_from_a_qr_code(
    server: LiveServer, browser: Any, workspace: Workspace, ops_store: OpsStore
) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    # 1. English, from a store link
    page.goto(f"{server.url}/s/post_purchase?store=S1&tp=checkout&ch=store&lang=en")
    assert page.evaluate(UNLABELLED) == 0
    page.get_by_role("radio", name="10").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("What did you like most?").fill("Friendly staff")
    page.get_by_role("radio", name="Staff").check()
    page.get_by_role("button", name="Send").click()
    assert page.get_by_role("status").inner_text() == "Thank you for your feedback!"

    # 2. Chinese, chosen with the language switcher
    page.goto(f"{server.url}/s/post_purchase?store=S1&tp=checkout&ch=store&lang=en")
    page.get_by_role("link", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh"
    page.get_by_role("button", name="下一步").click()  # nothing chosen: a field error in Chinese
    assert "请回答此问题。" in page.get_by_role("alert").inner_text()
    page.get_by_role("radio", name="3").check()
    page.get_by_role("button", name="下一步").click()
    page.get_by_label("我们应该在哪些方面改进？").fill("排队太久")
    page.get_by_role("button", name="提交").click()
    assert page.get_by_role("status").inner_text() == "感谢您的反馈！"

    # 3. From the QR code on a kiosk poster: keyboard only, JavaScript off
    qr = page.request.get(f"{server.url}/qr/k/in_store.png?store=S1")
    url = qr.headers["x-survey-url"]
    assert qr.body() == qr_bytes(url, "png")  # the image encodes exactly this link
    kiosk = browser.new_context(java_script_enabled=False, locale="ja-JP").new_page()
    kiosk.goto(url)
    assert kiosk.locator("html").get_attribute("lang") == "ja"  # from Accept-Language
    kiosk.focus('input[name="q_nps"][value="0"]')
    for _ in range(9):
        kiosk.keyboard.press("ArrowRight")  # moves along the radio group and selects
    kiosk.keyboard.press("Enter")  # submits the form
    assert (
        kiosk.get_by_role("status").inner_text()
        == "ありがとうございました。またのご来店をお待ちしております！"
    )
    kiosk.get_by_role("link", name="次のお客様").click()
    assert kiosk.locator('input[name="q_nps"]:checked').count() == 0  # a fresh, empty form

    start = time.monotonic()
    while ops_store.count(Response, Response.exported_at.is_not(None)) < 3:
        assert time.monotonic() - start < 60, "responses never reached the feedback table"
        time.sleep(0.05)
    server.__exit__()
    nps = metrics.metric_table(workspace, "nps", by="language")
    assert dict(zip(nps["language"], nps["value"], strict=True)) == {"en": 100.0, "zh": -100.0, "ja": 100.0}
    total = metrics.metric_table(workspace, "nps")
    assert total.loc[0, "n"] == 3
    assert total.loc[0, "value"] == pytest.approx(100 * (2 - 1) / 3)
