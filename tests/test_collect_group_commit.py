"""Group commit of survey answers and events (``cxlens.ops.batch``), on SQLite and PostgreSQL:
concurrent requests share one commit, each is answered only after its rows are committed, one
bad write fails alone, a store failure fails its whole batch and the writer goes on, a request
whose client left before its turn is not written, and closing the store writes what is queued."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from cxlens.collect.events_api import accept_events
from cxlens.collect.responses import Collector, Context
from cxlens.collect.surveys import template
from cxlens.journey.map import load_journey_map
from cxlens.ops import InboxEvent, OpsStore, Response
from cxlens.ops.batch import GroupCommit
from cxlens.ops.models import RateBucket
from cxlens.storage.workspace import Workspace
from cxlens.web.app import create_app
from cxlens.web.ratelimit import RateLimiter
from cxlens.web.settings import WebSettings


@pytest.fixture
def collector(ops: OpsStore) -> Collector:
    col = Collector(ops, load_journey_map())
    col.save_survey(template("in_store"))
    col.save_survey(template("post_purchase"))
    return col


@contextmanager
def held(writer: GroupCommit) -> Iterator[threading.Event]:
    """Hold the writer inside its next transaction until the event is set, so that what is
    queued meanwhile is written together in the transaction after it."""
    gate, inside = threading.Event(), threading.Event()
    write = writer._write

    def gated(batch: Any) -> Any:
        inside.set()
        gate.wait(30)
        return write(batch)

    writer._write = gated  # type: ignore[method-assign]
    try:
        yield gate
    finally:
        gate.set()
        del writer._write


def answer(collector: Collector, nps: int) -> dict[str, Any]:
    """A valid kiosk answer's row, ready for the writer."""
    survey = collector.survey("in_store")
    ctx = Context(store_id="S1", channel="kiosk", kiosk=True)
    step, row = collector.new_response(survey, ctx, {"q_nps": [str(nps)]}, language="en", token=None)
    assert row is not None
    assert step.done
    return row


def wait_inside(writer: GroupCommit, first: Future[Any]) -> None:
    """Wait until the writer has taken ``first`` (and is held in its transaction)."""
    until(first.running, "the writer did not take the first write")


def wait_queued(writer: GroupCommit, n: int) -> None:
    """Wait until ``n`` writes wait in the writer's queue."""
    until(lambda: writer._queue.qsize() >= n, f"{n} writes were not queued")


def until(condition: Any, failure: str) -> None:
    for _ in range(6000):
        if condition():
            return
        threading.Event().wait(0.01)
    pytest.fail(failure)


def test_concurrent_answers_share_commits_and_each_is_stored(collector: Collector) -> None:
    survey = collector.survey("in_store")
    ctx = Context(store_id="S1", channel="kiosk", kiosk=True)
    writer = collector.ops.writer
    steps: list[str | None] = []

    def submit(nps: int) -> None:
        steps.append(collector.start(survey, ctx, {"q_nps": [str(nps)]}, language="en").response_id)

    with held(writer) as gate:
        first = writer.insert(Response, [answer(collector, 10)])
        wait_inside(writer, first)
        threads = [threading.Thread(target=submit, args=(i % 11,)) for i in range(24)]
        for t in threads:
            t.start()
        wait_queued(writer, 24)
        assert steps == []  # nobody is answered before the commit
        gate.set()
        for t in threads:
            t.join()
    first.result(timeout=30)
    assert len(steps) == 24
    assert None not in steps
    with collector.ops.sessions() as s:
        stored = set(s.scalars(text("SELECT response_id FROM responses WHERE survey_id = 'in_store'")))
    assert stored >= set(steps)
    assert len(stored) == 25
    assert writer.commits == 2  # the held one, then the 24 together
    assert writer.rows == 25


def test_a_bad_write_fails_alone_and_the_rest_of_its_batch_is_stored(collector: Collector) -> None:
    ops, writer = collector.ops, collector.ops.writer
    existing = answer(collector, 9)
    writer.insert(Response, [existing]).result(timeout=30)
    with held(writer) as gate:
        first = writer.insert(Response, [answer(collector, 1)])
        wait_inside(writer, first)
        good = [writer.insert(Response, [answer(collector, n)]) for n in (2, 3)]
        bad = writer.insert(Response, [{**answer(collector, 4), "response_id": existing["response_id"]}])
        more = writer.insert(Response, [answer(collector, 5)])
        gate.set()
    for f in (first, *good, more):
        assert f.result(timeout=30) is None
    with pytest.raises(IntegrityError):
        bad.result(timeout=30)
    assert ops.count(Response, Response.survey_id == "in_store") == 5


