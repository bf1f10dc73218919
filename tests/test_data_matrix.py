"""Every view works on whatever data there is: the report, every staff page and every API figure
on a matrix of small workspaces (only ratings, only texts, only NPS, no orders, no events, no
stores, no competitors, nothing), each section or page without its data saying what is missing
and what adds it. Workspaces are built from small in-memory frames through ``ws.ingest``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cxlens.analyse import metrics as m
from cxlens.ops import OpsStore
from cxlens.report.builder import build_report
from cxlens.storage.workspace import Workspace
from cxlens.testing.parity import assert_engines_agree
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings
from test_web_app import all_routes

pytestmark = pytest.mark.slow  # nine workspaces, each with a report and ~40 requests
PASSWORD = "correct horse battery"
MONTHS = ("2025-03", "2025-04", "2025-05", "2025-06")
OPENINGS = (
    "delivery was late and the parcel was damaged",
    "friendly staff and quick checkout",
    "the price is too high for this quality",
    "great fit, soft fabric, will buy again",
    "long queue at the till, nobody helped",
    "app crashed at payment, very annoying",
    "fresh bread and good coffee",
    "the courier left it in the rain",
)
ENDINGS = ("overall fine", "never again", "thanks team", "would recommend", "so so", "okay I guess", "")
TEXTS = tuple(f"{a}. {b}".strip(". ") for a in OPENINGS for b in ENDINGS)


def full_tables(seed: int = 5) -> dict[str, pd.DataFrame]:
    """A small retailer with every table: 3 stores, 60 customers, orders, events, feedback (NPS,
    CSAT, CES, stars, text) and a competitor's reviews, over four months."""
    rng = np.random.default_rng(seed)
    stores = pd.DataFrame(
        {"store_id": ["S1", "S2", "S3"], "name": ["North", "Centre", "South"], "region": ["n", "c", "s"]}
    )
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(60)],
            "loyalty_tier": rng.choice(["none", "silver", "gold"], 60),
        }
    )
    products = pd.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(8)],
            "name": [f"Product {i}" for i in range(8)],
            "category": ["food", "food", "home", "home", "toys", "toys", "food", "home"],
        }
    )
    orders, items, events, feedback = [], [], [], []
    for k in range(320):
        cust = f"C{rng.integers(60)}"
        when = pd.Timestamp(f"{MONTHS[k % 4]}-{1 + k % 27:02d} 10:00") + pd.Timedelta(minutes=int(k))
        store = ["S1", "S2", "S3"][k % 3]
        oid = f"O{k}"
        channel = "store" if k % 2 else "web"
        orders.append(
            {
                "order_id": oid,
                "customer_id": cust,
                "ordered_at": when,
                "channel": channel,
                "store_id": store,
                "total_amount": float(10 + rng.integers(90)),
                "promised_delivery_at": when + pd.Timedelta(days=2),
                "delivered_at": when + pd.Timedelta(days=int(rng.integers(1, 5))),
            }
        )
        for line in range(1, 1 + int(rng.integers(1, 4))):
            items.append(
                {
                    "order_id": oid,
                    "line_no": line,
                    "product_id": f"P{rng.integers(8)}",
                    "quantity": 1,
                    "unit_price": 9.5,
                }
            )
        for step, tp in enumerate(("product_page", "add_to_cart", "checkout")[: 1 + k % 3]):
            events.append(
                {
                    "event_id": f"E{k}-{step}",
                    "occurred_at": when - pd.Timedelta(minutes=10 - step),
                    "customer_id": cust,
                    "channel": "web",
                    "touchpoint": tp,
                    "event_type": tp,
                }
            )
        feedback.append(
            {
                "feedback_id": f"F{k}",
                "submitted_at": when + pd.Timedelta(days=3),
                "source": "survey",
                "customer_id": cust,
                "order_id": oid,
                "store_id": store,
                "channel": channel,
                "touchpoint": "checkout",
                "nps": int(rng.integers(0, 11)),
                "csat": int(rng.integers(1, 6)),
                "ces": int(rng.integers(1, 8)),
                "rating": int(rng.integers(1, 6)),
                "text": TEXTS[k % len(TEXTS)],
            }
        )
    for k in range(80):
        feedback.append(
            {
                "feedback_id": f"R{k}",
                "submitted_at": pd.Timestamp(f"{MONTHS[k % 4]}-15 12:00"),
                "source": "review",
                "brand": "Rival",
                "rating": int(rng.integers(1, 6)),
                "text": TEXTS[(k + 2) % len(TEXTS)],
            }
        )
    return {
        "stores": stores,
        "products": products,
        "customers": customers,
        "orders": pd.DataFrame(orders),
        "order_items": pd.DataFrame(items),
        "events": pd.DataFrame(events),
        "feedback": pd.DataFrame(feedback),
    }


