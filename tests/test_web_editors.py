"""The web editors for alert rules, routing and action plans: admins and analysts only (store
managers 403), CSRF required, field errors answer 400 with the text kept and nothing stored, a save
on a stale version answers 409, saves are audited with the user's name and take effect (the case
form routes by the stored routing), plans are created and edited; on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cxlens.act import cases as cs
from cxlens.act import config as cf
from cxlens.act import plans as pl
from cxlens.ops import AuditEntry, OpsStore
from cxlens.ops.act_models import ActConfig, ActionPlan
from cxlens.storage.workspace import Workspace
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

PASSWORD = "correct horse battery"
USERS = {"admin": ("admin", []), "analyst": ("analyst", []), "manager": ("store_manager", ["S1"])}
RULES = "rules:\n  - {id: low-nps, kind: detractor, threshold: 3}\n"
ROUTING = "routes:\n  - {match: {store_id: S1}, owner: alice}\n"
EDITOR_PAGES = ["/app/rules", "/app/routing", "/app/plans/new", "/app/plans/{plan}/edit"]


@pytest.fixture
def env(ops: OpsStore, tmp_path: Path) -> Iterator[dict[str, Any]]:
    ws = Workspace(tmp_path / "ws")
    ws.ingest("stores", pd.DataFrame({"store_id": ["S1", "S2", "S3"], "name": ["A", "B", "C"]}))
    ws.ingest(
        "feedback",
        pd.DataFrame(
            {
                "feedback_id": ["f1", "f2"],
                "submitted_at": pd.to_datetime(["2026-11-19 10:00", "2026-11-19 11:00"]),
                "source": "survey",
                "store_id": ["S1", "S2"],
                "touchpoint": "store_visit",
                "nps": pd.array([1, 10], dtype="Int64"),
            }
        ),
    )
    keys = {}
    for name, (role, stores) in USERS.items():
        auth.create_user(ops, name, PASSWORD, role, stores)
        keys[name] = {"X-API-Key": auth.create_api_key(ops, name, "tests")}
    plan = pl.create_plan(ops, "Greeting training", stores=["S1"], start="2025-07-01")
    app = create_app(WebSettings(), ws, ops=ops, export=False)
    with TestClient(app):
        yield {"app": app, "ops": ops, "plan": plan.plan_id, "keys": keys}
    ws.close()


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


def form_of(client: TestClient, url: str) -> dict[str, str]:
    """The hidden fields (csrf, version, updated) of the page's form."""
    page = client.get(url)
    assert page.status_code == 200, page.text[:300]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))


def _audit(ops: OpsStore, object_type: str) -> list[AuditEntry]:
    with ops.sessions() as s:
        query = select(AuditEntry).where(AuditEntry.object_type == object_type).order_by(AuditEntry.id)
        return list(s.scalars(query))


def test_editors_are_for_admins_and_analysts(env: dict[str, Any]) -> None:
    pages = [p.format(plan=env["plan"]) for p in EDITOR_PAGES]
    for name in ("admin", "analyst"):
        client = login(env["app"], name)
        for url in pages:
            assert client.get(url).status_code == 200, (name, url)
        nav = client.get("/app/cases").text
        assert 'href="/app/rules"' in nav
        assert 'href="/app/routing"' in nav
        assert f'href="/app/plans/{env["plan"]}/edit"' in client.get("/app/plans").text
    manager = login(env["app"], "manager")
    token = form_of(manager, "/app/cases")["csrf"]
    for url in pages:
        reply = manager.get(url)
        assert reply.status_code == 403, url
        assert reply.headers["content-type"].startswith("text/html")
    for url, data in [
        ("/app/rules", {"body": RULES, "version": "0"}),
        ("/app/routing", {"body": ROUTING, "version": "0"}),
        ("/app/plans/new", {"name": "x", "stores": "S1", "start": "2025-08-01"}),
        (f"/app/plans/{env['plan']}/edit", {"name": "x", "stores": "S1", "start": "2025-08-01"}),
    ]:
        assert manager.post(url, data={**data, "csrf": token}, follow_redirects=False).status_code == 403
    nav = manager.get("/app/cases").text
    assert 'href="/app/rules"' not in nav
    assert "/edit" not in manager.get("/app/plans").text
    anonymous = TestClient(env["app"]).get("/app/rules", follow_redirects=False)
    assert anonymous.status_code == 303
    assert env["ops"].count(ActConfig) == 0
    assert env["ops"].count(ActionPlan) == 1


