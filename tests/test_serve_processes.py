"""Real processes: while `cxlens serve` runs (one worker, or several on PostgreSQL), another shell
loads new feedback and runs an analysis, and the API shows the new rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from json import loads
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import free_port
from cxlens.ops import OpsStore
from cxlens.storage.workspace import Workspace
from cxlens.web import auth

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
#: The new rows must show within this many seconds of their load.
WITHIN_SECONDS = 10.0


def feedback(prefix: str, n: int, day: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feedback_id": [f"{prefix}{i}" for i in range(n)],
            "submitted_at": f"{day} 12:00",
            "source": "survey",
            "store_id": "S1",
            "channel": "store",
            "nps": [10 if i % 3 else 3 for i in range(n)],
        }
    )


def cxlens(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cxlens", *args], env=env, capture_output=True, text=True, timeout=300
    )


def headline_n(url: str, key: str) -> int:
    request = urllib.request.Request(f"{url}/api/v1/headline?metric=nps", headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=30) as reply:
        rows = loads(reply.read())["rows"]
    return int(next(r["n"] for r in rows if r["metric"] == "nps"))


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`cxlens serve` in its own process over a store with 30 answers in June 2025."""
    workers = request.param
    data_dir = tmp_path / "data"
    env = {**os.environ, "CXLENS_DATA_DIR": str(data_dir), "CXLENS_WARM_PAGES": "false"}
    with Workspace(data_dir) as ws:
        ws.ingest("stores", pd.DataFrame({"store_id": ["S1"], "name": ["One"]}))
        ws.ingest("feedback", feedback("old", 30, "2025-06-10"))
    stack = ExitStack()
    if workers > 1:
        from cxlens.ops.testing import fresh_database, postgres_server_url

        server = postgres_server_url()
        if server is None:
            pytest.skip("CXLENS_TEST_POSTGRES_URL is not set (make test starts a server)")
        env["CXLENS_OPS_URL"] = stack.enter_context(fresh_database(server))
    ops = OpsStore(env.get("CXLENS_OPS_URL"), data_dir=data_dir)
    auth.create_user(ops, "analyst", PASSWORD, "analyst", [])
    key = auth.create_api_key(ops, "analyst", "tests")
    ops.close()
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server_proc = subprocess.Popen(
        [sys.executable, "-m", "cxlens", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server_proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                headline_n(url, key)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield {"url": url, "key": key, "env": env, "tmp": tmp_path}
    finally:
        server_proc.terminate()
        server_proc.wait(timeout=60)
        log.close()
        stack.close()


@pytest.mark.parametrize("served", [1, pytest.param(2, marks=pytest.mark.postgres)], indirect=True)
def test_another_shell_loads_and_analyses_while_the_server_runs(served: dict[str, Any]) -> None:
    url, key, env = served["url"], served["key"], served["env"]
    assert headline_n(url, key) == 30
    new = served["tmp"] / "new.csv"
    feedback("new", 12, "2025-06-20").to_csv(new, index=False)

    loaded = cxlens(env, "ingest", "feedback", str(new), "--no-progress")
    assert loaded.returncode == 0, loaded.stderr
    assert "12 of 12 rows loaded" in loaded.stdout
    analysed = cxlens(env, "analyse", "metrics", "-m", "nps", "-o", "json")
    assert analysed.returncode == 0, analysed.stderr
    assert loads(analysed.stdout)[0]["n"] == 42

    # every worker's figure cache follows the commit: repeated requests all see the new rows
    deadline = time.monotonic() + WITHIN_SECONDS
    seen: list[int] = []
    while len(seen) < 8 or seen[-8:] != [42] * 8:
        seen.append(headline_n(url, key))
        assert time.monotonic() < deadline, f"the API still answers {seen[-8:]} after {WITHIN_SECONDS} s"
    status = cxlens(env, "status")
    assert status.returncode == 0, status.stderr
