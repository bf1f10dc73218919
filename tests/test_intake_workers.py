"""`cxlens collect serve --workers 2` on the embedded default (SQLite operational store): under
concurrent answers and events no request fails, and every acknowledged one is stored exactly once
and reaches the analytics store (exported by the worker that holds the jobs lease)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from conftest import free_port
from cxlens.collect.responses import Collector
from cxlens.collect.sources import create_source
from cxlens.collect.surveys import template
from cxlens.journey.map import load_journey_map
from cxlens.ops import InboxEvent, OpsStore, Response
from cxlens.storage.workspace import Workspace

pytestmark = pytest.mark.slow


def test_two_workers_on_sqlite_store_every_acknowledged_answer_and_event_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ops = OpsStore(data_dir=data)
    Collector(ops, load_journey_map()).save_survey(template("in_store"))
    key = create_source(ops, "pos")
    ops.close()
    port = free_port()
    env = {
        **os.environ,
        "CXLENS_DATA_DIR": str(data),
        "CXLENS_RATE_LIMIT": "0",
        "CXLENS_EVENTS_RATE_LIMIT": "0",
        "CXLENS_EXPORT_INTERVAL": "0.5",
        "CXLENS_WARM_CACHE": "false",
    }
    env.pop("CXLENS_OPS_URL", None)
    log = (tmp_path / "serve.log").open("w")
    argv = [sys.executable, "-m", "cxlens", "collect", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    answered: list[str] = []
    accepted: list[str] = []
    failures: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx2.get(f"{base}/healthz", timeout=2).status_code in (200, 503):
                    break
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)

        def answers(worker: int) -> None:
            with httpx2.Client(base_url=base, timeout=30) as client:
                for i in range(40):
                    r = client.post(f"/k/in_store?store=S{worker}", data={"q_nps": str(i % 11)})
                    if r.status_code == 303:
                        answered.append(r.headers["location"].split("/")[2])
                    else:
                        failures.append(r.status_code)

        def events(worker: int) -> None:
            with httpx2.Client(base_url=base, timeout=30, headers={"X-Write-Key": key}) as client:
                for b in range(10):
                    ids = [f"w{worker}-b{b}-{j}" for j in range(50)]
                    body = [
                        {
                            "event_id": eid,
                            "occurred_at": "2026-01-01T10:00:00Z",
                            "anonymous_id": "a",
                            "channel": "web",
                            "event_type": "page_view",
                        }
                        for eid in ids
                    ]
                    r = client.post("/api/v1/events", json=body)
                    if r.status_code == 202:
                        accepted.extend(ids)
                    else:
                        failures.append(r.status_code)

        threads = [threading.Thread(target=answers, args=(i,)) for i in range(8)]
        threads += [threading.Thread(target=events, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        proc.send_signal(signal.SIGINT)  # a graceful stop: the lease holder exports once more
        proc.wait(timeout=120)
        log.close()
    assert failures == []
    assert len(answered) == 320
    assert len(accepted) == 2000
    with OpsStore(data_dir=data) as ops:
        assert ops.count(Response) == 320
        assert ops.count(InboxEvent) == 2000
        assert ops.count(Response, Response.exported_at.is_(None)) == 0
        assert ops.count(InboxEvent, InboxEvent.exported_at.is_(None)) == 0
    with Workspace(data, read_only=True) as ws:
        feedback = {r[0] for r in ws.query("SELECT feedback_id FROM feedback")}
        events_stored = ws.query("SELECT count(*), count(DISTINCT event_id) FROM events")[0]
    assert feedback == {f"survey-{r}" for r in answered}
    assert events_stored == (2000, 2000)
