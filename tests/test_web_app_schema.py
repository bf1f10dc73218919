"""Schemathesis generates requests for every GET route under /api/v1 from the app's OpenAPI spec
(routers added later are picked up from the spec): no input gives a 500, for an analyst and for a
store manager (whose out-of-scope requests must be 403, never a 500), on the small demo retailer
plus hostile store data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from typer.testing import CliRunner

from cxlens.cli.main import app as cli
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web import auth
from cxlens.web.app import create_app
from cxlens.web.settings import WebSettings

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
MANAGEMENT_TOKEN = "schema-test-token"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app over the demo retailer (every table filled, so each figure runs its queries),
    with an API key per role and the survey-management token."""
    root = tmp_path_factory.mktemp("schema")
    made = CliRunner().invoke(cli, ["--data-dir", str(root), "demo", "--customers", "300"])
    assert made.exit_code == 0, made.output
    ws = Workspace(root)
    ws.ingest("stores", pd.DataFrame({"store_id": ["X1"], "name": ["=2+2"], "region": ["<b>x</b>"]}))
    ops = OpsStore(data_dir=root)
    auth.create_user(ops, "analyst", PASSWORD, "analyst")
    auth.create_user(ops, "manager", PASSWORD, "store_manager", ["S001"])
    keys = {name: auth.create_api_key(ops, name) for name in ("analyst", "manager")}
    settings_ = WebSettings(api_token=MANAGEMENT_TOKEN, warm_cache=False)
    app = create_app(settings_, ws, ops=ops, export=False)
    yield {"app": app, "keys": keys}
    ops.close()
    ws.close()


@pytest.fixture(scope="module")
def api_schema(env: dict[str, Any]) -> Any:
    """Every GET operation under /api/v1 in the app's OpenAPI spec."""
    return schemathesis.openapi.from_asgi("/openapi.json", env["app"]).include(
        path_regex=r"^/api/v1/", method="GET"
    )


def operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


def test_the_spec_covers_the_dashboard_routes(api_schema: Any) -> None:
    paths = {op.path for op in operations(api_schema)}
    assert {"/api/v1/headline", "/api/v1/trend", "/api/v1/stores", "/api/v1/filters", "/api/v1/me"} <= paths
    assert "/api/v1/events" not in paths  # POST only


def test_no_server_errors(env: dict[str, Any], api_schema: Any) -> None:
    """Every operation gets its own Hypothesis run (the schema is built in a fixture, not at
    import, so the test lists no parametrized cases); failures are collected per operation."""
    failures = []
    for op in operations(api_schema):

        @given(case=op.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            for role in ("analyst", "manager"):  # each generated request as both roles
                headers = {"X-API-Key": env["keys"][role], "Authorization": f"Bearer {MANAGEMENT_TOKEN}"}
                response = case.call(headers=headers)
                case.validate_response(response, checks=[not_a_server_error])
                assert response.status_code < 500, (role, case.path, response.text[:300])

        try:
            check()
        except Exception as exc:  # report every failing operation, not only the first
            failures.append(f"{op.method.upper()} {op.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
