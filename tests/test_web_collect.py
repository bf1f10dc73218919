"""The public collection endpoints through FastAPI's TestClient: forms in several languages,
partial responses, tokens, kiosks, QR codes, the snippet, the events API, rate limits, and the
path of a response into the feedback table and the NPS metric. Bad input gets 4xx, never 500."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxlens.analyse import metrics
from cxlens.collect.links import qr_bytes
from cxlens.collect.responses import Context
from cxlens.collect.sources import create_source
from cxlens.collect.surveys import parse_survey, template
from cxlens.ops import OpsStore, Response
from cxlens.storage.workspace import Workspace
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings


def make_client(ws: Workspace, ops: OpsStore, **settings: Any) -> TestClient:
    settings.setdefault("allowed_hosts", "testserver")
    app = create_app(WebSettings(export_interval=0.2, **settings), ws, ops=ops)
    col = app.state.cx.collector
    for name in ("post_purchase", "in_store", "post_delivery"):
        col.save_survey(template(name))
    key = create_source(ops, f"app-{secrets.token_hex(3)}", "tests")
    return TestClient(app, headers={"X-Write-Key": key})


@pytest.fixture
def client(workspace: Workspace, tmp_path: Path) -> Iterator[TestClient]:
    ops = OpsStore(data_dir=tmp_path)
    with make_client(workspace, ops) as c:
        yield c
    ops.close()


def wait_exported(ops: OpsStore, n: int, seconds: float = 60) -> None:
    """Wait until ``n`` responses are in the analytics store; ``seconds`` only bounds a hung exporter
    (how fast it is belongs to bench/intake.py, not to a test on a shared machine)."""
    start = time.monotonic()
    while ops.count(Response, Response.exported_at.is_not(None)) < n:
        assert time.monotonic() - start < seconds, "responses never reached the feedback table"
        time.sleep(0.05)


def answer_post_purchase(c: TestClient, score: int, lang: str, text: str, query: str = "") -> str:
    r = c.post(f"/s/post_purchase{query}", data={"q_nps": str(score), "lang": lang}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = r.headers["location"].split("?")[0]
    field = "q_improve" if score <= 6 else "q_liked"
    r = c.post(
        page, data={"page": "1", field: text, "q_mattered": "price", "lang": lang}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith(page + "/done")
    return page.rsplit("/", 1)[-1]


def test_form_is_accessible_server_html_in_the_chosen_language(client: TestClient) -> None:
    r = client.get(
        "/s/post_purchase?store=S1&tp=checkout&ch=store", headers={"Accept-Language": "ja,en;q=0.5"}
    )
    assert r.status_code == 200
    assert '<html lang="ja" dir="ltr">' in r.text
    assert "友人や同僚に当店を薦める" in r.text
    assert "<script" not in r.text  # works without JavaScript
    assert len(re.findall(r'<input type="radio" name="q_nps"', r.text)) == 11
    assert "<legend" in r.text
    assert r.text.count('hreflang="') == 6  # the language switcher
    r = client.get("/s/post_purchase?lang=zh")
    assert "您有多大可能" in r.text
    assert client.get("/s/post_purchase").text.count('lang="zh" dir="ltr"') == 1  # the cookie remembers


def test_right_to_left_survey(client: TestClient) -> None:
    col = client.app.state.cx.collector  # type: ignore[attr-defined]
    col.save_survey(
        parse_survey(
            json.dumps(
                {
                    "id": "rtl",
                    "title": {"en": "Hi", "ar": "مرحبا"},
                    "questions": [
                        {"id": "n", "type": "nps", "text": {"en": "Recommend?", "ar": "هل توصي بنا؟"}}
                    ],
                }
            )
        )
    )
    r = client.get("/s/rtl?lang=ar")
    assert '<html lang="ar" dir="rtl">' in r.text
    assert "هل توصي بنا؟" in r.text


def test_untrusted_answers_are_escaped_when_shown_again(client: TestClient) -> None:
    r = client.post("/s/post_purchase", data={"q_nps": "3"}, follow_redirects=False)
    page = r.headers["location"].split("?")[0]
    r = client.post(page, data={"page": "1", "q_improve": "<script>alert(1)</script>", "q_mattered": "x"})
    assert r.status_code == 422
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<script>" not in r.text


def test_field_errors_are_shown_in_the_language_with_422(client: TestClient) -> None:
    r = client.post("/s/post_purchase", data={"q_nps": "11", "lang": "ru"})
    assert r.status_code == 422
    assert "Выберите значение на шкале." in r.text
    assert 'role="alert"' in r.text
    r = client.post("/s/post_purchase", data={"lang": "pt"})
    assert r.status_code == 422
    assert "Responda a esta pergunta." in r.text


def test_responses_reach_the_feedback_table_and_the_nps_metric(workspace: Workspace, ops: OpsStore) -> None:
    scores = [10, 9, 9, 3, 7]
    with make_client(workspace, ops) as c:
        for i, score in enumerate(scores):
            lang = ["en", "zh", "ja", "ko", "ru"][i]
            answer_post_purchase(c, score, lang, f"answer {i}", "?store=S7&tp=checkout&ch=store")
        wait_exported(ops, len(scores))
    fb = workspace.con.execute(
        "SELECT nps, language, store_id, touchpoint, channel, survey_id, source, text "
        "FROM feedback ORDER BY text"
    ).fetchall()
    assert [r[0] for r in fb] == scores
    assert [r[1] for r in fb] == ["en", "zh", "ja", "ko", "ru"]
    assert {r[2:7] for r in fb} == {("S7", "checkout", "store", "post_purchase", "survey")}
    nps = metrics.metric_table(workspace, "nps", by="store_id")
    promoters, detractors = sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)
    assert nps.loc[0, "n"] == len(scores)
    assert nps.loc[0, "value"] == pytest.approx(100 * (promoters - detractors) / len(scores))


def test_invitation_token_allows_one_response(workspace: Workspace, ops: OpsStore) -> None:
    with make_client(workspace, ops) as c:
        col = c.app.state.cx.collector  # type: ignore[attr-defined]
        inv = col.invite("in_store", Context(customer_id="C9", store_id="S2"), language="ko")
        r = c.get(f"/t/{inv.token}")
        assert r.status_code == 200
        assert "이 매장을 친구에게" in r.text
        r = c.post(f"/t/{inv.token}", data={"q_nps": "8", "q_rating": "4", "q_improve": ["queue", "staff"]})
        assert r.status_code == 200  # redirected to the thank-you page
        again = c.post(f"/t/{inv.token}", data={"q_nps": "0", "lang": "en"})
        assert again.status_code == 409
        assert "This survey has already been answered" in again.text
        assert c.get(f"/t/{inv.token}?lang=en").status_code == 409
        wait_exported(ops, 1)
    row = workspace.con.execute(
        "SELECT customer_id, store_id, nps, rating, language FROM feedback"
    ).fetchall()
    assert row == [("C9", "S2", 8, 4, "ko")]


def test_partial_invitation_resumes_where_it_stopped(client: TestClient) -> None:
    col = client.app.state.cx.collector  # type: ignore[attr-defined]
    inv = col.invite("post_delivery", Context(customer_id="C3"))
    r = client.post(f"/t/{inv.token}", data={"q_csat": "2", "q_on_time": "no"}, follow_redirects=False)
    resume = r.headers["location"].split("?")[0]
    r = client.get(f"/t/{inv.token}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == resume
    page = client.get(resume).text
    assert 'name="q_problems"' in page  # shown because the delivery was late
    stale = client.post(resume, data={"page": "0", "q_csat": "5"})
    assert stale.status_code == 409


def test_kiosk_resets_after_each_answer(client: TestClient) -> None:
    r = client.post("/k/in_store?store=S5", data={"q_nps": "10", "lang": "en"})
    assert r.status_code == 200
    assert (
        'http-equiv="refresh" content="5;url=/k/in_store?store=S5&amp;tp=store_visit&amp;lang=en"' in r.text
    )
    r = client.post("/k/in_store?store=S5", data={"q_nps": "6", "lang": "en"})
    assert r.status_code == 200
    ops = client.app.state.cx.ops  # type: ignore[attr-defined]
    assert ops.count(Response, Response.kiosk.is_(True), Response.channel == "kiosk") == 2


def test_qr_codes_encode_the_store_link(client: TestClient) -> None:
    png = client.get("/qr/s/in_store.png?store=S5&tp=store_visit")
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")
    url = png.headers["x-survey-url"]
    assert url == "http://testserver/s/in_store?store=S5&tp=store_visit"
    assert png.content == qr_bytes(url, "png")
    svg = client.get("/qr/k/in_store.svg?store=S5")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml") or "<svg" in svg.text
    assert segno.make(svg.headers["x-survey-url"], error="m").designator  # a valid QR payload
    assert client.get("/qr/s/in_store.png?tp=not_a_touchpoint").status_code == 400
    assert client.get("/qr/s/nope.png").status_code == 404
    assert client.get("/qr/s/in_store.gif").status_code == 422


def test_links_and_embed_snippet(client: TestClient) -> None:
    links = client.get("/api/v1/surveys/post_purchase/links?store=S1&tp=checkout").json()
    assert links["link"] == "http://testserver/s/post_purchase?store=S1&tp=checkout"
    assert (
        '<script src="http://testserver/embed/post_purchase.js?store=S1&amp;tp=checkout"' in links["snippet"]
    )
    assert "<noscript>" in links["snippet"]
    js = client.get("/embed/post_purchase.js?store=S1")
    assert js.headers["content-type"].startswith("text/javascript")
    assert '"http://testserver/s/post_purchase?store=S1&ch=web"' in js.text


def test_json_responses_and_management_api(workspace: Workspace, tmp_path: Path) -> None:
    ops = OpsStore(data_dir=tmp_path)
    with make_client(workspace, ops, api_token="s3cret") as c:
        r = c.post("/api/v1/surveys/post_support/responses", json={"answers": {"ces": 2}})
        assert r.status_code == 404
        definition = template("post_support").model_dump(mode="json", exclude_defaults=True)
        assert c.put("/api/v1/surveys/post_support", json=definition).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert c.put("/api/v1/surveys/post_support", json=definition, headers=auth).status_code == 201
        bad = c.put("/api/v1/surveys/x", json={"title": {"en": "x"}, "questions": "nope"}, headers=auth)
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "questions"]
        r = c.post("/api/v1/surveys/post_support/responses", json={"answers": {"ces": 9, "zzz": 1}})
        assert r.status_code == 422
        assert {tuple(d["loc"]) for d in r.json()["detail"]} == {
            ("body", "answers", "ces"),
            ("body", "answers", "zzz"),
        }
        r = c.post(
            "/api/v1/surveys/post_support/responses",
            json={"answers": {"ces": 2, "csat": 5}, "language": "en"},
        )
        assert r.status_code == 201
        assert c.get("/api/v1/surveys").json()[-1] == {"id": "post_support", "version": 1, "active": True}
    ops.close()
    assert workspace.con.execute("SELECT ces, csat FROM feedback").fetchall() == [(2, 5)]


def test_events_api_per_event_errors_and_idempotency(workspace: Workspace, tmp_path: Path) -> None:
    ops = OpsStore(data_dir=tmp_path)
    good = {
        "event_id": "e1",
        "occurred_at": "2026-11-20T10:00:00+01:00",
        "customer_id": "C1",
        "channel": "app",
        "event_type": "add_to_cart",
        "properties": {"sku": "P1"},
    }
    bad = {
        "event_id": "e2",
        "occurred_at": "yesterday",
        "channel": "fax",
        "event_type": "page_view",
        "colour": 1,
    }
    with make_client(workspace, ops) as c:
        r = c.post("/api/v1/events", json={"events": [good, bad]})
        assert r.status_code == 207
        body = r.json()
        assert (body["accepted"], body["rejected"]) == (1, 1)
        fields = {e["field"] for e in body["results"][1]["errors"]}
        assert fields == {"occurred_at", "channel", "colour", "customer_id"}
        r = c.post("/api/v1/events", json=[good])
        assert r.status_code == 202
        assert r.json()["results"][0]["status"] == "duplicate"
        assert c.post("/api/v1/events", json={"events": [bad]}).status_code == 422
        assert c.post("/api/v1/events", json={"events": []}).status_code == 422
        assert c.post("/api/v1/events", json={"events": [good] * 1001}).status_code == 422
        assert c.post("/api/v1/events", content=b"[{").status_code == 422
    ops.close()
    rows = workspace.con.execute("SELECT event_id, touchpoint, occurred_at::VARCHAR FROM events").fetchall()
    assert [(r[0].split(":", 1)[1], *r[1:]) for r in rows] == [("e1", "add_to_cart", "2026-11-20 09:00:00")]


def test_rate_limit_and_honeypot(workspace: Workspace, tmp_path: Path) -> None:
    ops = OpsStore(data_dir=tmp_path)
    with make_client(workspace, ops, rate_limit=2) as c:
        assert c.post("/s/in_store", data={"q_nps": "9", "website": "http://spam"}).status_code == 400
        assert c.post("/s/in_store", data={"q_nps": "9"}).status_code == 200
        r = c.post("/s/in_store", data={"q_nps": "9"})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert c.post("/s/in_store", data={"q_nps": "9"}).status_code == 429
        assert c.post("/api/v1/events", json=[]).status_code == 422  # events have a limit of their own
    ops.close()


BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/s/nope", {}),
    ("GET", "/s/post_purchase?tp=" + "x" * 300, {}),
    ("GET", "/s/post_purchase?ch=fax", {}),
    ("POST", "/s/post_purchase", {"data": {"q_nps": ["1", "2"]}}),
    ("POST", "/s/post_purchase", {"data": {"q_nps": "\x00"}}),
    (
        "POST",
        "/s/post_purchase",
        {"content": b"\xff\xfe", "headers": {"content-type": "application/x-www-form-urlencoded"}},
    ),
    ("POST", "/s/post_purchase", {"data": {"lang": "x" * 100}}),
    ("GET", "/t/not-a-token", {}),
    ("POST", "/t/" + "t" * 500, {"data": {"q_nps": "1"}}),
    ("GET", "/r/unknown", {}),
    ("POST", "/r/unknown", {"data": {"page": "1"}}),
    ("POST", "/r/unknown", {"data": {"page": "-1"}}),
    ("GET", "/r/unknown/done", {}),
    ("POST", "/api/v1/events", {"json": {"events": "x"}}),
    ("POST", "/api/v1/events", {"json": [1, None, [], "e"]}),
    ("POST", "/api/v1/events", {"json": [{"event_id": {"a": 1}, "occurred_at": 5, "value": "NaN"}]}),
    (
        "POST",
        "/api/v1/events",
        {
            "content": b'[{"event_id": "x", "occurred_at": "2026-01-01", "anonymous_id": "a", '
            b'"channel": "web", "event_type": "page_view", "value": 1e400}]'
        },
    ),
    ("POST", "/api/v1/surveys/post_purchase/responses", {"json": {"answers": []}}),
    (
        "POST",
        "/api/v1/surveys/post_purchase/responses",
        {"json": {"answers": {"nps": 5}, "touchpoint": "moon"}},
    ),
    ("PUT", "/api/v1/surveys/x", {"json": {}}),
    ("GET", "/qr/x/in_store.png", {}),
    ("GET", "/qr/s/in_store.png?scale=1000", {}),
    ("GET", "/embed/nope.js", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), BAD_REQUESTS)
def test_bad_requests_get_4xx_never_500(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    r = client.request(method, path, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
event_keys = st.sampled_from(
    ["event_id", "occurred_at", "channel", "event_type", "customer_id", "value", "properties", "touchpoint"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batch=st.lists(st.dictionaries(event_keys, json_values, max_size=8) | json_values, min_size=1, max_size=5)
)
def test_events_fuzz_never_500(client: TestClient, batch: list[Any]) -> None:
    r = client.post("/api/v1/events", content=json.dumps(batch, allow_nan=True))
    assert r.status_code in (202, 207, 422), r.text


def test_abandoned_partial_responses_count_after_the_timeout(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = OpsStore(data_dir=tmp_path)
    with make_client(workspace, ops) as c:
        r = c.post("/s/post_purchase?store=S3", data={"q_nps": "2", "lang": "en"}, follow_redirects=False)
        resume = r.headers["location"].split("?")[0]
        time.sleep(0.5)
        assert ops.count(Response, Response.exported_at.is_not(None)) == 0  # still partial: not exported
        monkeypatch.setenv("CXLENS_PARTIAL_TIMEOUT_HOURS", "0")
        wait_exported(ops, 1)
        assert c.post(resume, data={"page": "1", "q_improve": "late"}).status_code == 410
    ops.close()
    assert workspace.con.execute("SELECT nps, store_id, text FROM feedback").fetchall() == [(2, "S3", None)]