def test_saving_needs_the_csrf_token(env: dict[str, Any]) -> None:
    client = login(env["app"], "analyst")
    for csrf in (None, "forged"):
        data = {"body": RULES, "version": "0", **({"csrf": csrf} if csrf else {})}
        assert client.post("/app/rules", data=data, follow_redirects=False).status_code == 403
    data = {"name": "x", "stores": "S1", "start": "2025-08-01", "csrf": "forged"}
    assert client.post("/app/plans/new", data=data, follow_redirects=False).status_code == 403
    assert env["ops"].count(ActConfig) == 0


def test_field_errors_answer_400_and_store_nothing(env: dict[str, Any]) -> None:
    client = login(env["app"], "admin")
    hidden = form_of(client, "/app/rules")
    assert hidden["version"] == "0"
    body = (
        "rules:\n  - {id: a, kind: keyword}\n  - {id: b, kind: aspect}\n"
        "  - {id: c, kind: detractor, threshold: <b>lots</b>}\n"
    )
    reply = client.post("/app/rules", data={**hidden, "body": body}, follow_redirects=False)
    assert reply.status_code == 400
    assert "line 4: rules[2].threshold: must be a number" in reply.text
    aliased = client.post("/app/rules", data={**hidden, "body": "rules: &r []\nx: *r\n"})
    assert aliased.status_code == 400
    assert "line 1, column 8: anchors and aliases (&amp; and *) are not allowed" in aliased.text
    assert html.escape(body, quote=False) in reply.text  # the text is kept, escaped
    assert "<b>lots</b>" not in reply.text
    reply = client.post(
        "/app/routing",
        data={**form_of(client, "/app/routing"), "body": "routes:\n  - {match: {city: X}, owner: a}\n"},
    )
    assert reply.status_code == 400
    assert "routes[0].match: match on one or more of store_id" in reply.text
    assert env["ops"].count(ActConfig) == 0
    assert _audit(env["ops"], "act_config") == []


