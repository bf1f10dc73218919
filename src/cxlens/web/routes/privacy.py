"""The privacy admin API: one customer's data exported (right of access) or erased (right to
erasure), and the erasure receipts. Admins only (API key, or a session echoing its CSRF token in
``X-CSRF-Token``); every call is audited with the admin's name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from cxlens.web.auth import AdminApiUser
from cxlens.web.deps import State

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])
CustomerId = Annotated[str, Path(min_length=1, max_length=256, description="The customer's id.")]


@router.get("/customers/{customer_id}", summary="Everything held about one customer (access)")
async def export(state: State, who: AdminApiUser, customer_id: CustomerId) -> JSONResponse:
    """The customer's data from both stores, in the layout of docs/security.md (404 when nothing
    is held about them); sent as an attachment, so the export is audited with the admin's name."""
    from cxlens.privacy.export import export_customer, holds_anything

    document = await run_in_threadpool(export_customer, state.workspace, state.ops, customer_id)
    if not holds_anything(document):
        raise HTTPException(404, "nothing is held about this customer")
    headers = {
        "Content-Disposition": 'attachment; filename="customer-export.json"',
        "Cache-Control": "no-store",
    }
    return JSONResponse(document, headers=headers)


@router.post("/customers/{customer_id}/erase", summary="Erase one customer everywhere")
async def erase(
    state: State,
    who: AdminApiUser,
    customer_id: CustomerId,
    reference: Annotated[
        str | None, Body(embed=True, max_length=256, description="The request it answers (a ticket number).")
    ] = None,
) -> dict[str, Any]:
    """Erase the customer from both stores, old file versions and caches; the receipt (no personal
    data) is returned and audited."""
    from cxlens.privacy.erase import erase_customer

    receipt = await run_in_threadpool(
        lambda: erase_customer(
            state.workspace, state.ops, customer_id, actor=who.username, reference=reference
        )
    )
    return receipt.to_dict()


@router.get("/erasures", summary="The latest erasure receipts")
async def receipts(state: State, who: AdminApiUser) -> list[dict[str, Any]]:
    """Receipts of the latest erasures, newest first."""
    from cxlens.privacy.erase import erasures

    return await run_in_threadpool(erasures, state.ops)
