"""Schemathesis generates requests from the dashboards' OpenAPI spec: no input gives a 500, for
an analyst and for a store manager (whose out-of-scope requests must be 403, never a 500)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def _build(root: Path) -> dict[str, Any]:
    """The app over a small workspace, with an API key per role (built at import: schemathesis
    reads the spec when the tests are collected)."""
    ws = Workspace(root / "ws")
    ws.ingest(
        "stores", pd.DataFrame({"store_id": ["S1", "S2"], "name": ["One", "=2+2"], "region": ["a", "b"]})
    )
    ws.ingest("customers", pd.DataFrame({"customer_id": ["C1"], "loyalty_tier": ["gold"]}))
    ws.ingest(
        "feedback",
        pd.DataFrame(
            {
                "feedback_id": [f"f{i}" for i in range(80)],
                "submitted_at": pd.date_range("2025-01-01", periods=80, freq="3D"),
                "source": "survey",
                "customer_id": "C1",
                "store_id": ["S1", "S2"] * 40,
                "channel": ["store", "web"] * 40,
                "nps": [i % 11 for i in range(80)],
                "csat": [1 + i % 5 for i in range(80)],
                "ces": [1 + i % 7 for i in range(80)],
            }
        ),
    )
    ops = OpsStore(data_dir=root)
    auth.create_user(ops, "analyst", PASSWORD, "analyst")
    auth.create_user(ops, "manager", PASSWORD, "store_manager", ["S1"])
    keys = {name: auth.create_api_key(ops, name) for name in ("analyst", "manager")}
    app = create_app(WebSettings(), ws, ops=ops, export=False)
    return {"app": app, "keys": keys, "ws": ws, "ops": ops, "root": root}


ENV = _build(Path(tempfile.mkdtemp(prefix="cxlens-schema-")))
schema = schemathesis.openapi.from_asgi("/openapi.json", ENV["app"]).include(tag="dashboards")


@pytest.fixture(scope="module", autouse=True)
def _close() -> Iterator[None]:
    yield
    ENV["ops"].close()
    ENV["ws"].close()
    shutil.rmtree(ENV["root"], ignore_errors=True)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any) -> None:
    for role in ("analyst", "manager"):  # each generated request as both roles
        response = case.call(headers={"X-API-Key": ENV["keys"][role]})
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code < 500, (role, response.text[:300])
