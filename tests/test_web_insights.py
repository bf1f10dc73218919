"""The journey, voice-of-customer and customer pages and their API: figures equal the library's
and plain pandas, store managers see only their stores, customer text is escaped, CSV is formula
safe, and an empty workspace (or one whose texts were never analysed) answers 200."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import DemoStore
from cxlens.analyse import journey_experience as jx
from cxlens.analyse import journey_funnels as jf
from cxlens.analyse import journeys as jr
from cxlens.analyse.customers import churn as churn_mod
from cxlens.analyse.customers import prepare, rfm
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree
from cxlens.text import topics
from cxlens.text.insights import aspect_sentiment, heatmap_frame
from cxlens.text.store import enrich_feedback, text_tables
from cxlens.web import auth
from cxlens.web import insight_figures as fx
from cxlens.web.app import create_app
from cxlens.web.routes import insights
from cxlens.web.settings import WebSettings
from cxlens.web.staff_i18n import LOCALES_DIR

pytestmark = pytest.mark.slow  # builds and enriches a small demo store; the role matrix makes ~150 requests
PASSWORD = "correct horse battery"
HOSTILE = '<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">'
FORMULA = '=HYPERLINK("http://evil.example","x") delivery was late'
SECRET = "zebracrossing only store two knows"
USERS = {"admin": ("admin", []), "analyst": ("analyst", []), "manager": ("store_manager", ["S001"])}
WEB = Path(__file__).resolve().parents[1] / "src" / "cxlens" / "web"
TEMPLATES = [WEB / "templates" / f"app_{n}.html.j2" for n in ("journey", "voc", "customers")]
API = [
    "/api/v1/journey/map",
    "/api/v1/journey/sankey",
    "/api/v1/journey/funnel",
    "/api/v1/journey/emotions",
    "/api/v1/voc/aspects",
    "/api/v1/voc/topics",
    "/api/v1/voc/verbatims",
    "/api/v1/customers/segments",
    "/api/v1/customers/clv",
    "/api/v1/customers/top-value",
    "/api/v1/customers/churn",
    "/api/v1/customers/at-risk",
]
PAGES = ["/app/journey", "/app/voc", "/app/customers"]


def _planted() -> pd.DataFrame:
    """Hostile text at S001, a formula and a store-two secret at S002 (all analysed as text)."""
    rows = []
    for i in range(6):
        for store, text in (("S001", HOSTILE), ("S002", FORMULA), ("S002", SECRET)):
            rows.append(
                {
                    "feedback_id": f"planted-{store}-{i}-{len(rows)}",
                    "submitted_at": pd.Timestamp("2025-06-10 12:00") + pd.Timedelta(days=i),
                    "source": "survey",
                    "store_id": store,
                    "channel": "store",
                    "touchpoint": "checkout",
                    "nps": 3,
                    "language": "en",
                    "text": text,
                }
            )
    return pd.DataFrame(rows)


def login(app: Any, username: str) -> TestClient:
    client = TestClient(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    data = {"username": username, "password": PASSWORD, "csrf": token.group(1), "next": "/app"}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    return client


def _app(ws: Workspace, root: Path) -> tuple[Any, OpsStore, dict[str, str]]:
    ops = OpsStore(data_dir=root)
    keys = {}
    for name, (role, stores) in USERS.items():
        auth.create_user(ops, name, PASSWORD, role, stores)
        keys[name] = auth.create_api_key(ops, name, "tests")
    return create_app(WebSettings(), ws, ops=ops, export=False), ops, keys


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("insights")
    ws = demo_store(root / "ws", customers=1500, seed=7)
    ws.ingest("feedback", _planted())
    enrich_feedback(ws)
    app, ops, keys = _app(ws, root)
    with TestClient(app) as client:
        yield {
            "app": app,
            "ws": ws,
            "client": client,
            "key": {n: {"X-API-Key": k} for n, k in keys.items()},
            "admin": login(app, "admin"),
            "manager": login(app, "manager"),
        }
    ops.close()
    ws.close()


def _rows(env: dict[str, Any], path: str, who: str = "admin") -> pd.DataFrame:
    reply = env["client"].get(path, headers=env["key"][who])
    assert reply.status_code == 200, (path, reply.text)
    return pd.DataFrame(reply.json()["rows"])


def _same(api: pd.DataFrame, lib: pd.DataFrame) -> None:
    lib = lib.reset_index(drop=True)
    assert list(api.columns) == [str(c) for c in lib.columns]
    for col in lib.columns:
        if pd.api.types.is_numeric_dtype(lib[col]) and not pd.api.types.is_bool_dtype(lib[col]):
            assert api[col].astype(float).tolist() == pytest.approx(
                lib[col].astype(float).tolist(), nan_ok=True
            )
        else:
            assert api[col].tolist() == lib[col].tolist(), col


def _sql(ws: Workspace, sql: str) -> pd.DataFrame:
    return ws.con.cursor().execute(sql).df()


# -- pages ----------------------------------------------------------------------------------------


def test_pages_render_with_their_charts(env: dict[str, Any]) -> None:
    html = env["admin"].get("/app/journey").text
    for chart in ("journey-sankey", "journey-funnel", "journey-emotions"):
        assert f'id="{chart}-data"' in html
    assert "Awareness" in html
    assert "Ad impression" in html  # the journey map's stages and touchpoints
    html = env["admin"].get("/app/voc").text
    for chart in ("voc-aspects", "voc-topics"):
        assert f'id="{chart}-data"' in html
    assert 'class="league verbatims"' in html
    html = env["admin"].get("/app/customers").text
    for chart in ("customers-segments", "customers-clv", "customers-churn"):
        assert f'id="{chart}-data"' in html
    assert "champions" in html
    zh = env["admin"].get("/app/customers?lang=zh").text
    assert "值得挽留的客户" in zh
    assert "冠军客户" in zh


def test_every_ui_string_is_translated_with_the_same_placeholders() -> None:
    pattern = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
    sources = [*TEMPLATES, WEB / "routes" / "insights.py"]
    texts = {m.group(1) or m.group(2) for p in sources for m in pattern.finditer(p.read_text())}
    texts |= set(insights.REASONS.values()) | {name for name, _, _ in rfm.SEGMENTS} | set(fx.SENTIMENTS)
    assert len(texts) > 80
    assert json.loads((LOCALES_DIR / "en" / "insights.json").read_text()) == {}
    for locale in ("zh", "ja", "ko", "ru"):
        table = json.loads((LOCALES_DIR / locale / "insights.json").read_text(encoding="utf-8"))
        missing = sorted(texts - set(table))
        assert not missing, (locale, missing)
        for english, translated in table.items():
            assert set(re.findall(r"\{\w+\}", english)) == set(re.findall(r"\{\w+\}", translated)), english


# -- figures against the library and pandas ------------------------------------------------------


def test_journey_api_rows_equal_the_journey_analytics(env: dict[str, Any]) -> None:
    ws = env["ws"]
    links = _rows(env, "/api/v1/journey/sankey")
    _same(links, jr.sankey_links(ws, "stage", max_steps=5))
    # flow is conserved: what arrives at a state at step s + 1 leaves it (or ends) there
    arrive = links[links["target"] != jr.END].groupby(["step", "target"])["n"].sum()
    leave = links.groupby(["step", "source"])["n"].sum()
    for (step, state), n in arrive.items():
        if step + 1 < 5:
            assert leave[(step + 1, state)] == n
    steps = fx.funnel_steps(ws)
    _same(_rows(env, "/api/v1/journey/funnel"), jf.funnel(ws, steps))
    _same(_rows(env, "/api/v1/journey/emotions"), jx.emotion_curve(ws, "stage"))
    jmap = _rows(env, "/api/v1/journey/map")
    events = _sql(ws, "SELECT touchpoint, count(*) AS n FROM events GROUP BY touchpoint")
    expected = jmap["touchpoint"].map(events.set_index("touchpoint")["n"]).fillna(0).astype(int)
    assert jmap["events"].tolist() == expected.tolist()
    assert jmap["events"].sum() == len(ws.table("events").to_pandas())
    web = _rows(env, "/api/v1/journey/funnel?channel=web")
    assert 0 < web["journeys"].iloc[0] < _rows(env, "/api/v1/journey/funnel")["journeys"].iloc[0]


def test_voc_api_rows_equal_the_text_analytics_and_pandas(env: dict[str, Any]) -> None:
    ws = env["ws"]
    aspects = _rows(env, "/api/v1/voc/aspects")
    lib = heatmap_frame(aspect_sentiment(text_tables(ws), own_brand_only=True).to_pandas())
    assert aspects.set_index("aspect")["mentions"].to_dict() == lib["mentions"].astype(int).to_dict()
    raw = _sql(
        ws,
        "SELECT a.aspect, a.sentiment FROM feedback_aspects a JOIN feedback f USING (feedback_id) "
        "WHERE f.brand IS NULL",
    )
    shares = pd.crosstab(raw["aspect"], raw["sentiment"], normalize="index")
    for r in aspects.itertuples():
        for s in fx.SENTIMENTS:
            assert getattr(r, s) == pytest.approx(shares.loc[r.aspect].get(s, 0.0))
    trend = _rows(env, "/api/v1/voc/topics")
    language = _rows(env, "/api/v1/voc/topics?language=zh")["language"].unique().tolist()
    assert language == ["zh"]
    model = topics.discover(text_tables(ws), trend["language"].iloc[0], 6)
    assert trend["documents"].tolist() == model.trend_.sort_values(["topic", "period"])["documents"].tolist()
    assert (trend["ci_low"] <= trend["share"]).all()
    assert (trend["share"] <= trend["ci_high"]).all()
    reply = env["client"].get(
        "/api/v1/voc/verbatims?q=DELIVERY&per_page=7&page=2&sentiment=&language=&aspect=",
        headers=env["key"]["admin"],
    )
    body = reply.json()
    texts = _sql(ws, "SELECT text FROM feedback WHERE text IS NOT NULL AND trim(text) <> ''")["text"]
    assert body["total"] == int(texts.str.lower().str.contains("delivery", regex=False).sum())
    assert len(body["rows"]) == 7
    assert all("delivery" in r["text"].lower() for r in body["rows"])
    neg = _rows(env, "/api/v1/voc/verbatims?sentiment=negative&aspect=delivery&language=en&per_page=100")
    assert not neg.empty
    assert set(neg["sentiment"]) == {"negative"}
    assert set(neg["language"]) == {"en"}
    ids = _sql(ws, "SELECT feedback_id FROM feedback_aspects WHERE aspect = 'delivery'")["feedback_id"]
    assert set(neg["feedback_id"]) <= set(ids)
    june = _rows(env, "/api/v1/voc/verbatims?start=2025-06-01&end=2025-06-30&per_page=100")
    assert june["submitted_at"].str[:7].eq("2025-06").all()


def test_customer_api_rows_equal_the_customer_analytics(env: dict[str, Any]) -> None:
    ws = env["ws"]
    segs = _rows(env, "/api/v1/customers/segments")
    b = prepare.baskets_from_tables(ws)
    end = rfm.as_date(b.ordered_at.max().to_pandas())
    lib = rfm.segment_summary(rfm.rfm_scores(b, end)).to_pandas().set_index("segment")
    got = segs.set_index("segment")
    assert got["customers"].to_dict() == lib["customers"].to_dict()
    assert got["monetary"].to_dict() == pytest.approx(lib["monetary"].to_dict())
    # buyers: guest orders count for the customer their anonymous id is linked to (as journeys)
    buyers = _sql(
        ws,
        "SELECT count(DISTINCT coalesce(o.customer_id, l.customer_id)) AS n FROM orders o "
        "LEFT JOIN (SELECT anonymous_id, min(customer_id) AS customer_id FROM identities GROUP BY 1) l "
        "ON o.anonymous_id = l.anonymous_id WHERE (status IS NULL OR status <> 'cancelled')",
    )["n"][0]
    assert segs["customers"].sum() == buyers
    assert _rows(env, "/api/v1/customers/clv")["customers"].sum() == buyers
    churn = _rows(env, "/api/v1/customers/churn")
    assert churn["customers"].sum() == buyers
    assert churn["share"].sum() == pytest.approx(1.0)
    risk = _rows(env, "/api/v1/customers/at-risk")
    assert len(risk) == 20
    assert risk["value_at_risk"].is_monotonic_decreasing
    fitted = fx.customer_models(ws)
    assert fitted.model is not None
    lib = churn_mod.rank_at_risk(fitted.risk, fitted.value, fitted.model)  # type: ignore[arg-type]
    assert risk["customer_id"].tolist() == lib["customer_id"].tolist()
    assert set(risk["reason_1"].dropna()) <= set(insights.REASONS)
    top = _rows(env, "/api/v1/customers/top-value")
    assert top["clv"].is_monotonic_decreasing
    assert top["rank"].tolist() == list(range(1, 21))
    # people, not ids: each listed customer's name from the customers table, on the page as well
    on_file = _sql(ws, "SELECT customer_id, name FROM customers").set_index("customer_id")["name"]
    for listed in (risk, top):
        assert listed["name"].tolist() == on_file.loc[listed["customer_id"]].tolist()
        assert listed["name"].notna().all()
    page = env["admin"].get("/app/customers").text
    assert f"{top['name'][0]}<br><small>{top['customer_id'][0]}</small>" in page
    gold = _rows(env, "/api/v1/customers/at-risk?segment=gold")
    tiers = _sql(ws, "SELECT customer_id FROM customers WHERE loyalty_tier = 'gold'")["customer_id"]
    assert set(gold["customer_id"]) <= set(tiers)
    models = fx.customer_models(ws)
    assert models.as_of == end
    assert models.risk is not None
    assert (models.risk["churn_probability"].between(0, 1)).all()


# -- access ---------------------------------------------------------------------------------------


def test_every_endpoint_and_page_for_every_role(env: dict[str, Any]) -> None:
    client, keys = env["client"], env["key"]
    for path in API:
        assert client.get(path).status_code == 401
        for role in USERS:
            assert client.get(path, headers=keys[role]).status_code == 200, (role, path)
        for role in ("analyst", "manager"):
            other = client.get(f"{path}?store_id=S002", headers=keys[role])
            assert other.status_code == (403 if role == "manager" else 200), (role, path)
        csv = client.get(f"{path}?format=csv", headers=keys["manager"])
        assert csv.status_code == 200
        assert csv.headers["content-type"].startswith("text/csv")
        nowhere = _rows(env, f"{path}?region=nowhere", "analyst")  # filters that match nothing
        assert nowhere.empty or set(nowhere["events"]) == {0}, path
    for path in PAGES:
        assert TestClient(env["app"]).get(path, follow_redirects=False).status_code == 303
        assert client.get(path, headers=keys["admin"], follow_redirects=False).status_code == 303
        assert env["manager"].get(path).status_code == 200
        assert env["manager"].get(f"{path}?store_id=S002").status_code == 403
        assert env["admin"].get(f"{path}?store_id=S002").status_code == 200


def test_store_manager_sees_only_their_stores_data(env: dict[str, Any]) -> None:
    ws = env["ws"]
    allowed = _sql(
        ws,
        "SELECT feedback_id FROM feedback WHERE trim(text) <> '' AND (store_id = 'S001' OR (store_id IS NULL "
        "AND order_id IN (SELECT order_id FROM orders WHERE store_id = 'S001')))",
    )["feedback_id"]
    verbatims = _rows(env, "/api/v1/voc/verbatims?per_page=100", "manager")
    assert len(verbatims) == len(allowed)
    assert set(verbatims["feedback_id"]) == set(allowed)
    assert set(verbatims["store_id"].dropna()) == {"S001"}
    for who in ("admin", "manager"):
        found = _rows(env, f"/api/v1/voc/verbatims?q={SECRET[:10]}", who)
        assert len(found) == (6 if who == "admin" else 0)
        html = env[who].get("/app/voc?q=zebra").text
        assert (SECRET in html) == (who == "admin")
    # the store's customers: orders there (guest orders count for the customer they are linked to)
    # and answers about it
    customers = _sql(
        ws,
        "SELECT coalesce(o.customer_id, l.customer_id) AS customer_id FROM orders o LEFT JOIN "
        "(SELECT anonymous_id, min(customer_id) AS customer_id FROM identities GROUP BY 1) l "
        "ON o.anonymous_id = l.anonymous_id WHERE o.store_id = 'S001' "
        "AND coalesce(o.customer_id, l.customer_id) IS NOT NULL "
        "AND (status IS NULL OR status <> 'cancelled') UNION "
        "SELECT customer_id FROM feedback WHERE store_id = 'S001' AND customer_id IS NOT NULL",
    )["customer_id"]
    bought = set(fx.customer_models(ws).scores["customer_id"])
    segs = _rows(env, "/api/v1/customers/segments", "manager")
    assert segs["customers"].sum() == len(set(customers) & bought)
    assert set(_rows(env, "/api/v1/customers/at-risk", "manager")["customer_id"]) <= set(customers)
    assert set(_rows(env, "/api/v1/customers/top-value", "manager")["customer_id"]) <= set(customers)
    mine = _rows(env, "/api/v1/journey/sankey", "manager")
    every = _rows(env, "/api/v1/journey/sankey")
    assert 0 < mine[mine["step"] == 1]["n"].sum() < every[every["step"] == 1]["n"].sum()
    jmap = _rows(env, "/api/v1/journey/map", "manager")
    at_other = _sql(ws, "SELECT count(*) AS n FROM events WHERE store_id IS NOT NULL AND store_id <> 'S001'")
    assert at_other["n"][0] > 0
    assert jmap["events"].sum() < _rows(env, "/api/v1/journey/map")["events"].sum()
    assert _rows(env, "/api/v1/journey/sankey?store_id=S001").equals(mine)


# -- untrusted data ------------------------------------------------------------------------------


def test_hostile_verbatims_are_escaped(env: dict[str, Any]) -> None:
    for path in ("/app/voc?q=onerror", "/app/voc?sentiment=negative", "/app/journey", "/app/customers"):
        for who in ("admin", "manager"):
            html = env[who].get(path).text
            assert "<script>window" not in html, (who, path)
            assert "<img src=x" not in html, (who, path)
    html = env["admin"].get("/app/voc?q=onerror").text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    echoed = env["admin"].get('/app/voc?q="><script>window.__q=1</script>&topic_language="><b>x').text
    assert "<script>window.__q" not in echoed
    assert '"><b>x' not in echoed
    assert "&#34;&gt;&lt;img src=x onerror=" in html


def test_csv_export_neutralises_formulas(env: dict[str, Any]) -> None:
    reply = env["client"].get("/api/v1/voc/verbatims?q=HYPERLINK&format=csv", headers=env["key"]["admin"])
    assert "attachment" in reply.headers["content-disposition"]
    texts = pd.read_csv(io.StringIO(reply.text))["text"].tolist()
    assert len(texts) == 6
    assert all(t == "'" + FORMULA for t in texts)


# -- empty stores --------------------------------------------------------------------------------


def test_empty_and_unanalysed_workspaces_answer_200(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "empty")
    app, ops, keys = _app(ws, tmp_path)
    client = TestClient(app)
    for path in API:
        for role in ("admin", "manager"):
            reply = client.get(path, headers={"X-API-Key": keys[role]})
            assert reply.status_code == 200, (role, path, reply.text)
            rows = reply.json()["rows"]
            if path.endswith("/journey/map"):  # the map itself is configuration, with no events yet
                assert rows
                assert {r["events"] for r in rows} == {0}
            else:
                assert rows == [], (role, path)
    admin = login(app, "admin")
    for path in PAGES:
        assert admin.get(path).status_code == 200
    # feedback but no text analysis yet (no text tables), no orders, no events
    ws.ingest("stores", pd.DataFrame({"store_id": ["S001", "S002"], "name": ["One", "Two"]}))
    ws.ingest("feedback", _planted())
    assert not fx.text_ready(ws)
    assert client.get("/api/v1/voc/aspects", headers={"X-API-Key": keys["admin"]}).json()["rows"] == []
    found = client.get("/api/v1/voc/verbatims?q=zebra", headers={"X-API-Key": keys["admin"]}).json()
    assert found["total"] == 6
    assert {r["sentiment"] for r in found["rows"]} == {None}
    mine = client.get("/api/v1/voc/verbatims?per_page=100", headers={"X-API-Key": keys["manager"]}).json()
    assert {r["store_id"] for r in mine["rows"]} == {"S001"}
    for path in PAGES:
        html = admin.get(path).text
        assert "<script>window" not in html
    assert "cxlens text analyse" in admin.get("/app/voc").text
    ops.close()
    ws.close()


@pytest.mark.spark
@pytest.mark.usefixtures("spark_session")
def test_store_scoping_is_the_same_on_spark(env: dict[str, Any]) -> None:
    scope = fx.Scope(("S001",), None, "gold", datetime(2025, 3, 1), datetime(2025, 9, 1))
    for name, key in (("events", "event_id"), ("feedback", "feedback_id")):
        assert_engines_agree(
            env["ws"], lambda t, n=name, k=key: fx.scoped_tables(t, scope)(n).select(k), sort_by=[key]
        )
    web = fx.Scope(None, "web", None, None, datetime(2025, 4, 1))
    assert_engines_agree(env["ws"], lambda t: fx.scoped_tables(t, web)("events").select("event_id"))
    assert_engines_agree(env["ws"], lambda t: fx.store_customers(t, ("S001",)).distinct())
