"""``POST /api/v1/events``: batches of JSON events from a source with a write key, each validated
on its own, idempotent by (source, event_id)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cxlens.collect.events_api import MAX_BATCH, accept_events_async
from cxlens.collect.inputs import InputError, parse_json
from cxlens.collect.sources import source_for_key
from cxlens.web.deps import State, too_many
from cxlens.web.guard import CHECKED_JSON

router = APIRouter(prefix="/api/v1", tags=["events"])
MAX_BODY = 10 * 1024 * 1024


def _envelope_error(msg: str, loc: list[str | int], status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg}]}, status)


def _write_key(request: Request) -> str:
    key = request.headers.get("x-write-key", "")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key


@router.post("/events", summary="Collect a batch of events")
async def collect_events(state: State, request: Request) -> JSONResponse:
    """Body: ``{"events": [...]}`` or a JSON array, with the source's write key in
    ``X-Write-Key`` (or ``Authorization: Bearer cxw_...``). 202 when all are stored or already
    known, 207 when some are rejected, 422 when none is usable; every rejected event lists its
    field errors. 401 without a valid key; 429 past the source's batches per minute."""
    source = await run_in_threadpool(source_for_key, state.ops, _write_key(request))
    if source is None:
        return JSONResponse(
            {"detail": "send an event source's write key in X-Write-Key (cxlens collect sources add)"},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    assert state.limits is not None
    if not state.limits.events.spend_leased(source.source_id):
        wait = await run_in_threadpool(state.limits.events.hit, source.source_id)
        if wait is not None:
            raise too_many(wait, "event batches")
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return _envelope_error(f"body larger than {MAX_BODY:,} bytes", ["body"], 413)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _envelope_error(f"body larger than {MAX_BODY:,} bytes", ["body"], 413)
    data: Any = getattr(request.state, CHECKED_JSON, None)
    if data is None:  # not checked at the door (not JSON-looking): parse here
        try:
            data = parse_json(raw)
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
    results = await accept_events_async(state.ops, state.collector.journey, events, source.source_id)
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
