"""The public survey form: links (``/s``), kiosks (``/k``), invitations (``/t``) and the pages of
a started response (``/r``). Server-rendered, works without JavaScript; skip logic runs here."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cxlens.collect.links import link
from cxlens.collect.responses import Context, Step
from cxlens.collect.surveys import Answer, Survey
from cxlens.web.deps import AppState, RateLimited, State, rate_limit
from cxlens.web.i18n import LANGUAGE_NAMES, choose_locale, direction, ui
from cxlens.web.pages import message_page

router = APIRouter(tags=["forms"])

Store = Annotated[str | None, Query(max_length=256, description="Store id.")]
Touchpoint = Annotated[str | None, Query(alias="tp", max_length=256, description="Journey touchpoint.")]
Channel = Annotated[str | None, Query(alias="ch", max_length=64, description="Channel.")]
Lang = Annotated[str | None, Query(max_length=16, description="Locale, e.g. en, zh, ja.")]
HONEYPOT = "website"


def _locale(request: Request, survey: Survey, requested: str | None) -> str:
    return choose_locale(
        survey, requested, request.cookies.get("cxlens_lang"), request.headers.get("accept-language")
    )


def render(
    state: State,
    request: Request,
    survey: Survey,
    *,
    page: int,
    locale: str,
    action: str,
    answers: dict[str, Answer] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    kiosk: bool = False,
) -> Response:
    """Render one page of a survey in a locale, with earlier values and field errors."""
    answers = answers or {}
    t = ui(locale)
    questions = [q for q in survey.pages[page] if survey.visible(q, answers)]
    last = page == len(survey.pages) - 1
    base = request.url.remove_query_params("lang")
    switcher = [
        (loc, LANGUAGE_NAMES.get(loc, loc), str(base.include_query_params(lang=loc)))
        for loc in survey.locales
    ]
    response = state.templates.TemplateResponse(
        request,
        "survey.html.j2",
        {
            "survey": survey,
            "questions": questions,
            "tx": lambda texts: survey.text(texts, locale),
            "t": t,
            "locale": locale,
            "dir": direction(locale),
            "switcher": switcher,
            "action": action,
            "page": page,
            "pages": len(survey.pages),
            "answers": answers,
            "errors": {k: t.get(v, v) for k, v in (errors or {}).items() if not k.startswith("_")},
            "last": last,
            "kiosk": kiosk,
            "honeypot": HONEYPOT,
            "low_high": lambda q: (t[f"low_{q.type}"], t[f"high_{q.type}"]),
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie("cxlens_lang", locale, max_age=365 * 86400, samesite="lax")
    return response


async def _form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return fields


def _after(step: Step, lang: str) -> RedirectResponse:
    target = f"/r/{step.response_id}" + ("/done" if step.done else "")
    return RedirectResponse(f"{target}?{urlencode({'lang': lang})}", status_code=303)


def _spam(state: State, request: Request, fields: dict[str, list[str]], locale: str) -> Response | None:
    if any(v.strip() for v in fields.get(HONEYPOT, [])):
        return message_page(state, request, "spam", 400, locale)
    return None


@router.get("/s/{survey_id}", summary="Survey form for a link (per store and touchpoint)")
@router.get("/k/{survey_id}", summary="Survey form in kiosk mode (resets after each answer)")
def show(
    state: State,
    request: Request,
    survey_id: str,
    store: Store = None,
    tp: Touchpoint = None,
    ch: Channel = None,
    lang: Lang = None,
) -> Response:
    """First page of a survey for anyone with the link."""
    survey = state.collector.survey(survey_id)
    kiosk = request.url.path.startswith("/k/")
    ctx = Context(store_id=store, touchpoint=tp, channel=ch or ("kiosk" if kiosk else None), kiosk=kiosk)
    ctx.check(state.collector.journey)
    locale = _locale(request, survey, lang)
    action = link("", request.url.path.split("/")[1], survey_id, store=store, tp=tp, ch=ch)
    return render(state, request, survey, page=0, locale=locale, action=action, kiosk=kiosk)


def _too_long(where: str, name: str, value: str, limit: int) -> dict[str, Any]:
    return {
        "type": "string_too_long",
        "loc": (where, name),
        "msg": f"String should have at most {limit} characters",
        "input": value,
        "ctx": {"max_length": limit},
    }


def _start_params(request: Request, fields: dict[str, list[str]]) -> tuple[str | None, ...]:
    """``store``, ``tp``, ``ch`` from the query and ``lang`` from the form, refused (422) past
    their lengths like FastAPI's declared parameters would be."""
    values, errors = [], []
    for name, limit in (("store", 256), ("tp", 256), ("ch", 64)):
        value = request.query_params.get(name)
        if value is not None and len(value) > limit:
            errors.append(_too_long("query", name, value, limit))
        values.append(value)
    lang = fields["lang"][-1] if fields.get("lang") else None
    if lang is not None and len(lang) > 16:
        errors.append(_too_long("body", "lang", lang, 16))
    if errors:
        raise RequestValidationError(errors)
    return (*values, lang)