def _own(fb: pd.DataFrame) -> pd.DataFrame:
    return fb[fb["brand"].isna()].drop(columns=["brand"])


def _only(*columns: str) -> Callable[[dict[str, pd.DataFrame]], dict[str, pd.DataFrame]]:
    def pick(t: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        fb = _own(t["feedback"])
        keep = ["feedback_id", "submitted_at", "source", *columns]
        return {"feedback": fb[keep].assign(source="review")}

    return pick


def _without(*names: str) -> Callable[[dict[str, pd.DataFrame]], dict[str, pd.DataFrame]]:
    def drop(t: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        return {k: v for k, v in t.items() if k not in names}

    return drop


def _no_stores(t: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {k: v for k, v in t.items() if k != "stores"}
    out["orders"] = out["orders"].drop(columns="store_id")
    out["feedback"] = out["feedback"].drop(columns="store_id")
    return out


def _no_competitors(t: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {**t, "feedback": _own(t["feedback"])}


#: Workspace name -> what it holds (a function of the full tables).
VARIANTS: dict[str, Callable[[dict[str, pd.DataFrame]], dict[str, pd.DataFrame]]] = {
    "full": lambda t: t,
    "only_ratings": _only("rating"),
    "only_texts": _only("text"),
    "only_nps": _only("nps"),
    "no_orders": _without("orders", "order_items"),
    "no_events": _without("events"),
    "no_stores": _no_stores,
    "no_competitors": _no_competitors,
    "empty": lambda t: {},
}
ORDER = ("stores", "products", "customers", "orders", "order_items", "events", "feedback")


def build(root: Path, name: str) -> Workspace:
    """The workspace ``name`` of :data:`VARIANTS`, loaded through the validated ingest."""
    ws = Workspace(root / name)
    tables = VARIANTS[name](full_tables())
    for table in ORDER:
        if table in tables:
            ws.ingest(table, tables[table])
    return ws


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Workspace]]:
    root = tmp_path_factory.mktemp("matrix")
    built = {name: build(root, name) for name in VARIANTS}
    from cxlens.text.store import enrich_feedback

    enrich_feedback(built["only_texts"])
    enrich_feedback(built["full"])
    yield built
    for ws in built.values():
        ws.close()


def _sections(html: str) -> dict[str, str]:
    parts = re.split(r'<section[^>]*id="([a-z-]+)"', html)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_report_renders_and_says_what_is_missing(
    workspaces: dict[str, Workspace], name: str, tmp_path: Path
) -> None:
    ws = workspaces[name]
    html = build_report(ws, tmp_path / "report.html").read_text(encoding="utf-8")
    sections = _sections(html)
    assert {"summary", "trends", "stores", "journeys", "text", "customers", "drivers"} <= set(sections)
    for sid, body in sections.items():
        has_content = 'class="kpi' in body or "-chart-" in body or "<table" in body or "<li" in body
        assert has_content or "note" in body, f"{name}: section {sid} is empty and says nothing"
    shown = m.available_metrics(ws.table)
    summary = sections["summary"]
    for metric in shown:
        label = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "rating": "Star rating"}[metric]
        assert label in summary, f"{name}: {metric} is in the data but not in the summary"
    if not shown:
        assert "cxlens ingest feedback" in summary
    if name in ("only_ratings", "only_texts", "only_nps", "empty", "no_stores"):
        assert "cxlens ingest stores" in sections["stores"] or not shown
    if name in ("only_ratings", "only_texts", "only_nps", "empty", "no_events"):
        assert "cxlens ingest events" in sections["journeys"]
    if name in ("only_ratings", "only_texts", "only_nps", "empty", "no_orders"):
        assert "cxlens ingest orders" in sections["customers"]
    if name in ("only_ratings", "only_nps", "empty"):
        assert "text" in sections["text"]


# -- the web app ------------------------------------------------------------------------------


def _app(ws: Workspace, root: Path) -> tuple[Any, OpsStore]:
    ops = OpsStore(data_dir=root)
    auth.create_user(ops, "admin", PASSWORD, "admin", [])
    # no background page warming: its thread and FastAPI's lazy route building both toggle the
    # process-wide warning filters (warnings.catch_warnings is not thread-safe), which under
    # pytest's "warnings are errors" turns a suppressed pydantic warning into a random failure
    return create_app(WebSettings(warm_pages=False), ws, ops=ops, export=False), ops


def _login(client: TestClient) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    data = {"username": "admin", "password": PASSWORD, "csrf": token.group(1), "next": "/app"}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303


def _get_routes(app: Any) -> list[str]:
    """Every GET page and API figure of the staff side without path parameters."""
    out = []
    for route in all_routes(app.routes):
        wanted = route.path.startswith(("/app", "/api/v1")) and route.path != "/app/lang"
        if wanted and "GET" in route.methods and "{" not in route.path:
            out.append(route.path)
    return sorted(set(out))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_page_and_figure_answers(workspaces: dict[str, Workspace], name: str, tmp_path: Path) -> None:
    app, ops = _app(workspaces[name], tmp_path)
    routes = _get_routes(app)
    assert {"/app", "/app/stores", "/app/voc", "/api/v1/headline", "/api/v1/voc/aspects"} <= set(routes)
    try:
        with TestClient(app) as client:
            _login(client)
            for path in routes:
                reply = client.get(path)
                assert reply.status_code == 200, (
                    f"{name}: GET {path} -> {reply.status_code}: {reply.text[:300]}"
                )
                if path.startswith("/api/v1/") and path not in ("/api/v1/me", "/api/v1/filters"):
                    csv = client.get(path, params={"format": "csv"})
                    assert csv.status_code in (200, 422), f"{name}: {path}?format=csv -> {csv.status_code}"
            overview = client.get("/app").text
            shown = m.available_metrics(workspaces[name].table)
            if not shown:
                assert "cxlens ingest feedback" in overview
            if "rating" in shown:
                assert "Rating" in overview
                stores = client.get("/app/stores", params={"metric": "rating"})
                assert stores.status_code == 200
    finally:
        ops.close()


@pytest.mark.spark
@pytest.mark.parametrize("name", ["full", "only_ratings", "only_nps"])
def test_available_metrics_engines_agree(
    workspaces: dict[str, Workspace], name: str, spark_session: Any
) -> None:
    got = assert_engines_agree(
        workspaces[name], lambda t: pd.DataFrame({"metric": m.available_metrics(t)}), sort_by=["metric"]
    )
    fb = workspaces[name].con.execute(
        "SELECT count(nps), count(csat), count(ces), count(rating) FROM feedback"
    )
    counts = dict(zip(("nps", "csat", "ces", "rating"), fb.fetchall()[0], strict=True))
    assert set(got["metric"]) == {k for k, v in counts.items() if v}
