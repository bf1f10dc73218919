"""The key-drivers page and its API: rows equal the library's, store managers see their stores only
(another store is a 403), CSV is served, and an empty workspace answers 200 with empty rows."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import DemoStore
from cxlens.analyse.benchmark import benchmark
from cxlens.analyse.drivers import key_drivers, text_getter
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.text.store import enrich_feedback
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.routes.drivers import WEB_BOOT
from cxlens.web.settings import WebSettings

pytestmark = pytest.mark.slow  # builds and enriches a small demo store
PASSWORD = "correct horse battery"
USERS = {"admin": ("admin", []), "manager": ("store_manager", ["S001", "S002"])}
API = ["/api/v1/drivers", "/api/v1/drivers?outcome=repurchase", "/api/v1/benchmark"]


def _login(app: Any, username: str) -> TestClient:
    client = TestClient(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    data = {"username": username, "password": PASSWORD, "csrf": token.group(1), "next": "/app"}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    return client


def _env(ws: Workspace, root: Path) -> tuple[Any, OpsStore, dict[str, dict[str, str]]]:
    ops = OpsStore(data_dir=root)
    keys = {}
    for name, (role, stores) in USERS.items():
        auth.create_user(ops, name, PASSWORD, role, stores)
        keys[name] = {"X-API-Key": auth.create_api_key(ops, name, "tests")}
    return create_app(WebSettings(), ws, ops=ops, export=False), ops, keys


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("web-drivers")
    ws = demo_store(root / "ws", customers=4000, seed=7)
    enrich_feedback(ws)
    app, ops, keys = _env(ws, root)
    with TestClient(app) as client:
        yield {"app": app, "ws": ws, "client": client, "key": keys, "admin": _login(app, "admin")}
    ops.close()
    ws.close()


def _get(env: dict[str, Any], path: str, who: str = "admin") -> Any:
    reply = env["client"].get(path, headers=env["key"][who])
    assert reply.status_code == 200, (path, reply.text)
    return reply.json()


def _same(rows: list[dict[str, Any]], lib: pd.DataFrame) -> None:
    api = pd.DataFrame(rows)
    assert list(api.columns) == list(lib.columns)
    for col in lib.columns:
        if pd.api.types.is_numeric_dtype(lib[col]) and not pd.api.types.is_bool_dtype(lib[col]):
            assert api[col].astype(float).tolist() == pytest.approx(
                lib[col].astype(float).tolist(), nan_ok=True
            )
        else:
            assert api[col].tolist() == lib[col].tolist(), col


def test_page_renders_charts_and_tables(env: dict[str, Any]) -> None:
    html = env["admin"].get("/app/drivers").text
    for chart in ("drivers-matrix", "drivers-importance", "drivers-benchmark"):
        assert f'id="{chart}-data"' in html
    assert "Store visit" in html  # display names on the page (the API keeps the ids)
    assert "tp:store_visit" not in html
    assert "Brightway" in html
    assert "Revenue at risk from detractors" in html
    zh = env["admin"].get("/app/drivers?lang=zh&outcome=csat").text
    assert "关键驱动因素" in zh
    assert "竞争对手对标" in zh
    assert "门店到访" in zh  # the driver names in Chinese too
    assert "Store visit" not in zh


def test_api_equals_the_library(env: dict[str, Any]) -> None:
    ws = env["ws"]
    body = _get(env, "/api/v1/drivers")
    lib = key_drivers(text_getter(ws), "nps", n_boot=WEB_BOOT)
    _same(body["rows"], lib.drivers)
    assert body["r2"] == pytest.approx(lib.r2)
    assert body["method"] == lib.method
    cost = body["cost_of_inaction"]  # the CLV fit may differ in the last cent with row order
    assert cost == {k: pytest.approx(v, rel=1e-6) if isinstance(v, float) else v for k, v in lib.cost.items()}
    assert body["stores"] is None
    rep = _get(env, "/api/v1/drivers?outcome=repurchase")
    _same(rep["rows"], key_drivers(text_getter(ws), "repurchase", n_boot=WEB_BOOT).drivers)
    assert rep["cost_of_inaction"] == {}
    _same(_get(env, "/api/v1/benchmark")["rows"], benchmark(text_getter(ws)))


def test_managers_see_their_stores_only(env: dict[str, Any]) -> None:
    ws = env["ws"]
    mine = ["S001", "S002"]
    body = _get(env, "/api/v1/drivers?outcome=csat", "manager")
    assert body["stores"] == mine
    lib = key_drivers(text_getter(ws), "csat", n_boot=WEB_BOOT, stores=mine)
    _same(body["rows"], lib.drivers)
    assert body["n_units"] < _get(env, "/api/v1/drivers?outcome=csat")["n_units"] / 5
    one = _get(env, "/api/v1/benchmark?store_id=S002", "manager")
    _same(one["rows"], benchmark(text_getter(ws), stores=["S002"]))
    for path in (*API, "/api/v1/drivers?outcome=csat"):
        sep = "&" if "?" in path else "?"
        reply = env["client"].get(f"{path}{sep}store_id=S003", headers=env["key"]["manager"])
        assert reply.status_code == 403, path
    manager = _login(env["app"], "manager")
    assert manager.get("/app/drivers?store_id=S003").status_code == 403
    assert manager.get("/app/drivers").status_code == 200


def test_csv_twins(env: dict[str, Any]) -> None:
    for path, first in (
        ("/api/v1/drivers?format=csv", "rank,driver,"),
        ("/api/v1/benchmark?format=csv", "indicator,kind,brand,"),
    ):
        reply = env["client"].get(path, headers=env["key"]["admin"])
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/csv")
        assert reply.text.startswith(first)
        frame = pd.read_csv(io.StringIO(reply.text))
        assert len(frame) > 5


def test_empty_workspace_answers_200(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    app, ops, keys = _env(ws, tmp_path)
    with TestClient(app) as client:
        for path in API:
            reply = client.get(path, headers=keys["admin"])
            assert reply.status_code == 200, (path, reply.text)
            assert reply.json()["rows"] == []
        page = _login(app, "admin").get("/app/drivers")
        assert page.status_code == 200
        assert "Not enough feedback" in page.text
    ops.close()
    ws.close()
