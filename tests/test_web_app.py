"""The staff web app: login with CSRF, API keys, roles and store scoping on every route, the
dashboard figures against plain pandas, formula-safe CSV and escaping of hostile data."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cxlens.ops import OpsStore
from cxlens.ops.auth_models import User
from cxlens.storage.workspace import Workspace
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

PASSWORD = "correct horse battery"
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
FORMULA = '=HYPERLINK("http://evil.example","x")'
STORES = pd.DataFrame(
    {
        "store_id": ["S1", "S2", "S3"],
        "name": ["North One", FORMULA, HOSTILE],
        "region": ["north", "north", "<b>south</b>"],
    }
)
CUSTOMERS = pd.DataFrame({"customer_id": ["C1", "C2"], "loyalty_tier": ["gold", "none"]})
USERS = {
    "admin": ("admin", []),
    "analyst": ("analyst", []),
    "manager": ("store_manager", ["S1"]),
}


def make_feedback() -> pd.DataFrame:
    """Two months of answers: S1 all promoters (clearly best), S2 and S3 mixed."""
    rng = np.random.default_rng(3)
    rows = []
    for month in ("2025-05", "2025-06"):
        for store, n in (("S1", 40), ("S2", 40), ("S3", 40)):
            nps = np.full(n, 10) if store == "S1" else rng.integers(0, 11, n)
            for i in range(n):
                rows.append(
                    {
                        "feedback_id": f"{month}-{store}-{i}",
                        "submitted_at": pd.Timestamp(f"{month}-{1 + i % 28:02d} 12:00"),
                        "source": "survey",
                        "customer_id": ["C1", "C2"][i % 2],
                        "store_id": store,
                        "channel": ["store", "web"][i % 2],
                        "nps": int(nps[i]),
                        "csat": int(1 + i % 5),
                        "ces": int(1 + i % 7),
                        "text": HOSTILE,
                    }
                )
    return pd.DataFrame(rows)


FEEDBACK = make_feedback()


def nps(frame: pd.DataFrame) -> float:
    """NPS computed independently of cxlens."""
    return float(100 * ((frame["nps"] >= 9).mean() - (frame["nps"] <= 6).mean()))


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("webapp")
    ws = Workspace(root / "ws")
    ws.ingest("stores", STORES)
    ws.ingest("customers", CUSTOMERS)
    ws.ingest("feedback", FEEDBACK)
    ops = OpsStore(data_dir=root)
    app = create_app(WebSettings(), ws, ops=ops, export=False)
    keys = {}
    for name, (role, stores) in USERS.items():
        auth.create_user(ops, name, PASSWORD, role, stores)
        keys[name] = auth.create_api_key(ops, name, "tests")
    with TestClient(app) as client:
        yield {"app": app, "ops": ops, "ws": ws, "keys": keys, "client": client}
    ops.close()
    ws.close()


def login(app: Any, username: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    reply = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": token.group(1), "next": "/app"},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    return client


def csrf_of(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/app").text)
    assert found is not None
    return found.group(1)


# -- auth -------------------------------------------------------------------------------------


def test_passwords_are_argon2_hashed_and_checked(app_env: dict[str, Any]) -> None:
    ops = app_env["ops"]
    with ops.sessions() as s:
        stored = s.query(User).filter_by(username="admin").one().password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert auth.authenticate(ops, "admin", PASSWORD) is not None
    assert auth.authenticate(ops, "admin", PASSWORD + "x") is None
    assert auth.authenticate(ops, "nobody", PASSWORD) is None
    with pytest.raises(auth.AuthError, match="at least one store"):
        auth.create_user(ops, "m2", PASSWORD, "store_manager", [])
    with pytest.raises(auth.AuthError, match="already exists"):
        auth.create_user(ops, "admin", PASSWORD, "admin")


def test_login_needs_the_csrf_token_and_the_right_password(app_env: dict[str, Any]) -> None:
    client = TestClient(app_env["app"])
    first = client.get("/app", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2Fapp"
    client.get("/login")
    no_token = client.post("/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False)
    assert no_token.status_code == 403
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    wrong = client.post("/login", data={"username": "admin", "password": "nope-nope", "csrf": token.group(1)})
    assert wrong.status_code == 401
    assert "Wrong username or password" in wrong.text
    # an attacker-chosen "next" never leaves the site
    ok = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf": token.group(1), "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/app"
    cookie = ok.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert client.get("/app").status_code == 200


def test_logout_needs_csrf_and_tampered_sessions_are_refused(app_env: dict[str, Any]) -> None:
    client = login(app_env["app"], "analyst")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    session = client.cookies.get(auth.SESSION_COOKIE)
    assert session is not None
    body, _, mac = session.rpartition(".")
    tampered = TestClient(app_env["app"], cookies={auth.SESSION_COOKIE: body[:-2] + "AA." + mac})
    assert tampered.get("/app", follow_redirects=False).status_code == 303
    copied = TestClient(app_env["app"], cookies={auth.SESSION_COOKIE: session})
    assert copied.get("/app", follow_redirects=False).status_code == 200
    out = client.post("/logout", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/app", follow_redirects=False).status_code == 303
    # a copy of the cookie taken before logout no longer works either
    assert copied.get("/app", follow_redirects=False).status_code == 303


# -- figures against pandas ------------------------------------------------------------------------


def test_headline_and_trend_match_pandas(app_env: dict[str, Any]) -> None:
    client = app_env["client"]
    key = {"X-API-Key": app_env["keys"]["analyst"]}
    june = FEEDBACK[FEEDBACK["submitted_at"] >= "2025-06-01"]
    may = FEEDBACK[FEEDBACK["submitted_at"] < "2025-06-01"]
    rows = {r["metric"]: r for r in client.get("/api/v1/headline", headers=key).json()["rows"]}
    assert rows["nps"]["period"] == "2025-06-01"
    assert rows["nps"]["n"] == len(june)
    assert rows["nps"]["value"] == pytest.approx(nps(june))
    assert rows["nps"]["previous_value"] == pytest.approx(nps(may))
    assert rows["nps"]["ci_low"] < rows["nps"]["value"] < rows["nps"]["ci_high"]
    web = june[june["channel"] == "web"]
    filtered = client.get("/api/v1/headline", params={"channel": "web"}, headers=key).json()["rows"]
    assert filtered[0]["value"] == pytest.approx(nps(web))
    trend = client.get("/api/v1/trend", params={"start": "2025-06-01", "end": "2025-06-30"}, headers=key)
    nps_rows = [r for r in trend.json()["rows"] if r["metric"] == "nps"]
    assert [r["period"] for r in nps_rows] == ["2025-06-01"]
    assert nps_rows[0]["value"] == pytest.approx(nps(june))


def test_store_league_ranks_and_marks_the_significantly_best_store(app_env: dict[str, Any]) -> None:
    key = {"X-API-Key": app_env["keys"]["admin"]}
    rows = app_env["client"].get("/api/v1/stores", headers=key).json()["rows"]
    by_store = {r["store_id"]: r for r in rows}
    for store, part in FEEDBACK.groupby("store_id"):
        assert by_store[store]["value"] == pytest.approx(nps(part))
        assert by_store[store]["n"] == len(part)
    assert rows[0]["store_id"] == "S1"
    assert rows[0]["rank"] == 1
    assert by_store["S1"]["vs_rest"] == "above"
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    page = login(app_env["app"], "admin").get("/app/stores")
    assert page.status_code == 200
    assert "▲ better" in page.text


# -- authorisation matrix ------------------------------------------------------------------------

DATA_ENDPOINTS = [
    "/api/v1/headline",
    "/api/v1/trend",
    "/api/v1/stores",
    "/api/v1/stores?metric=ces&format=csv",
    "/api/v1/headline?format=csv",
    "/api/v1/trend?format=csv",
]
PAGES = ["/app", "/app/stores", "/app/stores?metric=csat"]
ADMIN_ONLY = ["/app/users"]
OTHER_API = ["/api/v1/me", "/api/v1/filters"]
ROLES = ["anonymous", "admin", "analyst", "manager"]


def _callers(app_env: dict[str, Any]) -> dict[str, tuple[TestClient, dict[str, str]]]:
    """Per role: a session client and an API-key header (anonymous: neither)."""
    plain = TestClient(app_env["app"])
    callers = {"anonymous": (plain, {})}
    for name in USERS:
        callers[name] = (login(app_env["app"], name), {"X-API-Key": app_env["keys"][name]})
    return callers


def test_authorisation_matrix_every_endpoint_every_role(app_env: dict[str, Any]) -> None:
    callers = _callers(app_env)
    keyless = TestClient(app_env["app"])
    seen = []
    for role in ROLES:
        session, key = callers[role]
        for path in DATA_ENDPOINTS + OTHER_API:
            via_session = session.get(path, follow_redirects=False)
            via_key = keyless.get(path, headers=key, follow_redirects=False)
            for reply in (via_session, via_key):
                expected = 401 if role == "anonymous" else 200
                assert reply.status_code == expected, (role, path, reply.status_code)
            seen.append((role, path))
            if role == "anonymous":
                continue
            # another store's data: 403 for the manager, fine for everyone else
            joiner = "&" if "?" in path else "?"
            other = keyless.get(f"{path}{joiner}store_id=S2", headers=key)
            if path in DATA_ENDPOINTS:
                assert other.status_code == (403 if role == "manager" else 200), (role, path)
        for path in PAGES + ADMIN_ONLY:
            reply = session.get(path, follow_redirects=False)
            if role == "anonymous":
                assert reply.status_code == 303
                assert reply.headers["location"].startswith("/login")
            elif path in ADMIN_ONLY and role != "admin":
                assert reply.status_code == 403, (role, path)
            else:
                assert reply.status_code == 200, (role, path)
            # API keys do not open pages
            assert keyless.get(path, headers=key, follow_redirects=False).status_code in (303, 403)
            if role != "anonymous" and path in PAGES:
                other = session.get(path + ("&" if "?" in path else "?") + "store_id=S2")
                assert other.status_code == (403 if role == "manager" else 200), (role, path)
    assert len(seen) == len(ROLES) * len(DATA_ENDPOINTS + OTHER_API)
    bad_key = keyless.get("/api/v1/headline", headers={"X-API-Key": "cxk_not-a-key"})
    assert bad_key.status_code == 401


def test_store_manager_sees_only_their_store_everywhere(app_env: dict[str, Any]) -> None:
    key = {"X-API-Key": app_env["keys"]["manager"]}
    client = app_env["client"]
    s1 = FEEDBACK[FEEDBACK["store_id"] == "S1"]
    assert client.get("/api/v1/me", headers=key).json() == {
        "username": "manager",
        "role": "store_manager",
        "stores": ["S1"],
    }
    head = {r["metric"]: r for r in client.get("/api/v1/headline", headers=key).json()["rows"]}
    june = s1[s1["submitted_at"] >= "2025-06-01"]
    assert head["nps"]["n"] == len(june)
    assert head["nps"]["value"] == pytest.approx(nps(june))
    trend = client.get("/api/v1/trend", headers=key).json()["rows"]
    assert sum(r["n"] for r in trend if r["metric"] == "nps") == len(s1)
    stores = client.get("/api/v1/stores", headers=key).json()["rows"]
    assert [r["store_id"] for r in stores] == ["S1"]
    exported = pd.read_csv(io.StringIO(client.get("/api/v1/stores?format=csv", headers=key).text))
    assert exported["store_id"].tolist() == ["S1"]
    assert client.get("/api/v1/filters", headers=key).json()["store_id"] == ["S1"]
    page = login(app_env["app"], "manager").get("/app/stores")
    assert "North One" in page.text
    assert "S2" not in page.text
    assert "S3" not in page.text


# -- admin forms ------------------------------------------------------------------------------


def test_admin_adds_a_user_through_the_form_with_csrf(app_env: dict[str, Any]) -> None:
    client = login(app_env["app"], "admin")
    form = {"username": "m-form", "password": PASSWORD, "role": "store_manager", "stores": "S2, S3"}
    assert client.post("/app/users", data={**form, "csrf": "forged"}).status_code == 403
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/app/users").text)
    assert token is not None
    done = client.post("/app/users", data={**form, "csrf": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303
    created = login(app_env["app"], "m-form")
    stores = created.get("/api/v1/stores").json()["rows"]
    assert sorted(r["store_id"] for r in stores) == ["S2", "S3"]


# -- untrusted data -----------------------------------------------------------------------------


def test_csv_export_neutralises_formulas(app_env: dict[str, Any]) -> None:
    reply = app_env["client"].get(
        "/api/v1/stores?format=csv", headers={"X-API-Key": app_env["keys"]["admin"]}
    )
    assert reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    names = pd.read_csv(io.StringIO(reply.text))["store_name"].tolist()
    assert "'" + FORMULA in names
    assert FORMULA not in names


def test_hostile_text_is_escaped_on_every_page(app_env: dict[str, Any]) -> None:
    client = login(app_env["app"], "admin")
    for path in ["/app", "/app/stores", "/app/stores?metric=ces", "/app/users", "/app?region=<b>south</b>"]:
        html = client.get(path).text
        for raw in ("<script>window", "<img src=x", "<b>south"):
            assert raw not in html, (path, raw)
    stores = client.get("/app/stores").text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in stores  # the table shows it as text
    assert "\\u003cscript\\u003e" in stores  # and the chart's JSON block cannot close its script tag
    probe = client.get("/app", params={"channel": '"><script>x</script>'})
    assert "<script>x" not in probe.text


# -- CLI, OpenAPI and static assets ------------------------------------------------------------------


def test_cli_creates_the_first_admin_and_an_api_key(tmp_path: Path) -> None:
    from cxlens.cli.common import state
    from cxlens.cli.users import users_app

    state.data_dir = tmp_path
    try:
        runner = CliRunner()
        made = runner.invoke(users_app, ["create-admin", "root"], input=f"{PASSWORD}\n{PASSWORD}\n")
        assert made.exit_code == 0, made.output
        short = runner.invoke(users_app, ["create", "x", "--password", "short"])
        assert short.exit_code == 1
        manager = runner.invoke(users_app, ["create", "m", "--password", PASSWORD, "--role", "store_manager"])
        assert manager.exit_code == 1
        assert "at least one store" in manager.output
        key = runner.invoke(users_app, ["api-key", "root", "--name", "bi"])
        assert key.exit_code == 0
        assert key.output.strip().startswith("cxk_")
        listed = runner.invoke(users_app, ["list"])
        assert "root\tadmin\t-\tactive" in listed.output
    finally:
        state.data_dir = None
    ops = OpsStore(data_dir=tmp_path)
    try:
        assert auth.principal_for_key(ops, key.output.strip()) is not None
        assert auth.authenticate(ops, "root", PASSWORD) is not None
    finally:
        ops.close()


def test_openapi_lists_every_figure_and_plotly_is_served_locally(app_env: dict[str, Any]) -> None:
    client = app_env["client"]
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/headline", "/api/v1/trend", "/api/v1/stores", "/api/v1/filters", "/api/v1/me"):
        assert path in spec["paths"]
    assert "/login" not in spec["paths"]
    assert "/app" not in spec["paths"]
    js = client.get("/assets/plotly.min.js")
    assert js.status_code == 200
    assert "plotly.js v" in js.text[:400]
    html = login(app_env["app"], "analyst").get("/app").text
    assert not re.search(r"<script[^>]+src=\"http", html)
    assert html.count('type="application/json"') == 3  # one trend chart per metric


def test_secret_is_kept_private_and_sessions_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = auth.load_secret(tmp_path)
    assert auth.load_secret(tmp_path) == secret  # sessions survive a restart
    assert (tmp_path / auth.SECRET_FILE).stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("CXLENS_SECRET_KEY", "from-the-environment")
    assert auth.load_secret(tmp_path) == b"from-the-environment"
    signer = auth.Signer(secret)
    assert signer.loads(signer.dumps({"uid": 1, "exp": 4e9})) == {"uid": 1, "exp": 4e9}
    assert signer.loads(signer.dumps({"uid": 1, "exp": 1.0})) is None  # expired
    assert auth.Signer(b"other").loads(signer.dumps({"uid": 1, "exp": 4e9})) is None