#: The parameters :func:`start` reads itself, documented as FastAPI would document them.
START_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "string", "maxLength": limit},
        }
        for name, limit, text in (
            ("store", 256, "Store id."),
            ("tp", 256, "Journey touchpoint."),
            ("ch", 64, "Channel."),
        )
    ],
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"lang": {"type": "string", "maxLength": 16}},
                    "additionalProperties": {"type": "string"},
                }
            }
        }
    },
}


@router.post("/s/{survey_id}", summary="Submit the first page of a link survey", openapi_extra=START_DOC)
@router.post("/k/{survey_id}", summary="Submit a kiosk survey page", openapi_extra=START_DOC)
async def start(request: Request, survey_id: str) -> Response:
    """Validate the first page and start a response (or re-show the page with field errors).

    The busiest route (every kiosk answer): it reads its parameters and checks the rate limit
    itself, without FastAPI's dependency solving, a fifth of its CPU (docs/collect.md)."""
    state: AppState = request.app.state.cx
    await rate_limit(request, state)
    fields = await _form(request)
    store, tp, ch, lang = _start_params(request, fields)
    survey = state.collector.survey(survey_id)
    kiosk = request.url.path.startswith("/k/")
    ctx = Context(store_id=store, touchpoint=tp, channel=ch or ("kiosk" if kiosk else None), kiosk=kiosk)
    locale = _locale(request, survey, lang)
    blocked = _spam(state, request, fields, locale)
    if blocked is not None:
        return blocked
    step, row = state.collector.new_response(survey, ctx, fields, language=locale, token=None)
    if row is not None:
        await state.collector.save_async(row)
    if step.errors:
        action = link("", request.url.path.split("/")[1], survey_id, store=store, tp=tp, ch=ch)
        return render(
            state,
            request,
            survey,
            page=0,
            locale=locale,
            action=action,
            answers=step.answers,
            errors=step.errors,
            status=422,
            kiosk=kiosk,
        )
    return _after(step, locale)


@router.get("/t/{token}", summary="Survey form for a personal invitation")
def show_invitation(state: State, request: Request, token: str, lang: Lang = None) -> Response:
    """First page for an invitation; a started one resumes, an answered one is refused (409)."""
    started = state.collector.response_for_token(token[:64])
    if started is not None and started.status == "partial":
        return RedirectResponse(f"/r/{started.response_id}", status_code=303)
    inv = state.collector.invitation(token)
    survey = state.collector.survey(inv.survey_id)
    locale = _locale(request, survey, lang or inv.language)
    return render(state, request, survey, page=0, locale=locale, action=f"/t/{token}")


