"""UI text of the staff pages: every ``_("...")`` string of every staff template (and of the web
package's Python) has a translation in zh, ja, ko and ru with the same placeholders, and pages
render in the language chosen by ``?lang=``, the cookie or ``Accept-Language``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web import auth, staff_i18n
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

WEB = Path(staff_i18n.__file__).parent
TRANSLATED = ("zh", "ja", "ko", "ru")
MSGID = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
PLACEHOLDER = re.compile(r"\{(\w*)\}")
PASSWORD = "correct horse battery"


def msgids() -> dict[str, set[str]]:
    """English text -> the files using it, from every staff template and the web package's Python."""
    found: dict[str, set[str]] = {}
    python = [path for path in sorted(WEB.rglob("*.py")) if path.name != "staff_i18n.py"]  # its docs
    files = sorted((WEB / "templates").glob("app_*.html.j2")) + python
    for path in files:
        for match in MSGID.finditer(path.read_text(encoding="utf-8")):
            text = match.group(1) if match.group(1) is not None else match.group(2)
            found.setdefault(text, set()).add(path.name)
    return found


def test_the_scanner_finds_template_and_python_strings() -> None:
    found = msgids()
    assert {"Overview", "Apply", "{metric} by month ({unit})"} <= set(found)
    assert "app_base.html.j2" in found["Overview"]
    assert "dashboard.py" in found["{metric} by month ({unit})"]


def test_every_staff_string_is_translated_in_every_locale() -> None:
    found = msgids()
    missing = []
    for locale in TRANSLATED:
        table = staff_i18n.catalogue(locale)
        for text, files in sorted(found.items()):
            if not table.get(text, "").strip():
                missing.append(f"{locale}: {text!r} (in {', '.join(sorted(files))})")
    assert not missing, "missing translations:\n" + "\n".join(missing)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_catalogues_are_json_objects_with_matching_placeholders(locale: str) -> None:
    for path in sorted((WEB / "locales" / locale).glob("*.json")):
        entries = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(entries, dict), path
        for english, translated in entries.items():
            assert isinstance(translated, str), (path.name, english)
            assert translated.strip(), (path.name, english)
            assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(translated)), (
                f"{locale}/{path.name}: placeholders differ in {english!r} -> {translated!r}"
            )


def test_translator_formats_and_falls_back_to_english() -> None:
    zh = staff_i18n.translator("zh")
    assert zh("Overview") == "概览"
    assert zh("{metric} by store", metric="NPS") == "各门店 NPS"
    assert zh("text nobody translated") == "text nobody translated"
    assert staff_i18n.translator("xx")("Overview") == "Overview"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("i18n")
    ws = Workspace(root / "ws")
    ws.ingest("stores", pd.DataFrame({"store_id": ["S1"], "name": ["One"], "region": ["north"]}))
    feedback = pd.DataFrame(
        {
            "feedback_id": [f"f{i}" for i in range(60)],
            "submitted_at": pd.date_range("2025-05-01", periods=60, freq="D"),
            "source": "survey",
            "store_id": "S1",
            "channel": "store",
            "nps": [i % 11 for i in range(60)],
            "csat": [1 + i % 5 for i in range(60)],
            "ces": [1 + i % 7 for i in range(60)],
        }
    )
    ws.ingest("feedback", feedback)
    ops = OpsStore(data_dir=root)
    auth.create_user(ops, "analyst", PASSWORD, "analyst")
    app = create_app(WebSettings(warm_cache=False), ws, ops=ops, export=False)
    with TestClient(app) as c:
        page = c.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        c.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf": token.group(1)})
        yield c
    ops.close()
    ws.close()


def _texts(html: str) -> dict[str, Any]:
    lang = re.search(r'<html lang="([^"]+)"', html)
    h1 = re.search(r"<h1>(.*?)<", html)
    return {"lang": lang.group(1) if lang else None, "h1": h1.group(1).strip() if h1 else None}


def test_pages_render_in_chinese_by_query_cookie_and_header(client: TestClient) -> None:
    english = client.get("/app")
    assert _texts(english.text) == {"lang": "en", "h1": "Overview"}
    by_query = client.get("/app?lang=zh")
    assert _texts(by_query.text) == {"lang": "zh", "h1": "概览"}
    assert "应用" in by_query.text  # the filter form's button
    block = re.search(r'id="trend-nps-data">(.*?)</script>', by_query.text)
    assert block is not None
    title = json.loads(block.group(1))["layout"]["title"]["text"]
    assert title == "NPS 月度趋势（分）"  # a chart title made in Python
    stores = client.get("/app/stores", params={"lang": "ja"})
    assert _texts(stores.text)["h1"] == "店舗"
    by_header = client.get("/app", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"})
    assert _texts(by_header.text) == {"lang": "ko", "h1": "개요"}
    switched = client.get(
        "/app/lang", params={"lang": "zh", "next": "/app/stores?lang=ru&metric=ces"}, follow_redirects=False
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/app/stores?metric=ces"  # the old ?lang= would win
    assert client.cookies.get(staff_i18n.COOKIE) == "zh"
    by_cookie = client.get("/app/stores?metric=ces")
    assert _texts(by_cookie.text)["lang"] == "zh"
    assert "门店" in by_cookie.text
    assert client.get("/app?lang=ru").text.count("Обзор") >= 2  # nav and heading; ?lang= beats the cookie
    client.cookies.delete(staff_i18n.COOKIE)


def test_language_switch_stays_on_the_site_and_ignores_unknown_locales(client: TestClient) -> None:
    away = client.get("/app/lang", params={"lang": "ja", "next": "//evil.example/x"}, follow_redirects=False)
    assert away.headers["location"] == "/app"
    unknown = client.get("/app/lang", params={"lang": "xx", "next": "/app"}, follow_redirects=False)
    assert unknown.status_code == 303
    assert "set-cookie" not in unknown.headers
    client.cookies.delete(staff_i18n.COOKIE)
    login_page = TestClient(client.app).get("/login?lang=ru")
    assert _texts(login_page.text) == {"lang": "ru", "h1": "Войти"}
    assert 'href="/app/lang?lang=zh&amp;next=%2Flogin%3Flang%3Dru"' in login_page.text
