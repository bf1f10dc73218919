"""The web app's users, sessions and API keys on every operational store: SQLite (the embedded
default) and PostgreSQL (production; marker ``postgres``, run by ``make test``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cxlens.ops import OpsStore
from cxlens.ops.auth_models import User
from cxlens.storage.workspace import Workspace
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

PASSWORD = "correct horse battery"


def _login(app: Any, username: str, password: str = PASSWORD) -> tuple[TestClient, int]:
    client = TestClient(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    reply = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": token.group(1), "next": "/app"},
        follow_redirects=False,
    )
    return client, reply.status_code


def test_users_sessions_and_keys(ops: OpsStore, tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as ws:
        app = create_app(WebSettings(warm_cache=False), ws, ops=ops, export=False)
        auth.create_user(ops, "admin", PASSWORD, "admin")
        auth.create_user(ops, "manager", PASSWORD, "store_manager", ["S2", "S1"])
        with pytest.raises(auth.AuthError, match="already exists"):  # the store's unique key, both stores
            auth.create_user(ops, "manager", PASSWORD, "analyst")
        users = {u.username: u for u in auth.list_users(ops)}
        assert set(users) == {"admin", "manager"}
        with ops.sessions() as s:
            stored = s.query(User).filter_by(username="manager").one().password_hash
        assert stored.startswith("$argon2id$")
        assert auth.authenticate(ops, "manager", PASSWORD) is not None
        assert auth.authenticate(ops, "manager", "wrong password") is None

        # API keys: stored hashed, the key names its user, role and stores; a wrong key is refused.
        key = auth.create_api_key(ops, "manager", "tests")
        who = auth.principal_for_key(ops, key)
        assert who is not None
        assert (who.username, who.role, sorted(who.stores or [])) == (
            "manager",
            "store_manager",
            ["S1", "S2"],
        )
        assert auth.principal_for_key(ops, key + "x") is None
        with TestClient(app) as client:
            me = client.get("/api/v1/me", headers={"X-API-Key": key})
            assert me.status_code == 200
            body = me.json()
            assert (body["username"], body["role"], sorted(body["stores"])) == (
                "manager",
                "store_manager",
                ["S1", "S2"],
            )
            assert client.get("/api/v1/me", headers={"X-API-Key": "cx_not-a-key"}).status_code == 401

            # Sessions: a login holds across requests until the user's sessions are ended.
            session, status = _login(app, "admin")
            assert status == 303
            assert session.get("/app", follow_redirects=False).status_code == 200
            assert _login(app, "admin", "wrong password")[1] == 401
            auth.end_sessions(ops, users["admin"].user_id)
            assert session.get("/app", follow_redirects=False).status_code == 303
            again, status = _login(app, "admin")
            assert status == 303
            assert again.get("/app", follow_redirects=False).status_code == 200
