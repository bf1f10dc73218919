"""``GET /healthz``: whether the server is up and its exports keep up, for load balancers and
monitoring (503 when rows have waited more than a minute or exports keep failing)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cxlens.collect.outbox import export_lag
from cxlens.web.deps import State

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Health and export lag")
async def health(state: State) -> JSONResponse:
    """``ok`` (200), or ``late`` / ``failing`` (503) with the rows waiting and the last error."""
    lag = await run_in_threadpool(export_lag, state.ops)
    exporter = state.exporter
    failing = exporter is not None and exporter.failures > 0
    status = "failing" if failing else "late" if lag.late else "ok"
    body: dict[str, Any] = {
        "status": status,
        "export": {
            "running": exporter is not None,
            "responses_waiting": lag.responses_waiting,
            "events_waiting": lag.events_waiting,
            "oldest_seconds": round(lag.oldest_seconds, 1),
            "held": lag.held,
            "failures_in_a_row": exporter.failures if exporter else 0,
            "last_error": exporter.last_error if exporter else None,
        },
    }
    return JSONResponse(body, 200 if status == "ok" else 503, headers={"Cache-Control": "no-store"})
