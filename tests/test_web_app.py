"""The staff web app: login with CSRF, API keys, roles and store scoping on every route, the
dashboard figures against plain pandas, formula-safe CSV and escaping of hostile data."""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cxlens.ops import OpsStore
from cxlens.ops.auth_models import User
from cxlens.storage.workspace import Workspace
from cxlens.web import auth, figures
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
CUSTOMERS = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "loyalty_tier": ["gold", "none", "platinum"]})
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
    for i in range(10):  # a channel and a loyalty tier seen only at S3 (not the manager's S1)
        rows.append(
            {
                "feedback_id": f"app-S3-{i}",
                "submitted_at": pd.Timestamp(f"2025-05-{10 + i} 09:00"),
                "source": "survey",
                "customer_id": "C3",
                "store_id": "S3",
                "channel": "app",
                "nps": 5,
                "csat": 3,
                "ces": 4,
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
    app = create_app(WebSettings(warm_cache=False), ws, ops=ops, export=False)
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


def test_headline_honours_the_start_filter(app_env: dict[str, Any]) -> None:
    client = app_env["client"]
    key = {"X-API-Key": app_env["keys"]["analyst"]}
    late_june = FEEDBACK[FEEDBACK["submitted_at"] >= "2025-06-15"]
    rows = {
        r["metric"]: r for r in client.get("/api/v1/headline?start=2025-06-15", headers=key).json()["rows"]
    }
    assert rows["nps"]["n"] == len(late_june)
    assert rows["nps"]["value"] == pytest.approx(nps(late_june))
    assert rows["nps"]["previous_n"] in (0, None)  # May is before the range
    may_only = {
        r["metric"]: r
        for r in client.get(
            "/api/v1/headline", params={"start": "2025-05-20", "end": "2025-05-31"}, headers=key
        ).json()["rows"]
    }
    window = FEEDBACK[(FEEDBACK["submitted_at"] >= "2025-05-20") & (FEEDBACK["submitted_at"] < "2025-06-01")]
    assert may_only["nps"]["n"] == len(window)
    assert may_only["nps"]["value"] == pytest.approx(nps(window))
    after = client.get("/api/v1/headline?start=2030-01-01", headers=key).json()["rows"]
    assert after == []
    page = login(app_env["app"], "analyst").get("/app?start=2025-06-15")
    assert f"n={len(late_june):,}" in page.text


def test_an_end_date_inside_a_month_compares_the_same_days_before(app_env: dict[str, Any]) -> None:
    """The overview up to 10 June: June 1-10 against May 1-10, flagged and explained on the page."""
    key = {"X-API-Key": app_env["keys"]["analyst"]}
    reply = app_env["client"].get("/api/v1/headline", params={"end": "2025-06-10"}, headers=key)
    rows = {r["metric"]: r for r in reply.json()["rows"]}
    june = FEEDBACK[(FEEDBACK["submitted_at"] >= "2025-06-01") & (FEEDBACK["submitted_at"] < "2025-06-11")]
    may = FEEDBACK[(FEEDBACK["submitted_at"] >= "2025-05-01") & (FEEDBACK["submitted_at"] < "2025-05-11")]
    assert rows["nps"]["partial"] is True
    assert rows["nps"]["n"] == len(june)
    assert rows["nps"]["previous_n"] == len(may)
    assert rows["nps"]["change"] == pytest.approx(nps(june) - nps(may))
    page = login(app_env["app"], "analyst").get("/app?end=2025-06-10")
    assert "Month to date (to 2025-06-10)" in page.text
    # these answers stop on the 28th of every month: June is partial too, and says so
    assert "Month to date (to 2025-06-28)" in login(app_env["app"], "analyst").get("/app").text


def test_cache_warmer_precomputes_the_common_figures(app_env: dict[str, Any]) -> None:
    ws, ops = app_env["ws"], app_env["ops"]
    figures.CACHE.clear()
    warmer = figures.CacheWarmer(ws, ops)
    combos = warmer.combinations()
    assert (figures.Filters(), ("S1",)) in [(f, w.stores) for f, w in combos]  # the manager's scope
    assert {f.channel for f, _ in combos} >= {"store", "web", "app"}
    warmer.run()
    assert warmer.done.is_set()

    def not_cached() -> Any:
        raise AssertionError("computed again: the warm-up missed it")

    everyone = (figures.Filters(region="north"), None)
    for key in [("headline", everyone), ("trend", everyone), ("stores", "nps", everyone)]:
        assert isinstance(figures.CACHE.get(ws, key, not_cached), pd.DataFrame)
    key = {"X-API-Key": app_env["keys"]["manager"]}
    warm = app_env["client"].get("/api/v1/headline", headers=key).json()["rows"]
    assert warm[0]["n"] == len(
        FEEDBACK[(FEEDBACK["store_id"] == "S1") & (FEEDBACK["submitted_at"] >= "2025-06")]
    )
    version = warmer.warmed_version
    ws.ingest("customers", CUSTOMERS)  # new data: the next run warms again at the new version
    warmer.run()
    assert warmer.warmed_version is not None
    assert warmer.warmed_version > (version or 0)


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

ROLES = ["anonymous", "admin", "analyst", "manager"]
#: Sample values for path parameters of routes other engineers add (``/app/cases/{case_id}``).
#: A route with a parameter missing here fails the test, so every endpoint stays covered.
PATH_SAMPLES = {
    "case_id": "1",
    "plan_id": "1",
    "id": "1",
    "customer_id": "C1",
    "store_id": "S1",
    "kind": "rules",
}
#: Routes only some roles may use beyond the admin-only pages found from their dependencies.
ROLE_ONLY: dict[str, set[str]] = {
    # the rules, routing and plan editors: store managers only read (403)
    "/app/rules": {"admin", "analyst"},
    "/app/routing": {"admin", "analyst"},
    "/app/plans/new": {"admin", "analyst"},
    "/app/plans/{plan_id}/edit": {"admin", "analyst"},
    "/api/v1/config/{kind}": {"admin", "analyst"},
}
#: Paths under /app that are not pages (no login needed: they redirect).
NOT_PAGES = {"/app/lang"}


def _dependencies(route: APIRoute) -> list[Any]:
    """Every dependant of a route, its sub-dependencies included."""
    out, todo = [], [route.dependant]
    while todo:
        dep = todo.pop()
        out.append(dep)
        todo.extend(dep.dependencies)
    return out


def _calls(route: APIRoute) -> set[Any]:
    return {dep.call for dep in _dependencies(route)}


def _query_params(route: APIRoute) -> set[str]:
    return {p.alias for dep in _dependencies(route) for p in dep.query_params}


def all_routes(routes: list[Any], prefix: str = "") -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those nested), with full paths."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from all_routes(inner.routes, prefix + getattr(route.include_context, "prefix", ""))
        elif isinstance(route, APIRoute):
            if prefix:
                route = copy.copy(route)
                route.path = prefix + route.path
            yield route


def staff_routes(app: Any) -> tuple[list[APIRoute], list[APIRoute]]:
    """The staff API's GET routes and the staff pages, found from the app's routes."""
    api, pages = [], []
    for route in all_routes(app.routes):
        if "GET" not in route.methods:
            continue
        if auth.api_principal in _calls(route):
            api.append(route)
        elif auth.page_principal in _calls(route) and route.path not in NOT_PAGES:
            pages.append(route)
    return api, pages


def sample_urls(route: APIRoute) -> list[str]:
    """URLs to request a route with (path parameters from PATH_SAMPLES; CSV too if it has one)."""
    names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
    missing = [n for n in names if n not in PATH_SAMPLES]
    assert not missing, f"add sample values for {missing} of {route.path} to PATH_SAMPLES"
    path = route.path
    for name in names:
        path = re.sub(r"\{" + name + r"(?::\w+)?\}", PATH_SAMPLES[name], path)
    urls = [path]
    if "format" in _query_params(route):
        urls.append(f"{path}?format=csv")
    return urls


def _allowed(route: APIRoute, role: str) -> bool:
    if role == "anonymous":
        return False
    if {auth.admin_page_principal, auth.admin_api_principal} & _calls(route):
        return role == "admin"
    return role in ROLE_ONLY.get(route.path, {"admin", "analyst", "manager"})


def _callers(app_env: dict[str, Any]) -> dict[str, tuple[TestClient, dict[str, str]]]:
    """Per role: a session client and an API-key header (anonymous: neither)."""
    plain = TestClient(app_env["app"])
    callers = {"anonymous": (plain, {})}
    for name in USERS:
        callers[name] = (login(app_env["app"], name), {"X-API-Key": app_env["keys"][name]})
    return callers


def _with(url: str, extra: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def test_the_matrix_finds_every_staff_route(app_env: dict[str, Any]) -> None:
    api, pages = staff_routes(app_env["app"])
    api_paths = {r.path for r in api}
    page_paths = {r.path for r in pages}
    assert {
        "/api/v1/headline",
        "/api/v1/trend",
        "/api/v1/stores",
        "/api/v1/filters",
        "/api/v1/me",
    } <= api_paths
    assert {"/app", "/app/stores", "/app/users"} <= page_paths
    assert "/api/v1/surveys" not in api_paths  # the management API has its own bearer token
    assert "/login" not in page_paths


@pytest.mark.slow
def assert_unique_ids(html: str, url: str) -> None:
    """No element id twice on a page: a chart whose id repeats an anchor's is drawn into the anchor."""
    ids = re.findall(r'\sid="([^"]+)"', html)
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, (url, repeated)


def test_authorisation_matrix_every_endpoint_every_role(app_env: dict[str, Any]) -> None:
    """Every staff API GET route and page (found from ``app.routes``) × every role, through a
    session and an API key; a store manager asking for another store's data gets a 403."""
    app = app_env["app"]
    callers = _callers(app_env)
    keyless = TestClient(app)
    api, pages = staff_routes(app)
    seen = 0
    for role in ROLES:
        session, key = callers[role]
        for route in api:
            scoped = "store_id" in _query_params(route)
            for url in sample_urls(route):
                ok = (200, 404) if "{" in route.path else (200,)
                for reply in (session.get(url, follow_redirects=False), keyless.get(url, headers=key)):
                    if role == "anonymous":
                        assert reply.status_code == 401, (role, url, reply.status_code)
                    elif _allowed(route, role):
                        assert reply.status_code in ok, (role, url, reply.status_code, reply.text[:200])
                    else:
                        assert reply.status_code == 403, (role, url, reply.status_code)
                    assert reply.headers["content-type"].startswith(("application/json", "text/csv")), url
                seen += 1
                if role != "anonymous" and scoped and _allowed(route, role):
                    other = keyless.get(_with(url, "store_id=S2"), headers=key)
                    expected = 403 if role == "manager" else ok
                    assert other.status_code in (expected if isinstance(expected, tuple) else (expected,)), (
                        role,
                        url,
                        other.status_code,
                    )
        for route in pages:
            scoped = "store_id" in _query_params(route)
            for url in sample_urls(route):
                ok = (200, 404) if "{" in route.path else (200,)
                reply = session.get(url, follow_redirects=False)
                if role == "anonymous":
                    assert reply.status_code == 303, (role, url)
                    assert reply.headers["location"].startswith("/login")
                elif _allowed(route, role):
                    assert reply.status_code in ok, (role, url, reply.status_code, reply.text[:300])
                    assert_unique_ids(reply.text, url)
                else:
                    assert reply.status_code == 403, (role, url)
                    assert reply.headers["content-type"].startswith("text/html")
                # API keys do not open pages
                assert keyless.get(url, headers=key, follow_redirects=False).status_code in (303, 403)
                seen += 1
                if role != "anonymous" and scoped and _allowed(route, role):
                    other = session.get(_with(url, "store_id=S2"))
                    if role == "manager":
                        assert other.status_code == 403, (role, url)
                        assert "text/html" in other.headers["content-type"]
                    else:
                        assert other.status_code in ok, (role, url)
    assert seen >= len(ROLES) * (len(api) + len(pages))
    bad_key = keyless.get("/api/v1/headline", headers={"X-API-Key": "cxk_not-a-key"})
    assert bad_key.status_code == 401


def test_staff_errors_are_html_pages_and_the_api_stays_json(app_env: dict[str, Any]) -> None:
    manager = login(app_env["app"], "manager")
    page = manager.get("/app/stores?store_id=S2&lang=zh")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "您无权访问此页面或该门店的数据" in page.text
    assert manager.get("/app/users").headers["content-type"].startswith("text/html")
    missing = manager.get("/app/no-such-page")
    assert missing.status_code == 404
    assert "This page does not exist." in missing.text
    bad_date = manager.get("/app?start=2025-13-45")
    assert bad_date.status_code == 422
    assert bad_date.headers["content-type"].startswith("text/html")
    api = manager.get("/api/v1/stores?store_id=S2")
    assert api.status_code == 403
    assert api.json() == {"detail": "this store is outside your access"}
    assert manager.get("/api/v1/nothing").headers["content-type"].startswith("application/json")
    # a public survey link that does not exist keeps its respondent-facing page
    public = TestClient(app_env["app"]).get("/s/no-such-survey")
    assert public.status_code == 404
    assert "cxlens_session" not in public.text
    assert "Back to the overview" not in public.text


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
    assert client.get("/api/v1/filters", headers=key).json() == {
        "store_id": ["S1"],
        "region": ["north"],
        "channel": ["store", "web"],  # not S3's "app"
        "segment": ["gold", "none"],  # tiers of customers who answered about S1
    }
    everyone = client.get("/api/v1/filters", headers={"X-API-Key": app_env["keys"]["analyst"]}).json()
    assert everyone["channel"] == ["app", "store", "web"]
    assert everyone["segment"] == ["gold", "none", "platinum"]
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
    assert (
        "\\u0026lt;script\\u0026gt;" in stores
    )  # the chart's JSON shows it as text and cannot close its tag
    probe = client.get("/app", params={"channel": '"><script>x</script>'})
    assert "<script>x" not in probe.text


def test_chart_labels_from_data_carry_no_markup(app_env: dict[str, Any]) -> None:
    """plotly reads <a href>, <b>, <img> in labels as markup: every data string in a chart is
    escaped, so a store named with a link shows as text, not as a clickable link."""
    import json

    client = login(app_env["app"], "admin")
    html = client.get("/app/stores").text
    blocks = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert blocks
    strings: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, str) and not key.endswith("template"):
            strings.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)

    for block in blocks:
        walk(json.loads(block))
    assert any("&lt;script&gt;window.__pwned=1" in s for s in strings)  # shown literally
    assert not [s for s in strings if "<" in s]