def test_a_store_failure_fails_the_whole_batch_and_the_writer_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXLENS_OPS_BUSY_TIMEOUT", "0.2")
    ops = OpsStore(data_dir=tmp_path)
    collector = Collector(ops, load_journey_map())
    collector.save_survey(template("in_store"))
    blocker = sqlite3.connect(tmp_path / "cxlens-ops.sqlite", timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with held(ops.writer) as gate:
            first = ops.writer.insert(Response, [answer(collector, 1)])
            wait_inside(ops.writer, first)
            queued = [ops.writer.insert(Response, [answer(collector, n)]) for n in (2, 3)]
            gate.set()
        for f in (first, *queued):
            with pytest.raises(OperationalError, match="locked"):
                f.result(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
    ops.writer.insert(Response, [answer(collector, 7)]).result(timeout=30)
    assert ops.count(Response) == 1
    ops.close()


def test_a_request_whose_client_left_before_its_turn_is_not_written(collector: Collector) -> None:
    ops, writer = collector.ops, collector.ops.writer
    with held(writer) as gate:
        first = writer.insert(Response, [answer(collector, 1)])
        wait_inside(writer, first)
        gone = writer.insert(Response, [answer(collector, 2)])
        assert gone.cancel()  # what asyncio does to the future when the request is cancelled
        stays = writer.insert(Response, [answer(collector, 3)])
        gate.set()
    first.result(timeout=30)
    stays.result(timeout=30)
    assert ops.count(Response) == 2


def test_closing_the_store_writes_what_is_queued(tmp_path: Path) -> None:
    ops = OpsStore(data_dir=tmp_path)
    collector = Collector(ops, load_journey_map())
    collector.save_survey(template("in_store"))
    writer = ops.writer
    futures = [writer.insert(Response, [answer(collector, i % 11)]) for i in range(200)]
    ops.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with OpsStore(data_dir=tmp_path) as again:
        assert again.count(Response) == 200
    with pytest.raises(RuntimeError, match="closed"):
        writer.insert(Response, [answer(collector, 1)])


def test_one_event_sent_twice_in_one_commit_is_accepted_once(ops: OpsStore) -> None:
    journey = load_journey_map()

    def batch(ids: range) -> list[dict[str, Any]]:
        return [
            {
                "event_id": f"e{i}",
                "occurred_at": "2026-11-20T10:00:00Z",
                "anonymous_id": "dev-1",
                "channel": "web",
                "event_type": "page_view",
            }
            for i in ids
        ]

    def send(ids: range) -> None:
        outcomes.append([r.status for r in accept_events(ops, journey, batch(ids), "pos")])

    accept_events(ops, journey, batch(range(0, 5)), "pos")  # e0-e4 stored before
    outcomes: list[list[str]] = []
    with held(ops.writer) as gate:
        first = ops.writer.insert(RateBucket, [{"key": "hold", "tat": 0.0}])  # to hold the writer on
        wait_inside(ops.writer, first)
        threads = [threading.Thread(target=send, args=(r,)) for r in (range(3, 10), range(8, 15))]
        for t in threads:
            t.start()
        wait_queued(ops.writer, 2)
        gate.set()
        for t in threads:
            t.join()
    statuses = sorted(s for o in outcomes for s in o)
    # e3, e4 were stored before; e8 and e9 are in both batches: accepted once, duplicate once
    assert statuses.count("accepted") == 10  # e5-e14
    assert statuses.count("duplicate") == 4  # e3, e4, and the second e8 and e9
    assert ops.count(InboxEvent) == 15
    assert ops.count(InboxEvent, InboxEvent.event_id == "pos:e8") == 1


def test_a_complete_json_answer_to_a_multi_page_survey_is_one_write(collector: Collector) -> None:
    survey = collector.survey("post_purchase")
    commits = collector.ops.writer.commits
    step = collector.submit_json(survey, Context(store_id="S1"), {"nps": 3, "improve": "Faster tills"})
    assert step.done
    assert not step.errors
    assert step.response_id
    row = collector.response(step.response_id)
    assert (row.status, row.answers) == ("complete", {"nps": 3, "improve": "Faster tills"})
    assert collector.ops.writer.commits == commits + 1
    bad = collector.submit_json(survey, Context(store_id="S1"), {"nps": 3, "mattered": "x"})
    assert bad.errors
    assert bad.response_id is None
    assert collector.ops.count(Response) == 1  # nothing stored for the refused one


def test_concurrent_first_hits_on_a_new_rate_limit_key_all_pass(ops: OpsStore) -> None:
    limiter = RateLimiter(1000, ops=ops, name="race")
    barrier = threading.Barrier(8)
    waits: list[float | None] = []
    errors: list[BaseException] = []

    def hit() -> None:
        barrier.wait()
        try:
            waits.append(limiter.hit("203.0.113.9"))
        except Exception as exc:  # the old insert race: a unique-key error, answered 500
            errors.append(exc)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert waits == [None] * 8


def test_sqlite_durability_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for value, code in (("NORMAL", 1), ("FULL", 2)):
        monkeypatch.setenv("CXLENS_OPS_SYNCHRONOUS", value)
        with OpsStore(data_dir=tmp_path) as ops, ops.engine.connect() as con:
            assert con.execute(text("PRAGMA synchronous")).scalar() == code
            assert con.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_the_kiosk_post_checks_its_parameters_as_before(workspace: Workspace, tmp_path: Path) -> None:
    ops = OpsStore(data_dir=tmp_path)
    app = create_app(WebSettings(rate_limit=2, warm_cache=False), workspace, ops=ops, export=False)
    app.state.cx.collector.save_survey(template("in_store"))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        long = client.post("/k/in_store?store=" + "s" * 257, data={"q_nps": "9"})
        assert long.status_code == 422
        assert long.json()["detail"][0]["loc"] == ["query", "store"]
        lang = client.post("/k/in_store", data={"q_nps": "9", "lang": "x" * 17})
        assert lang.status_code == 422
        assert lang.json()["detail"][0]["loc"] == ["body", "lang"]
        assert client.post("/k/in_store?ch=web", data={"q_nps": "9"}).status_code == 429  # 2 a minute
        spec = client.get("/openapi.json").json()["paths"]["/k/{survey_id}"]["post"]
        assert {p["name"] for p in spec["parameters"]} >= {"survey_id", "store", "tp", "ch"}
    ops.close()
