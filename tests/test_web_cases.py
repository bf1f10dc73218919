"""Web pages and API for cases, alerts and action plans: store managers see and change only their
own stores' cases (pages, forms, API), forms need CSRF, changes are audited with the user's name,
customer text is escaped, CSV is formula-safe, empty stores answer 200, plan effects match pandas,
and every UI string has zh/ja/ko/ru translations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cxlens.act import cases as cs
from cxlens.act import plans as pl
from cxlens.ops import AuditEntry, OpsStore
from cxlens.ops.act_models import Alert
from cxlens.storage.workspace import Workspace
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

PASSWORD = "correct horse battery"
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="alert(1)">'
FORMULA = '=HYPERLINK("http://evil.example","x")'
USERS = {"admin": ("admin", []), "analyst": ("analyst", []), "manager": ("store_manager", ["S1"])}
TEMPLATES = Path(__file__).parents[1] / "src" / "cxlens" / "web" / "templates"
LOCALES = Path(__file__).parents[1] / "src" / "cxlens" / "web" / "locales"


def make_feedback() -> pd.DataFrame:
    """CSAT at store visits in three stores over four months; S1 improves from July."""
    rows = []
    for month in ("2025-05", "2025-06", "2025-07", "2025-08"):
        for store in ("S1", "S2", "S3"):
            for i in range(30):
                base = 1 + (i * 7 + len(store) + int(month[-1])) % 5
                lift = 1 if store == "S1" and month >= "2025-07" and base < 5 and i % 2 == 0 else 0
                rows.append(
                    {
                        "feedback_id": f"{month}-{store}-{i}",
                        "submitted_at": pd.Timestamp(f"{month}-{1 + i % 28:02d} 12:00"),
                        "source": "survey",
                        "store_id": store,
                        "touchpoint": "store_visit",
                        "csat": base + lift,
                    }
                )
    return pd.DataFrame(rows)


FEEDBACK = make_feedback()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("webcases")
    ws = Workspace(root / "ws")
    ws.ingest("stores", pd.DataFrame({"store_id": ["S1", "S2", "S3"], "name": ["A", "B", "C"]}))
    ws.ingest("feedback", FEEDBACK)
    ws.ingest("customers", pd.DataFrame({"customer_id": ["C1"], "name": ["Ana Lima"]}))
    the_complaint = {"feedback_id": "f1", "submitted_at": pd.Timestamp("2025-08-30"), "source": "survey"}
    ws.ingest("feedback", pd.DataFrame([{**the_complaint, "store_id": "S1", "customer_id": "C1", "nps": 2}]))
    ops = OpsStore(data_dir=root)
    app = create_app(WebSettings(), ws, ops=ops, export=False)
    keys = {}
    for name, (role, stores) in USERS.items():
        auth.create_user(ops, name, PASSWORD, role, stores)
        keys[name] = auth.create_api_key(ops, name, "tests")
    with ops.session() as s:
        alert = Alert(
            rule_id="refund",
            kind="keyword",
            subject="feedback_id=f1",
            feedback_id="f1",
            store_id="S1",
            owner="manager",
            title="Keyword: refund",
            detail={"excerpt": HOSTILE, "customer_id": "C1"},
            dedup_key="refund|f1|0",
        )
        s.add(alert)
        s.flush()
        alert_id = alert.alert_id
    mine = cs.open_from_alert(ops, alert_id)
    cs.open_case(ops, FORMULA, store_id="S2")
    pl.create_plan(ops, "Greeting training", stores=["S1"], start="2025-07-01", touchpoint="store_visit")
    pl.create_plan(ops, "Other stores", stores=["S2"], start="2025-07-01", touchpoint="store_visit")
    with TestClient(app) as client:
        yield {"app": app, "ops": ops, "ws": ws, "keys": keys, "client": client, "mine": mine.case_id}
    ops.close()
    ws.close()


@pytest.fixture
def ids(env: dict[str, Any]) -> dict[str, int]:
    cases = {c.title: c.case_id for c in cs.list_cases(env["ops"])}
    plans = {p.name: p.plan_id for p in pl.list_plans(env["ops"])}
    return {"mine": env["mine"], "theirs": cases[FORMULA], "plan": plans["Greeting training"]}


def login(app: Any, username: str) -> TestClient:
    client = TestClient(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    reply = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf": token.group(1), "next": "/app/cases"},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    return client


def csrf_of(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/app/cases").text)
    assert found is not None
    return found.group(1)


def _audit(ops: OpsStore, case_id: int) -> list[AuditEntry]:
    with ops.sessions() as s:
        query = select(AuditEntry).where(
            AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id)
        )
        return list(s.scalars(query.order_by(AuditEntry.id)))


def test_store_manager_sees_and_changes_only_their_stores(env: dict[str, Any], ids: dict[str, int]) -> None:
    manager = login(env["app"], "manager")
    page = manager.get("/app/cases")
    assert page.status_code == 200
    assert f'href="/app/cases/{ids["mine"]}"' in page.text
    assert f'href="/app/cases/{ids["theirs"]}"' not in page.text
    assert "HYPERLINK" not in page.text
    assert manager.get(f"/app/cases/{ids['theirs']}").status_code == 403
    assert manager.get("/app/cases?store_id=S2").status_code == 403
    token = csrf_of(manager)
    before = cs.get_case(env["ops"], ids["theirs"])
    for path, data in [
        ("status", {"status": "in_progress"}),
        ("assign", {"assignee": "manager"}),
        ("note", {"text": "mine now"}),
        ("resolve", {"resolution": "done"}),
        ("follow-up", {"notes": "called"}),
    ]:
        reply = manager.post(
            f"/app/cases/{ids['theirs']}/{path}", data={**data, "csrf": token}, follow_redirects=False
        )
        assert reply.status_code == 403, path
    opened = manager.post(
        "/app/cases", data={"title": "x", "store_id": "S2", "csrf": token}, follow_redirects=False
    )
    assert opened.status_code == 403
    after = cs.get_case(env["ops"], ids["theirs"])
    assert cs.case_dict(after) == cs.case_dict(before)
    assert cs.case_notes(env["ops"], ids["theirs"]) == []
    key = {"X-API-Key": env["keys"]["manager"]}
    client = env["client"]
    rows = client.get("/api/v1/cases", headers=key).json()["rows"]
    assert {r["store_id"] for r in rows} == {"S1"}
    assert client.get(f"/api/v1/cases/{ids['theirs']}", headers=key).status_code == 403
    assert client.get("/api/v1/cases?store_id=S2", headers=key).status_code == 403
    assert client.get("/api/v1/alerts?store_id=S2", headers=key).status_code == 403
    patch = client.patch(f"/api/v1/cases/{ids['theirs']}", json={"assignee": "manager"}, headers=key)
    assert patch.status_code == 403
    assert cs.get_case(env["ops"], ids["theirs"]).assignee == before.assignee
    assert [p["name"] for p in client.get("/api/v1/plans", headers=key).json()["rows"]] == [
        "Greeting training"
    ]
    plans = {p.name: p.plan_id for p in pl.list_plans(env["ops"])}
    assert client.get(f"/api/v1/plans/{plans['Other stores']}/effect", headers=key).status_code == 403


def test_analysts_and_admins_see_every_case(env: dict[str, Any], ids: dict[str, int]) -> None:
    for name in ("analyst", "admin"):
        key = {"X-API-Key": env["keys"][name]}
        rows = env["client"].get("/api/v1/cases", headers=key).json()["rows"]
        assert {r["store_id"] for r in rows} >= {"S1", "S2"}
        assert login(env["app"], name).get(f"/app/cases/{ids['theirs']}").status_code == 200


def test_manager_works_own_case_through_forms_with_csrf_and_audit(
    env: dict[str, Any], ids: dict[str, int]
) -> None:
    manager = login(env["app"], "manager")
    case_id = cs.open_case(env["ops"], "Slow till", store_id="S1", actor="analyst").case_id
    url = f"/app/cases/{case_id}"
    assert manager.post(f"{url}/status", data={"status": "in_progress", "csrf": "forged"}).status_code == 403
    token = csrf_of(manager)
    ok = manager.post(f"{url}/status", data={"status": "in_progress", "csrf": token}, follow_redirects=False)
    assert ok.status_code == 303
    assert ok.headers["location"] == url
    bad = manager.post(f"{url}/status", data={"status": "resolved", "csrf": token})
    assert bad.status_code == 400
    assert "needs a resolution" in bad.text
    manager.post(f"{url}/note", data={"text": HOSTILE, "csrf": token})
    manager.post(f"{url}/follow-up", data={"notes": "Apologised by phone", "csrf": token})
    manager.post(
        f"{url}/resolve",
        data={"resolution": "Extra till opened", "root_causes": "staffing, queue", "csrf": token},
    )
    case = cs.get_case(env["ops"], case_id)
    assert (case.status, case.root_causes, case.follow_up_notes) == (
        "resolved",
        ["queue", "staffing"],
        "Apologised by phone",
    )
    entries = _audit(env["ops"], case_id)
    assert [(e.actor, e.action) for e in entries] == [
        ("analyst", "open"),
        ("manager", "status"),
        ("manager", "note"),
        ("manager", "follow_up"),
        ("manager", "resolve"),
    ]
    assert entries[1].detail == {"before": {"status": "open"}, "after": {"status": "in_progress"}}
    page = manager.get(url)
    assert "<script>window.__pwned" not in page.text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page.text
    assert "Extra till opened" in page.text


def test_case_from_alert_page_escapes_customer_text(env: dict[str, Any], ids: dict[str, int]) -> None:
    manager = login(env["app"], "manager")
    for url in ("/app/cases", f"/app/cases/{ids['mine']}"):
        text = manager.get(url).text
        assert "<script>window.__pwned" not in text
        assert 'onerror="alert(1)"' not in text
        assert "&lt;img src=x" in text


def test_api_patch_needs_csrf_for_sessions_and_reports_errors(env: dict[str, Any]) -> None:
    case_id = cs.open_case(env["ops"], "API case", store_id="S1").case_id
    key = {"X-API-Key": env["keys"]["manager"]}
    client = env["client"]
    body = client.patch(
        f"/api/v1/cases/{case_id}", json={"assignee": "amy", "note": "via API"}, headers=key
    ).json()
    assert body["assignee"] == "amy"
    assert body["notes"][0]["text"] == "via API"
    bad = client.patch(f"/api/v1/cases/{case_id}", json={"status": "paused"}, headers=key)
    assert bad.status_code == 400
    assert "unknown status" in bad.json()["detail"]
    # a change that would fail half-way is refused before any step is applied
    half = client.patch(
        f"/api/v1/cases/{case_id}",
        json={"assignee": "zoe", "status": "closed", "resolution": "done"},
        headers=key,
    )
    assert half.status_code == 400
    assert client.get(f"/api/v1/cases/{case_id}", headers=key).json()["assignee"] == "amy"
    assert client.patch("/api/v1/cases/99999", json={"note": "x"}, headers=key).status_code == 404
    session = login(env["app"], "manager")
    assert session.patch(f"/api/v1/cases/{case_id}", json={"note": "x"}).status_code == 403
    token = csrf_of(session)
    done = session.patch(
        f"/api/v1/cases/{case_id}",
        json={"resolution": "Fixed", "root_causes": ["Till"]},
        headers={"X-CSRF-Token": token},
    )
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["root_causes"]) == ("resolved", ["till"])


def test_csv_export_is_formula_safe(env: dict[str, Any]) -> None:
    key = {"X-API-Key": env["keys"]["admin"]}
    reply = env["client"].get("/api/v1/cases?format=csv", headers=key)
    assert reply.headers["content-type"].startswith("text/csv")
    assert "'=HYPERLINK" in reply.text
    assert "\n=HYPERLINK" not in reply.text
    alerts = env["client"].get("/api/v1/alerts?format=csv", headers=key)
    assert alerts.status_code == 200
    assert "Keyword: refund" in alerts.text


def _pandas_did(store: str, start: str) -> float:
    fb = FEEDBACK.assign(treated=FEEDBACK["store_id"] == store, after=FEEDBACK["submitted_at"] >= start)
    m = fb.assign(satisfied=100.0 * (fb["csat"] >= 4)).groupby(["treated", "after"])["satisfied"].mean()
    return float((m[True, True] - m[True, False]) - (m[False, True] - m[False, False]))


def test_plans_page_and_effect_api_match_pandas(env: dict[str, Any], ids: dict[str, int]) -> None:
    key = {"X-API-Key": env["keys"]["analyst"]}
    body = env["client"].get(f"/api/v1/plans/{ids['plan']}/effect", headers=key).json()
    effect = body["effect"]
    assert effect["estimate"] == pytest.approx(_pandas_did("S1", "2025-07-01"), rel=1e-9)
    assert effect["ci_low"] < effect["estimate"] < effect["ci_high"]
    assert {r["group"] for r in body["series"]} == {"treated", "control"}
    page = login(env["app"], "analyst").get("/app/plans")
    assert page.status_code == 200
    assert "Greeting training" in page.text
    assert f"{effect['estimate']:,.2f}" in page.text
    assert f'id="plan-{ids["plan"]}"' in page.text  # the anchor the editors redirect to
    assert f'id="plan-chart-{ids["plan"]}"' in page.text
    anchors = re.findall(r'\sid="([^"]+)"', page.text)
    assert len(anchors) == len(set(anchors))  # a repeated id draws the chart into the table cell


def test_cases_show_names_not_ids(env: dict[str, Any]) -> None:
    """A case names the customer behind its feedback and its store and touchpoint; the ids stay
    beside them and in the links and forms."""
    admin = login(env["app"], "admin")
    page = admin.get(f"/app/cases/{env['mine']}").text
    assert "Ana Lima <small>C1</small>" in page
    assert "A <small>S1</small>" in page
    listing = admin.get("/app/cases").text
    assert "<td>A</td>" in listing
    assert "<td>S1</td>" not in listing
    plans = admin.get("/app/plans").text
    assert "<td>Store visit</td>" in plans
    assert "<td>A</td>" in plans  # the plan's store by name


def test_empty_stores_answer_200(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ops = OpsStore(data_dir=tmp_path)
    auth.create_user(ops, "analyst", PASSWORD, "analyst")
    key = {"X-API-Key": auth.create_api_key(ops, "analyst")}
    app = create_app(WebSettings(), ws, ops=ops, export=False)
    with TestClient(app) as client:
        for url in ("/api/v1/cases", "/api/v1/alerts", "/api/v1/plans", "/api/v1/cases?format=csv"):
            reply = client.get(url, headers=key)
            assert reply.status_code == 200, url
        assert client.get("/api/v1/cases", headers=key).json() == {"rows": []}
        session = login(app, "analyst")
        for url in ("/app/cases", "/app/plans"):
            assert session.get(url).status_code == 200, url
        plan = pl.create_plan(ops, "Nothing to measure", stores=["S9"], start="2025-07-01")
        reply = client.get(f"/api/v1/plans/{plan.plan_id}/effect", headers=key)
        assert reply.status_code == 200
        assert reply.json()["effect"] is None
        assert reply.json()["problem"]
        assert "Not measurable yet" in session.get("/app/plans").text
    ops.close()
    ws.close()


def test_every_ui_string_is_translated() -> None:
    strings: set[str] = set()
    for name in ("app_cases.html.j2", "app_case.html.j2", "app_plans.html.j2"):
        text = (TEMPLATES / name).read_text(encoding="utf-8")
        strings |= set(re.findall(r'_\("([^"]+)"\)', text))
    assert len(strings) > 40
    for locale in ("zh", "ja", "ko", "ru"):
        catalogue = {  # the plans page links to the plan editor, whose strings are in editors.json
            **json.loads((LOCALES / locale / "editors.json").read_text(encoding="utf-8")),
            **json.loads((LOCALES / locale / "cases.json").read_text(encoding="utf-8")),
        }
        missing = sorted(strings - set(catalogue))
        assert not missing, (locale, missing)
        assert all(catalogue[s] and catalogue[s] != s for s in strings if s not in ("CSAT", "NPS")), locale
    assert json.loads((LOCALES / "en" / "cases.json").read_text(encoding="utf-8")) == {}


def test_pages_follow_the_language(env: dict[str, Any]) -> None:
    page = login(env["app"], "analyst").get("/app/cases?lang=ja")
    catalogue = json.loads((LOCALES / "ja" / "cases.json").read_text(encoding="utf-8"))
    assert catalogue["Recent alerts"] in page.text


def test_store_managers_see_no_other_stores_figures_through_plans(env: dict[str, Any]) -> None:
    """A plan's control group and a shared plan's combined mean are other stores' figures: the
    manager of S1 gets S1's own series only, never an effect, control means or counts."""
    ops, client = env["ops"], env["client"]
    shared = pl.create_plan(
        ops, "Shared plan", stores=["S1", "S2"], start="2025-07-01", touchpoint="store_visit"
    )
    key = {"X-API-Key": env["keys"]["manager"]}
    s1 = FEEDBACK[FEEDBACK["store_id"] == "S1"]
    for plan_id in (
        shared.plan_id,
        *(p.plan_id for p in pl.list_plans(ops) if p.name == "Greeting training"),
    ):
        body = client.get(f"/api/v1/plans/{plan_id}/effect", headers=key).json()
        assert body["effect"] is None
        assert "outside your access" in body["problem"]
        assert {r["group"] for r in body["series"]} == {"treated"}
        assert sum(r["n"] for r in body["series"]) == len(s1)
        means = [r["mean"] for r in sorted(body["series"], key=lambda r: r["period"])]
        # CSAT in its own units: % of 4-5 answers per month
        satisfied = 100.0 * (s1["csat"] >= 4)
        by_month = satisfied.groupby(s1["submitted_at"].dt.to_period("M")).mean().tolist()
        assert means == pytest.approx(by_month)
    page = login(env["app"], "manager").get("/app/plans").text
    charts = [
        json.loads(m) for m in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    ]
    assert charts
    assert all(trace.get("name") != "control" for chart in charts for trace in chart["data"])
    assert "outside your access" in page
    analyst = client.get(
        f"/api/v1/plans/{shared.plan_id}/effect", headers={"X-API-Key": env["keys"]["analyst"]}
    )
    assert analyst.json()["effect"] is not None  # analysts still see the whole measurement