# -- CLI, OpenAPI and static assets ------------------------------------------------------------------


def test_cli_creates_the_first_admin_and_an_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cxlens.cli.common import state
    from cxlens.cli.main import app as cli

    monkeypatch.setattr(state, "data_dir", None)  # restored afterwards: the callback sets it

    def run(*args: str, **kwargs: Any) -> Any:  # through the main callback, as `cxlens ...` runs
        return CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "users", *args], **kwargs)

    made = run("create-admin", "root", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    short = run("create", "x", "--password", "short")
    assert short.exit_code == 1
    manager = run("create", "m", "--password", PASSWORD, "--role", "store_manager")
    assert manager.exit_code == 1
    assert "at least one store" in manager.output
    key = run("api-key", "root", "--name", "bi")
    assert key.exit_code == 0
    assert key.output.strip().startswith("cxk_")
    listed = run("list", "-o", "json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == [
        {"username": "root", "role": "admin", "stores": "", "status": "active"}
    ]
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


def test_cookie_secure_setting_marks_session_cookies(app_env: dict[str, Any]) -> None:
    plain = login(app_env["app"], "analyst")
    assert plain.cookies.get(auth.SESSION_COOKIE)
    secure_app = create_app(
        WebSettings(cookie_secure=True, warm_cache=False), app_env["ws"], ops=app_env["ops"], export=False
    )
    client = TestClient(secure_app, base_url="https://testserver")
    assert "secure" in client.get("/login").headers["set-cookie"].lower()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    reply = client.post(
        "/login",
        data={"username": "analyst", "password": PASSWORD, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert reply.status_code == 303
    assert "; secure" in reply.headers["set-cookie"].lower()
    insecure = TestClient(app_env["app"]).get("/login")  # default: plain-HTTP localhost works
    assert "secure" not in insecure.headers["set-cookie"].lower()


def test_secret_is_kept_private_and_sessions_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = auth.load_secret(tmp_path)
    assert auth.load_secret(tmp_path) == secret  # sessions survive a restart
    assert (tmp_path / auth.SECRET_FILE).stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("CXLENS_SECRET_KEY", "from-the-environment")
    assert auth.load_secret(tmp_path) == b"from-the-environment"  # read through WebSettings
    assert auth.load_secret(tmp_path, WebSettings(secret_key="typed")) == b"typed"
    assert auth.load_secret(tmp_path, WebSettings(secret_key="")) == secret
    signer = auth.Signer(secret)
    assert signer.loads(signer.dumps({"uid": 1, "exp": 4e9})) == {"uid": 1, "exp": 4e9}
    assert signer.loads(signer.dumps({"uid": 1, "exp": 1.0})) is None  # expired
    assert auth.Signer(b"other").loads(signer.dumps({"uid": 1, "exp": 4e9})) is None


def test_page_figures_warm_in_the_background_only_when_asked(
    app_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journey/VoC/customer warm-up runs in its own thread after start-up (and is finished
    before the app lets go of the workspace); CXLENS_WARM_PAGES=false leaves it out."""
    from cxlens.web import insight_figures

    calls: list[str] = []
    monkeypatch.setattr(insight_figures, "warm", lambda ws, stop=None: calls.append(type(ws).__name__) or {})
    for warm_pages, expected in ((False, []), (True, ["Workspace"])):
        app = create_app(WebSettings(warm_pages=warm_pages), app_env["ws"], ops=app_env["ops"], export=False)
        with TestClient(app) as client:
            assert (
                client.get("/api/v1/me", headers={"X-API-Key": app_env["keys"]["admin"]}).status_code == 200
            )
        assert calls == expected  # joined at shutdown: done by now
