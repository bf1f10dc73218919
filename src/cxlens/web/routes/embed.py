"""The embeddable snippet for the web shop: a script that places the survey in an iframe, with a
plain link for browsers without JavaScript."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cxlens.collect.links import link
from cxlens.collect.responses import Context
from cxlens.web.deps import State

router = APIRouter(tags=["embed"])

SCRIPT = """(function () {
  var s = document.currentScript, f = document.createElement("iframe");
  f.src = %(url)s + (%(url)s.indexOf("?") < 0 ? "?" : "&") + "lang=" + encodeURIComponent(
    (s && s.getAttribute("data-lang")) || (navigator.language || "en").slice(0, 2));
  f.title = %(title)s;
  f.loading = "lazy";
  f.style.cssText = "width:100%%;max-width:40rem;height:36rem;border:0";
  s.parentNode.insertBefore(f, s.nextSibling);
})();
"""


@router.get("/embed/{survey_id}.js", summary="Script that embeds a survey in a web page")
def embed_script(
    state: State,
    request: Request,
    survey_id: str,
    store: Annotated[str | None, Query(max_length=256)] = None,
    tp: Annotated[str | None, Query(max_length=256)] = None,
    ch: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """JavaScript that inserts an iframe with the survey after the script tag."""
    survey = state.collector.survey(survey_id)
    Context(store_id=store, touchpoint=tp, channel=ch).check(state.collector.journey)
    url = link(state.base_url(request), "s", survey_id, store=store, tp=tp, ch=ch or "web")
    body = SCRIPT % {
        "url": json.dumps(url),
        "title": json.dumps(survey.text(survey.title, survey.default_locale)),
    }
    return Response(body, media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"})
