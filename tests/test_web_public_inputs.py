"""No anonymous request can stop the pipeline: hostile Unicode, control characters, huge strings
and deep nesting on every public endpoint get a clear 4xx (never a 500), and whatever is
accepted reaches the analytics store without holding anything back (Hypothesis fuzz)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxlens.collect import outbox
from cxlens.collect.inputs import MAX_DEPTH, parse_json
from cxlens.collect.sources import create_source
from cxlens.collect.surveys import template
from cxlens.ops import InboxEvent, OpsStore, Response
from cxlens.storage.workspace import Workspace
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings


@pytest.fixture
def client(workspace: Workspace, tmp_path: Path) -> Iterator[TestClient]:
    ops = OpsStore(data_dir=tmp_path)
    settings = WebSettings(rate_limit=10**6, qr_rate_limit=10**6, events_rate_limit=10**6, warm_cache=False)
    app = create_app(settings, workspace, ops=ops, export=False)
    for name in ("post_purchase", "in_store"):
        app.state.cx.collector.save_survey(template(name))
    key = create_source(ops, "pos", "tests")
    with TestClient(app, base_url="http://127.0.0.1", headers={"X-Write-Key": key}) as c:
        yield c
    ops.close()


def ops_of(client: TestClient) -> OpsStore:
    return client.app.state.cx.ops  # type: ignore[attr-defined,no-any-return]


EVENT = {
    "event_id": "e1",
    "occurred_at": "2026-01-01T10:00:00Z",
    "anonymous_id": "a1",
    "channel": "web",
    "event_type": "page_view",
}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_a_lone_surrogate_in_event_id_is_a_422_not_a_500(client: TestClient) -> None:
    r = client.post("/api/v1/events", content=json.dumps([{**EVENT, "event_id": "\ud800"}]))
    assert r.status_code == 422
    assert r.json()["detail"][0] == {
        "loc": ["body", 0, "event_id"],
        "msg": "invalid Unicode: a lone surrogate (U+D800)",
    }
    assert ops_of(client).count(InboxEvent) == 0


def test_a_lone_surrogate_in_an_answer_or_its_key_is_refused(client: TestClient) -> None:
    for body in (
        {"answers": {"nps": 3, "improve": ["price"], "comment": "bad \udfff"}},
        {"answers": {"nps": 3}, "store_id": "S\ud800"},
        {"answers": {"nps": 3, "\ud83d": 1}},
    ):
        r = client.post("/api/v1/surveys/in_store/responses", content=json.dumps(body))
        assert r.status_code == 422, r.text
        assert "lone surrogate" in r.json()["detail"][0]["msg"]
    assert ops_of(client).count(Response) == 0


def test_nul_and_control_characters_in_answers_are_field_errors(client: TestClient) -> None:
    r = client.post("/s/post_purchase", data={"q_nps": "3", "lang": "en"}, follow_redirects=False)
    page = r.headers["location"].split("?")[0]
    for text in ("rude\x00", "beep\x07", "esc\x1b[31m"):
        r = client.post(page, data={"page": "1", "q_improve": text, "q_mattered": "price", "lang": "en"})
        assert r.status_code == 422
        assert "Please remove the control characters from your answer." in r.text
    ok = client.post(page, data={"page": "1", "q_improve": "línea 1\r\nline\t2 مرحبا\u202e", "lang": "en"})
    assert ok.status_code == 200  # tabs, new lines and right-to-left marks are text
    r = client.post(
        "/api/v1/surveys/post_purchase/responses", json={"answers": {"nps": 2, "improve": "bad\x00"}}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == "contains a NUL character (U+0000)"
    r = client.post(
        "/api/v1/surveys/post_purchase/responses", json={"answers": {"nps": 2, "improve": "bad\x01"}}
    )
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"loc": ["body", "answers", "improve"], "msg": "invalid_characters", "type": "invalid_characters"}
    ]


def test_control_characters_in_ids_and_events_are_refused_per_event(client: TestClient) -> None:
    batch = [
        {**EVENT, "event_id": "fine"},
        {**EVENT, "event_id": "bell\x07"},
        {**EVENT, "event_id": "p", "properties": {"k": "v\x1b"}},
        {**EVENT, "event_id": "spoof", "store_id": "S1\u202e"},
    ]
    r = client.post("/api/v1/events", json=batch)
    assert r.status_code == 207
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected", "rejected", "rejected"]
    assert "U+0007" in r.json()["results"][1]["errors"][0]["msg"]
    assert client.get("/s/in_store?store=S1%00").status_code == 400
    assert client.get("/s/in_store?store=S%1b1").status_code == 400
    assert client.get("/s/in_store%00").status_code == 400
    assert client.get("/s/in_store?store=S1%E2%80%AE").status_code == 400  # bidi override in an id


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/events"),
        ("POST", "/api/v1/surveys/in_store/responses"),
        ("PUT", "/api/v1/surveys/x"),
        ("PATCH", "/api/v1/cases/1"),
    ],
)
def test_100k_levels_of_nesting_is_a_422(client: TestClient, method: str, path: str) -> None:
    body = b'{"answers": ' + nested(100_000) + b"}"
    r = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text[:200]
    assert "nested deeper" in r.text
    ok = parse_json(nested(MAX_DEPTH))
    assert isinstance(ok, list)


# -- the fuzz ------------------------------------------------------------------------------------

HOSTILE = [
    "\ud800",
    "\udfff",
    "a\ud83dz",
    "\x00",
    "\x07",
    "\x1b[2J",
    "\u202eevil\u202c",
    "\u2066x\u2069",
    "\ufeff",
    "\uffff",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "<script>x</script>",
    "=cmd|' /C calc'!A0",
    "x" * 1_000_000,
    "é" * 300_000,
]
texts = st.one_of(
    st.text(max_size=40), st.sampled_from(HOSTILE), st.text(alphabet=st.characters(), max_size=20)
)
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
EVENT_KEYS = ["event_id", "occurred_at", "channel", "event_type", "anonymous_id", "store_id", "properties"]


def _form(**fields: str) -> dict[str, Any]:
    """A form body as an attacker sends it: lone surrogates as their raw UTF-8 bytes."""
    raw = urlencode(fields, encoding="utf-8", errors="surrogatepass").encode("ascii")
    return {"content": raw, "headers": {"content-type": "application/x-www-form-urlencoded"}}


def _qs(**params: str) -> str:
    return "?" + urlencode(params, encoding="utf-8", errors="surrogatepass")


def _body(value: Any, depth: int) -> bytes:
    text = json.dumps(value)  # ensure_ascii: lone surrogates travel as \\udxxx escapes
    return (b"[" * depth) + text.encode() + (b"]" * depth)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    event=st.dictionaries(st.sampled_from(EVENT_KEYS), texts, max_size=3).map(lambda d: {**EVENT, **d}),
    extra=json_values,
    depth=st.sampled_from([0, 0, 0, 1, 40, 100_000]),
    answer=texts,
    store=texts,
    form_text=texts,
)
def test_fuzz_public_endpoints_never_500_and_never_stop_the_export(
    client: TestClient, event: dict[str, Any], extra: Any, depth: int, answer: str, store: str, form_text: str
) -> None:
    replies = [
        client.post("/api/v1/events", content=_body([event, extra], depth)),
        client.post("/api/v1/events", content=_body({"events": [{**event, "properties": {"x": extra}}]}, 0)),
        client.post(
            "/api/v1/surveys/post_purchase/responses",
            content=_body({"answers": {"nps": 1, "improve": answer}, "store_id": store}, 0),
        ),
        client.post(
            "/api/v1/surveys/in_store/responses", content=_body({"answers": {"nps": 5}, "x": extra}, depth)
        ),
        client.post("/s/post_purchase" + _qs(store=store[:300]), **_form(q_nps="2", q_x=form_text)),
        client.post("/k/in_store", **_form(q_nps="9", lang=form_text[:50])),
        client.get("/s/in_store" + _qs(store=store[:300], lang=answer[:20])),
        client.get("/qr/s/in_store.svg" + _qs(store=store[:300])),
        client.get("/embed/in_store.js" + _qs(tp=store[:300])),
        client.get("/t/" + quote(store[:80], safe="", errors="surrogatepass")),
    ]
    started = client.post("/s/post_purchase", data={"q_nps": "2", "lang": "en"}, follow_redirects=False)
    if started.status_code == 303:
        page = started.headers["location"].split("?")[0]
        replies.append(client.post(page, **_form(page="1", q_improve=form_text, q_mattered=answer[:100])))
    for r in replies:
        assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text[:300])
    ops = ops_of(client)
    done = outbox.export_all(ops, client.app.state.cx.workspace)  # type: ignore[attr-defined]
    assert done.held == 0, "an accepted request produced a row the analytics store cannot take"
    assert ops.count(Response, Response.exported_at.is_(None), Response.status != "partial") == 0
    assert ops.count(InboxEvent, InboxEvent.exported_at.is_(None)) == 0
