"""``POST /api/v1/events``: batches of JSON events, each validated on its own, idempotent by event_id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cxlens.collect.events_api import MAX_BATCH, accept_events
from cxlens.collect.inputs import InputError, parse_json
from cxlens.web.deps import RateLimited, State

router = APIRouter(prefix="/api/v1", tags=["events"])
MAX_BODY = 10 * 1024 * 1024


def _envelope_error(msg: str, loc: list[str | int], status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg}]}, status)


@router.post("/events", dependencies=[RateLimited], summary="Collect a batch of events")
async def collect_events(state: State, request: Request) -> JSONResponse:
    """Body: ``{"events": [...]}`` or a JSON array. 202 when all are stored or already known,
    207 when some are rejected, 422 when none is usable; every rejected event lists its field errors."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return _envelope_error(f"body larger than {MAX_BODY:,} bytes", ["body"], 413)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _envelope_error(f"body larger than {MAX_BODY:,} bytes", ["body"], 413)
    try:
        data: Any = parse_json(raw)
    except InputError as exc:
        return _envelope_error(str(exc), exc.loc)
    events = data.get("events") if isinstance(data, dict) else data
    if not isinstance(events, list):
        return _envelope_error(
            "expected a list of events, or an object with an 'events' list", ["body", "events"]
        )
    if not events:
        return _envelope_error("the batch is empty", ["body", "events"])
    if len(events) > MAX_BATCH:
        return _envelope_error(f"at most {MAX_BATCH} events per batch", ["body", "events"])
    results = await run_in_threadpool(accept_events, state.ops, state.collector.journey, events)
    counts = {s: sum(1 for r in results if r.status == s) for s in ("accepted", "duplicate", "rejected")}
    status = 202 if not counts["rejected"] else 422 if counts["rejected"] == len(results) else 207
    body = {
        **counts,
        "results": [
            {"index": r.index, "event_id": r.event_id, "status": r.status}
            | ({"errors": [{"field": k, "msg": v} for k, v in r.errors.items()]} if r.errors else {})
            for r in results
        ],
    }
    return JSONResponse(body, status)