@router.post("/t/{token}", dependencies=[RateLimited], summary="Submit the first page of an invitation")
async def start_invitation(
    state: State, request: Request, token: str, lang: Annotated[str | None, Form(max_length=16)] = None
) -> Response:
    """Start the invitation's one response; a second submission gets a clear refusal (409)."""
    inv = await run_in_threadpool(state.collector.invitation, token)
    survey = state.collector.survey(inv.survey_id)
    locale = _locale(request, survey, lang or inv.language)
    fields = await _form(request)
    blocked = _spam(state, request, fields, locale)
    if blocked is not None:
        return blocked
    ctx = Context(
        store_id=inv.store_id,
        touchpoint=inv.touchpoint,
        channel=inv.channel,
        customer_id=inv.customer_id,
        anonymous_id=inv.anonymous_id,
        order_id=inv.order_id,
    )
    step, row = state.collector.new_response(survey, ctx, fields, language=locale, token=inv.token)
    if row is not None:
        await state.collector.save_async(row)
    if step.errors:
        return render(
            state,
            request,
            survey,
            page=0,
            locale=locale,
            action=f"/t/{token}",
            answers=step.answers,
            errors=step.errors,
            status=422,
        )
    return _after(step, locale)


@router.get("/r/{response_id}", summary="The current page of a started response")
def show_page(state: State, request: Request, response_id: str, lang: Lang = None) -> Response:
    """Resume a partial response at its saved page."""
    row = state.collector.response(response_id)
    if row.status != "partial":
        return RedirectResponse(f"/r/{response_id}/done", status_code=303)
    survey = state.collector.survey(row.survey_id)
    locale = _locale(request, survey, lang or row.language)
    return render(
        state,
        request,
        survey,
        page=row.page,
        locale=locale,
        action=f"/r/{response_id}",
        answers=dict(row.answers),
        kiosk=row.kiosk,
    )


@router.post("/r/{response_id}", dependencies=[RateLimited], summary="Submit a later page")
async def submit_page(
    state: State,
    request: Request,
    response_id: str,
    page: Annotated[int, Form(ge=0, le=1000)],
    lang: Annotated[str | None, Form(max_length=16)] = None,
) -> Response:
    """Validate and save a page (the response stays partial until the last one)."""
    row = await run_in_threadpool(state.collector.response, response_id)
    survey = state.collector.survey(row.survey_id)
    locale = _locale(request, survey, lang or row.language)
    fields = await _form(request)
    blocked = _spam(state, request, fields, locale)
    if blocked is not None:
        return blocked
    step = await run_in_threadpool(state.collector.submit_page, survey, response_id, page, fields)
    if step.errors:
        status = 409 if "_page" in step.errors else 422
        return render(
            state,
            request,
            survey,
            page=step.page,
            locale=locale,
            action=f"/r/{response_id}",
            answers=step.answers,
            errors=step.errors,
            status=status,
            kiosk=row.kiosk,
        )
    return _after(step, locale)


@router.get("/r/{response_id}/done", summary="Thank-you page (kiosks go back to the start)")
def done(state: State, request: Request, response_id: str, lang: Lang = None) -> Response:
    """Thank the respondent; in kiosk mode the page returns to an empty form after a few seconds."""
    row = state.collector.response(response_id)
    survey = state.collector.survey(row.survey_id)
    locale = _locale(request, survey, lang or row.language)
    t = ui(locale)
    context: dict[str, Any] = {
        "t": t,
        "locale": locale,
        "dir": direction(locale),
        "code": "thanks",
        "message": survey.text(survey.thanks, locale) if survey.thanks else t["thanks"],
    }
    if row.kiosk:
        channel = None if row.channel == "kiosk" else row.channel
        context["restart"] = link(
            "", "k", row.survey_id, store=row.store_id, tp=row.touchpoint, ch=channel, lang=locale
        )
    return state.templates.TemplateResponse(request, "message.html.j2", context)
