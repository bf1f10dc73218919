"""kill -9 of the server in the middle of a burst of answers and events: every answer and event
the server acknowledged is in the operational store, reaches the analytics store exactly once
after a restart's export, and the analytics store opens intact."""

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
from typer.testing import CliRunner

from conftest import free_port
from cxlens.cli.main import app as cli
from cxlens.collect.responses import Collector
from cxlens.collect.sources import create_source
from cxlens.collect.surveys import template
from cxlens.journey.map import load_journey_map
from cxlens.ops import InboxEvent, OpsStore, Response
from cxlens.storage.workspace import Workspace

pytestmark = pytest.mark.slow
SERVER = """
import sys, uvicorn
from cxlens.web.app import create_app
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="critical")
"""


def _start(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CXLENS_DATA_DIR": str(data),
        "CXLENS_RATE_LIMIT": "0",
        "CXLENS_EVENTS_RATE_LIMIT": "0",
        "CXLENS_EXPORT_INTERVAL": "0.2",
        "CXLENS_WARM_CACHE": "false",
    }
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code in (200, 503):
                return proc
        except httpx2.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("the server did not start")


def test_kill_9_mid_burst_loses_no_acknowledged_answer_or_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ops = OpsStore(data_dir=data)
    Collector(ops, load_journey_map()).save_survey(template("in_store"))
    key = create_source(ops, "pos")
    port = free_port()
    proc = _start(data, port)
    base = f"http://127.0.0.1:{port}"
    answered: list[str] = []
    accepted: list[str] = []
    stop = threading.Event()

    def answers(worker: int) -> None:
        with httpx2.Client(base_url=base, timeout=5) as client:
            i = 0
            while not stop.is_set():
                try:
                    r = client.post("/api/v1/surveys/in_store/responses", json={"answers": {"nps": i % 11}})
                except httpx2.HTTPError:
                    return
                if r.status_code == 201:
                    answered.append(r.json()["response_id"])
                i += 1

    def events(worker: int) -> None:
        with httpx2.Client(base_url=base, timeout=5, headers={"X-Write-Key": key}) as client:
            batch = 0
            while not stop.is_set():
                ids = [f"w{worker}-b{batch}-{j}" for j in range(20)]
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
                try:
                    r = client.post("/api/v1/events", json=body)
                except httpx2.HTTPError:
                    return
                if r.status_code == 202:
                    accepted.extend(ids)
                batch += 1

    threads = [threading.Thread(target=answers, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=events, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    proc.send_signal(signal.SIGKILL)  # mid-burst: requests are in flight
    proc.wait(30)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(answered) > 20
    assert len(accepted) > 100
    stored = {r for r in answered if ops.count(Response, Response.response_id == r) == 1}
    assert stored == set(answered)
    assert ops.count(InboxEvent) >= len(accepted)
    ops.close()
    synced = CliRunner().invoke(cli, ["--data-dir", str(data), "collect", "sync"])
    assert synced.exit_code == 0, synced.output
    with Workspace(data, read_only=True) as ws:
        feedback = {r[0] for r in ws.con.execute("SELECT feedback_id FROM feedback").fetchall()}
        n_feedback = ws.con.execute("SELECT count(*) FROM feedback").fetchall()[0][0]
        events = {r[0] for r in ws.con.execute("SELECT event_id FROM events").fetchall()}
        n_events = ws.con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert {f"survey-{r}" for r in answered} <= feedback
    assert n_feedback == len(feedback)  # no duplicates
    assert {f"pos:{e}" for e in accepted} <= events
    assert n_events == len(events)