def test_save_versions_history_audit_and_effect(env: dict[str, Any]) -> None:
    client = login(env["app"], "admin")
    data = {**form_of(client, "/app/routing"), "body": ROUTING.replace("\n", "\r\n"), "comment": "S1"}
    reply = client.post("/app/routing", data=data, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/app/routing?saved=1"
    found = cf.resolve(env["ops"], "routing")
    assert (found.source, found.version, found.body) == ("stored", 1, ROUTING)
    page = client.get("/app/routing?saved=1").text
    assert "Saved version 1" in page
    assert "In force: stored version 1" in page
    assert '<input type="hidden" name="version" value="1">' in page
    entries = _audit(env["ops"], "act_config")
    assert [(e.actor, e.action, e.object_id, e.detail["after"]["version"]) for e in entries] == [
        ("admin", "update", "routing", 1)
    ]
    # the case form routes by the stored routing now
    token = form_of(client, "/app/cases")["csrf"]
    client.post("/app/cases", data={"title": "door", "store_id": "S1", "csrf": token})
    assert [c.assignee for c in cs.list_cases(env["ops"])] == ["alice"]
    # an old version opens in the editor to be saved again
    second = {**form_of(client, "/app/routing"), "body": "teams: []\n"}
    assert client.post("/app/routing", data=second, follow_redirects=False).status_code == 303
    old = client.get("/app/routing?version=1")
    assert "Showing stored version 1" in old.text
    assert "owner: alice" in old.text
    assert client.get("/app/routing?version=9").status_code == 404
    assert [h.version for h in cf.history(env["ops"], "routing")] == [2, 1]


def test_a_stale_save_answers_409_and_keeps_the_text(env: dict[str, Any]) -> None:
    ana, root = login(env["app"], "analyst"), login(env["app"], "admin")
    ana_form, root_form = form_of(ana, "/app/rules"), form_of(root, "/app/rules")
    assert ana_form["version"] == root_form["version"] == "0"
    first = ana.post("/app/rules", data={**ana_form, "body": RULES}, follow_redirects=False)
    assert first.status_code == 303
    mine = RULES.replace("threshold: 3", "threshold: 2")
    late = root.post("/app/rules", data={**root_form, "body": mine}, follow_redirects=False)
    assert late.status_code == 409
    assert "threshold: 2" in late.text
    assert "now version 1" in late.text
    assert '<input type="hidden" name="version" value="1">' in late.text  # save again on top of 1
    assert [(r.version, r.author) for r in cf.history(env["ops"], "rules")] == [(1, "analyst")]


@pytest.mark.parametrize("action", ["save", "preview"])
def test_an_error_or_a_preview_keeps_the_version_the_text_was_read_at(
    env: dict[str, Any], action: str
) -> None:
    ana, root = login(env["app"], "analyst"), login(env["app"], "admin")
    opened = form_of(ana, "/app/rules")
    assert opened["version"] == "0"
    theirs = RULES.replace("threshold: 3", "threshold: 1")
    assert root.post("/app/rules", data={**form_of(root, "/app/rules"), "body": theirs}).status_code == 200
    bad = "rules: [{id: a, kind: detractor, threshold: x}]\n"
    reply = ana.post(
        "/app/rules", data={**opened, "body": bad if action == "save" else RULES, "action": action}
    )
    assert reply.status_code == (400 if action == "save" else 200)
    kept = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', reply.text))
    assert kept["version"] == "0"  # still the version the text was read at, not the newer one
    late = ana.post("/app/rules", data={**kept, "body": RULES}, follow_redirects=False)
    assert late.status_code == 409
    assert [(r.version, r.author) for r in cf.history(env["ops"], "rules")] == [(1, "admin")]
    assert "Latest stored version 1, saved by admin" in late.text
    assert html.escape(theirs, quote=False) in late.text  # the latest stored text ...
    assert "threshold: 3" in late.text  # ... beside the submitted one


HOOKED = (
    "# chat: https://chat.example.com/hooks/T0/B1/comment-secret\n"
    "default: {owner: cx, webhook: 'https://bot:pw@chat.example.com:8443/hooks/T0/B1?token=s3cret'}\n"
    "routes:\n  - match: {store_id: S1}\n    owner: alice\n"
    "    webhook: https://chat.example.com/hooks/alice-secret?sig=a,b\n"
)
SECRETS = ("comment-secret", "s3cret", "bot:pw", "alice-secret", "sig=", "/hooks/")


def test_only_admins_save_the_routing_and_analysts_see_webhooks_masked(env: dict[str, Any]) -> None:
    keys, api = env["keys"], TestClient(env["app"])
    root, ana = login(env["app"], "admin"), login(env["app"], "analyst")
    opened = form_of(ana, "/app/routing")
    assert ana.post("/app/routing", data={**opened, "body": ROUTING}).status_code == 403
    put = {"body": ROUTING, "version": 0}
    assert api.put("/api/v1/config/routing", json=put, headers=keys["analyst"]).status_code == 403
    assert env["ops"].count(ActConfig) == 0
    assert (
        api.put("/api/v1/config/routing", json={**put, "body": HOOKED}, headers=keys["admin"]).status_code
        == 200
    )
    # admins read the text as saved; analysts with every URL down to its scheme and host
    assert api.get("/api/v1/config/routing", headers=keys["admin"]).json()["body"] == HOOKED
    shown = api.get("/api/v1/config/routing", headers=keys["analyst"]).json()["body"]
    assert "webhook: https://chat.example.com:8443/***}" in shown
    assert "webhook: https://chat.example.com/***\n" in shown
    assert "# chat: https://chat.example.com/***" in shown
    page, old = ana.get("/app/routing").text, ana.get("/app/routing?version=1").text
    assert "owner: alice" in page
    assert "owner: alice" in old
    for text in (shown, page, old):
        assert not [s for s in SECRETS if s in text], text
    assert "Validate and save" not in page  # read and preview only
    assert "Only admins save the routing" in page
    assert all(s in root.get("/app/routing").text for s in ("s3cret", "alice-secret", "Validate and save"))
    preview = ana.post(
        "/app/routing", data={**form_of(ana, "/app/routing"), "body": shown, "action": "preview"}
    )
    assert preview.status_code == 200
    assert "alice" in preview.text
    # analysts still save the rules
    assert (
        api.put(
            "/api/v1/config/rules", json={"body": RULES, "version": 0}, headers=keys["analyst"]
        ).status_code
        == 200
    )
    assert [(h.kind, h.version, h.author) for h in cf.history(env["ops"], "routing")] == [
        ("routing", 1, "admin")
    ]


def test_plans_are_created_and_edited_with_audit(env: dict[str, Any]) -> None:
    ops = env["ops"]
    client = login(env["app"], "analyst")
    token = form_of(client, "/app/plans/new")["csrf"]
    fields = {"name": "Queue busting", "stores": "S2, S3", "start": "2025-08-01", "metric": "nps"}
    bad = client.post("/app/plans/new", data={**fields, "stores": "", "csrf": token})
    assert bad.status_code == 400
    assert "a plan needs at least one store" in bad.text
    assert 'value="Queue busting"' in bad.text  # the form is kept
    unknown = client.post("/app/plans/new", data={**fields, "stores": "S2, S9", "csrf": token})
    assert unknown.status_code == 400
    assert "unknown store ids: S9" in unknown.text
    done = client.post("/app/plans/new", data={**fields, "csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    plan = next(p for p in pl.list_plans(ops) if p.name == "Queue busting")
    assert (plan.stores, plan.metric, plan.created_by) == (["S2", "S3"], "nps", "analyst")
    url = f"/app/plans/{plan.plan_id}/edit"
    hidden = form_of(client, url)
    assert hidden["updated"] == plan.updated_at.isoformat()
    change = {**hidden, **fields, "name": "Queue busting v2", "end": "2025-12-31", "status": "done"}
    late = {**change, "updated": "2020-01-01T00:00:00"}
    assert client.post(url, data=late).status_code == 409
    invalid = client.post(url, data={**change, "end": "2025-01-01"})
    assert invalid.status_code == 400
    assert "the end date must be after the start date" in invalid.text
    assert client.post(url, data=change, follow_redirects=False).status_code == 303
    edited = pl.get_plan(ops, plan.plan_id)
    assert (edited.name, edited.status, str(edited.end_date)) == ("Queue busting v2", "done", "2025-12-31")
    assert client.post(url, data=change).status_code == 409  # the stamp moved with the edit
    entries = [e for e in _audit(ops, "action_plan") if e.object_id == str(plan.plan_id)]
    assert [(e.action, e.actor) for e in entries] == [("create", "analyst"), ("update", "analyst")]
    assert entries[1].detail["before"] == {"name": "Queue busting", "end_date": None, "status": "active"}
    assert entries[1].detail["after"] == {
        "name": "Queue busting v2",
        "end_date": "2025-12-31",
        "status": "done",
    }
    assert client.get("/app/plans/999/edit").status_code == 404


def test_preview_shows_alerts_per_owner_and_stores_nothing(env: dict[str, Any]) -> None:
    client = login(env["app"], "analyst")
    hidden = form_of(client, "/app/rules")
    bad = client.post("/app/rules", data={**hidden, "body": "rules: [{id: a, kind: x}]", "action": "preview"})
    assert bad.status_code == 400
    reply = client.post("/app/rules", data={**hidden, "body": RULES, "action": "preview"})
    assert reply.status_code == 200
    assert "per owner and day" in reply.text
    assert "store:S1" in reply.text  # the feedback's detractor, routed to its store's team
    routing = client.post(
        "/app/routing", data={**form_of(client, "/app/routing"), "body": ROUTING, "action": "preview"}
    )
    assert routing.status_code == 200
    assert "alice" in routing.text
    assert env["ops"].count(ActConfig) == 0


def test_the_config_api_validates_and_refuses_stale_saves(env: dict[str, Any]) -> None:
    client, keys = TestClient(env["app"]), env["keys"]
    assert client.get("/api/v1/config/rules", headers=keys["manager"]).status_code == 403
    assert (
        client.put(
            "/api/v1/config/rules", json={"body": RULES, "version": 0}, headers=keys["manager"]
        ).status_code
        == 403
    )
    shown = client.get("/api/v1/config/routing", headers=keys["analyst"]).json()
    assert (shown["source"], shown["version"], shown["history"]) == ("default", 0, [])
    bad = client.put(
        "/api/v1/config/rules",
        json={"body": "rules: [{id: a, kind: detractor, threshold: x}]", "version": 0},
        headers=keys["analyst"],
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == ["rules[0].threshold: must be a number"]
    done = client.put("/api/v1/config/rules", json={"body": RULES, "version": 0}, headers=keys["analyst"])
    assert done.status_code == 200
    assert (done.json()["source"], done.json()["version"]) == ("stored", 1)
    stale = client.put("/api/v1/config/rules", json={"body": RULES, "version": 0}, headers=keys["admin"])
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1
    session = login(env["app"], "admin")
    assert session.put("/api/v1/config/rules", json={"body": RULES, "version": 1}).status_code == 403
    token = form_of(session, "/app/rules")["csrf"]
    with_token = session.put(
        "/api/v1/config/rules", json={"body": RULES, "version": 1}, headers={"X-CSRF-Token": token}
    )
    assert with_token.status_code == 200
    assert [(h["version"], h["author"]) for h in with_token.json()["history"]] == [
        (2, "admin"),
        (1, "analyst"),
    ]
    assert client.get("/api/v1/config/other", headers=keys["admin"]).status_code == 422


def test_editor_pages_are_translated(env: dict[str, Any]) -> None:
    client = login(env["app"], "admin")
    page = client.get("/app/rules?lang=zh").text
    assert "Validate and save" not in page
    assert "Alert rules" not in page
    plan_page = client.get("/app/plans/new?lang=ja").text
    assert "Save plan" not in plan_page
