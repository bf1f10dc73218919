"""The survey API: definitions (read publicly; written with the API token), links, QR and
snippet URLs, and JSON responses from apps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from cxlens.collect.links import link, snippet
from cxlens.collect.responses import Context
from cxlens.collect.surveys import Survey, survey_from_dict, to_json
from cxlens.web.deps import ApiToken, RateLimited, State

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])


class ResponseIn(BaseModel):
    """A complete response sent as JSON: answers by question id, plus where it was given."""

    answers: dict[str, Any]
    language: str | None = Field(default=None, max_length=16)
    store_id: str | None = Field(default=None, max_length=256)
    touchpoint: str | None = Field(default=None, max_length=256)
    channel: str | None = Field(default=None, max_length=64)
    anonymous_id: str | None = Field(default=None, max_length=256)
    order_id: str | None = Field(default=None, max_length=256)


@router.get("", summary="List the surveys")
def list_surveys(state: State) -> list[dict[str, Any]]:
    """Id, version and whether each survey is active."""
    return [{"id": r.survey_id, "version": r.version, "active": r.active} for r in state.collector.surveys()]


@router.get("/{survey_id}", summary="A survey definition")
def get_survey(state: State, survey_id: str) -> dict[str, Any]:
    """The validated definition as JSON."""
    return to_json(state.collector.survey(survey_id))


@router.put("/{survey_id}", dependencies=[ApiToken], summary="Create or replace a survey")
def put_survey(state: State, survey_id: str, definition: Annotated[dict[str, Any], Body()]) -> JSONResponse:
    """Validate and store a definition (a new version when it exists); errors name each field."""
    try:
        survey = Survey.model_validate({**definition, "id": survey_id})
    except ValidationError as exc:
        detail = [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, 422)
    saved = state.collector.save_survey(survey_from_dict(to_json(survey)), actor="api")
    return JSONResponse(to_json(saved), 201)


@router.get("/{survey_id}/links", summary="Links, QR codes and the snippet for a store and touchpoint")
def links(
    state: State,
    request: Request,
    survey_id: str,
    store: Annotated[str | None, Query(max_length=256)] = None,
    tp: Annotated[str | None, Query(max_length=256)] = None,
    ch: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, str]:
    """Everything needed to distribute a survey at one store and touchpoint."""
    survey = state.collector.survey(survey_id)
    Context(store_id=store, touchpoint=tp, channel=ch).check(state.collector.journey)
    base = state.base_url(request)
    params = {"store": store, "tp": tp, "ch": ch}
    return {
        "link": link(base, "s", survey_id, **params),
        "kiosk": link(base, "k", survey_id, **params),
        "qr_png": link(base, "qr/s", f"{survey_id}.png", **params),
        "qr_svg": link(base, "qr/s", f"{survey_id}.svg", **params),
        "snippet": snippet(base, survey_id, survey.text(survey.title, survey.default_locale), **params),
    }


@router.post("/{survey_id}/responses", dependencies=[RateLimited], summary="Submit a complete response")
async def post_response(state: State, survey_id: str, body: ResponseIn) -> JSONResponse:
    """Validate all answers at once (skip logic included); 422 with an error per question."""
    survey = state.collector.survey(survey_id)
    ctx = Context(
        store_id=body.store_id,
        touchpoint=body.touchpoint,
        channel=body.channel,
        anonymous_id=body.anonymous_id,
        order_id=body.order_id,
    )
    step, row = state.collector.json_response(survey, ctx, body.answers, language=body.language)
    if row is not None:
        await state.collector.save_async(row)
    if step.errors:
        detail = [{"loc": ["body", "answers", k], "msg": v, "type": v} for k, v in step.errors.items()]
        return JSONResponse({"detail": detail}, 422)
    return JSONResponse({"response_id": step.response_id, "status": "complete"}, 201)
