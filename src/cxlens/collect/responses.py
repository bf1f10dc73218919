"""Survey responses in the operational store: the survey catalogue, links and invitations, and
the page-by-page answer flow (partial responses, one response per invitation token).

Web routes and the API are thin layers over :class:`Collector`; it knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cxlens.collect.inputs import printable, text_problem
from cxlens.collect.privacy import get_privacy
from cxlens.collect.surveys import Answer, Survey, survey_from_dict, to_json
from cxlens.journey.map import JourneyMap
from cxlens.model.schema import LANGUAGES, MAX_ID_CHARS
from cxlens.ops import Invitation, OpsStore, Response, SurveyRecord, get_collect_settings, utcnow

#: How long a survey definition is served from memory before it is read again.
CACHE_SECONDS = 2.0


class CollectError(ValueError):
    """A request the collection layer refuses; ``code`` is stable, ``fields`` names bad inputs."""

    def __init__(self, code: str, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = dict(fields or {})


class NotFoundError(CollectError):
    """No such survey, token or response."""


class AlreadyAnsweredError(CollectError):
    """The invitation or response is complete; a second submission is refused."""


@dataclass
class Context:
    """Where and about what a response is given: attached to the response and its feedback row."""

    store_id: str | None = None
    touchpoint: str | None = None
    channel: str | None = None
    customer_id: str | None = None
    anonymous_id: str | None = None
    order_id: str | None = None
    kiosk: bool = False

    def check(self, journey: JourneyMap) -> None:
        """Reject unknown touchpoints or channels and over-long ids (field errors, not a crash)."""
        errors: dict[str, str] = {}
        if self.touchpoint and self.touchpoint not in journey.touchpoint_ids:
            errors["touchpoint"] = f"unknown touchpoint {printable(self.touchpoint)!r}"
        if self.channel and self.channel not in journey.channel_ids:
            errors["channel"] = f"unknown channel {printable(self.channel)!r}"
        for name in ("store_id", "customer_id", "anonymous_id", "order_id", "touchpoint", "channel"):
            value = getattr(self, name)
            problem = text_problem(value, identifier=True) if value is not None else None
            if problem:
                errors[name] = problem
            elif value is not None and len(value) > MAX_ID_CHARS:
                errors[name] = f"longer than {MAX_ID_CHARS} characters"
        if errors:
            raise CollectError("bad_context", "the link names an unknown store context", errors)


@dataclass
class Step:
    """The outcome of submitting a page: where to go next, or the field errors to show."""

    response_id: str | None
    page: int
    done: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)


def new_id() -> str:
    """An unguessable id for responses and invitation tokens (URL-safe)."""
    return secrets.token_urlsafe(18)


def _language(value: str | None) -> str | None:
    return value if value in LANGUAGES else None


class Collector:
    """Survey catalogue, invitations and responses over one operational store."""

    def __init__(self, ops: OpsStore, journey: JourneyMap) -> None:
        self.ops = ops
        self.journey = journey
        self._cache: dict[str, tuple[float, Survey]] = {}

    # -- catalogue -----------------------------------------------------------------------------
    def save_survey(self, survey: Survey, *, actor: str = "system") -> Survey:
        """Add a survey or replace it with a new version (the version number goes up)."""
        Context(touchpoint=survey.touchpoint, channel=survey.channel).check(self.journey)
        with self.ops.session() as s:
            row = s.get(SurveyRecord, survey.id)
            if row is None:
                s.add(SurveyRecord(survey_id=survey.id, version=survey.version, definition=to_json(survey)))
                action = "survey.create"
            else:
                version = max(row.version + 1, survey.version)
                survey = survey_from_dict({**to_json(survey), "version": version})
                row.version, row.definition, row.updated_at, row.active = (
                    version,
                    to_json(survey),
                    utcnow(),
                    True,
                )
                action = "survey.update"
            self.ops.audit(s, action, "survey", survey.id, actor=actor, version=survey.version)
        self._cache.pop(survey.id, None)
        return survey

    def survey(self, survey_id: str) -> Survey:
        """The active survey ``survey_id`` (cached; a new version shows within ``CACHE_SECONDS``)."""
        cached = self._cache.get(survey_id)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        with self.ops.sessions() as s:
            row = s.get(SurveyRecord, survey_id[:128])
            if row is None or not row.active:
                raise NotFoundError("unknown_survey", f"there is no survey {survey_id!r}")
            survey = survey_from_dict(row.definition, f"survey {survey_id}")
        self._cache[survey_id] = (time.monotonic(), survey)
        return survey

    def surveys(self) -> list[SurveyRecord]:
        """Every survey record, by id."""
        with self.ops.sessions() as s:
            return list(s.scalars(select(SurveyRecord).order_by(SurveyRecord.survey_id)))

    # -- invitations ---------------------------------------------------------------------------
    def invite(
        self,
        survey_id: str,
        context: Context,
        *,
        language: str | None = None,
        trigger_id: str | None = None,
        event_id: str | None = None,
        send_via: str | None = None,
        contact: str | None = None,
        send_after: datetime | None = None,
        now: datetime | None = None,
    ) -> Invitation:
        """Create a personal invitation (one response per token)."""
        self.survey(survey_id)
        context.check(self.journey)
        now = now or utcnow()
        days = get_collect_settings().invitation_days
        inv = Invitation(
            token=new_id(),
            survey_id=survey_id,
            customer_id=context.customer_id,
            anonymous_id=context.anonymous_id,
            store_id=context.store_id,
            touchpoint=context.touchpoint,
            channel=context.channel,
            order_id=context.order_id,
            language=_language(language),
            trigger_id=trigger_id,
            event_id=event_id,
            send_via=send_via,
            contact=contact,
            created_at=now,
            expires_at=now + timedelta(days=days),
            send_after=send_after,
        )
        with self.ops.session() as s:
            s.add(inv)
        return inv

    def invitation(self, token: str) -> Invitation:
        """The invitation for a token, refusing unknown, expired and answered ones clearly."""
        with self.ops.sessions() as s:
            inv = s.get(Invitation, token[:64])
        if inv is None:
            raise NotFoundError("unknown_token", "this invitation link is not valid")
        if inv.responded_at is not None:
            raise AlreadyAnsweredError(
                "already_answered", "this invitation has already been answered; thank you"
            )
        if inv.expires_at is not None and inv.expires_at < utcnow():
            raise CollectError("expired", "this invitation has expired")
        return inv

    # -- responses -----------------------------------------------------------------------------
    def response_for_token(self, token: str) -> Response | None:
        """The response started with an invitation token, if any."""
        with self.ops.sessions() as s:
            return s.scalar(select(Response).where(Response.token == token))

    def response(self, response_id: str) -> Response:
        """A stored response."""
        with self.ops.sessions() as s:
            row = s.get(Response, response_id[:64])
        if row is None:
            raise NotFoundError("unknown_response", "this survey session is not known; please start again")
        return row

    def new_response(
        self,
        survey: Survey,
        context: Context,
        form: Mapping[str, Sequence[str]],
        *,
        language: str | None,
        token: str | None,
        all_pages: bool = False,
    ) -> tuple[Step, dict[str, Any] | None]:
        """Validate the first page (every page with ``all_pages``) and build the response row to
        :meth:`save`: the step, and the row (None when a page has field errors)."""
        context.check(self.journey)
        got, errors = survey.read_page(0, form, {})
        if errors:
            return Step(None, 0, errors=errors, answers=got), None
        answers = self._landing(survey, 0, got)
        nxt = survey.next_page(0, answers)
        while all_pages and nxt is not None:
            got, errors = survey.read_page(nxt, form, answers)
            if errors:
                return Step(None, nxt, errors=errors, answers={**answers, **got}), None
            answers.update(self._landing(survey, nxt, got))
            nxt = survey.next_page(nxt, answers)
        now = utcnow()
        row: dict[str, Any] = {
            "response_id": new_id(),
            "survey_id": survey.id,
            "survey_version": survey.version,
            "token": token,
            "status": "complete" if nxt is None else "partial",
            "page": 0 if nxt is None else nxt,
            "answers": dict(answers),
            "language": _language(language),
            "store_id": context.store_id,
            "touchpoint": context.touchpoint or survey.touchpoint,
            "channel": context.channel or survey.channel,
            "customer_id": context.customer_id,
            "anonymous_id": context.anonymous_id,
            "order_id": context.order_id,
            "kiosk": context.kiosk,
            "started_at": now,
            "updated_at": now,
            "submitted_at": now if nxt is None else None,
        }
        return Step(row["response_id"], row["page"], done=nxt is None, answers=answers), row

    def start(
        self,
        survey: Survey,
        context: Context,
        form: Mapping[str, Sequence[str]],
        *,
        language: str | None,
        token: str | None = None,
    ) -> Step:
        """Validate the first page and create the response (refused if the token was answered);
        returns once the response is committed."""
        step, row = self.new_response(survey, context, form, language=language, token=token)
        if row is not None:
            self.save(row)
        return step

    async def save_async(self, row: dict[str, Any]) -> None:
        """:meth:`save` for an event loop: waits for the group commit without holding a thread."""
        if row["token"] is None:
            await asyncio.wrap_future(self.ops.writer.insert(Response, [row]))
        else:
            await asyncio.to_thread(self.save, row)

    def save(self, row: dict[str, Any]) -> None:
        """Commit a new response: through the group-commit writer, or with its invitation (locked,
        marked answered when the response is complete) in a transaction of its own."""
        token = row["token"]
        if token is None:
            self.ops.writer.insert(Response, [row]).result()
            return
        try:
            with self.ops.session() as s:
                inv = s.get(Invitation, token, with_for_update=True)
                if inv is None or inv.responded_at is not None:
                    raise AlreadyAnsweredError(
                        "already_answered", "this invitation has already been answered; thank you"
                    )
                if row["status"] == "complete":
                    inv.responded_at = row["submitted_at"]
                s.add(Response(**row))
        except IntegrityError:
            raise AlreadyAnsweredError(
                "already_answered", "this invitation has already been answered; thank you"
            ) from None

    def submit_page(
        self, survey: Survey, response_id: str, page: int, form: Mapping[str, Sequence[str]]
    ) -> Step:
        """Validate a later page of a partial response, save it, and say what comes next."""
        with self.ops.session() as s:
            row = s.get(Response, response_id[:64], with_for_update=True)
            if row is None:
                raise NotFoundError(
                    "unknown_response", "this survey session is not known; please start again"
                )
            if row.status == "complete":
                raise AlreadyAnsweredError(
                    "already_answered", "this survey has already been submitted; thank you"
                )
            if row.status != "partial":
                raise CollectError("expired", "this survey session has expired")
            if page != row.page:
                return Step(response_id, row.page, errors={"_page": "stale_page"}, answers=dict(row.answers))
            answers = dict(row.answers)
            got, errors = survey.read_page(page, form, answers)
            if errors:
                return Step(response_id, page, errors=errors, answers={**answers, **got})
            got = self._landing(survey, page, got)
            for q in survey.pages[page]:
                answers.pop(q.id, None)
            answers.update(got)
            nxt = survey.next_page(page, answers)
            now = utcnow()
            row.answers, row.updated_at = answers, now
            if nxt is None:
                row.status, row.submitted_at = "complete", now
                if row.token is not None:
                    inv = s.get(Invitation, row.token)
                    if inv is not None:
                        inv.responded_at = now
            else:
                row.page = nxt
        return Step(response_id, row.page, done=nxt is None, answers=answers)

    def _landing(self, survey: Survey, page: int, got: dict[str, Answer]) -> dict[str, Answer]:
        """Text answers as they may be stored: redacted when the workspace asks for it."""
        privacy = get_privacy(self.ops)
        if not privacy.redact:
            return got
        texts = {q.id for q in survey.pages[page] if q.type == "text"}
        return {k: privacy.text(v) if k in texts and isinstance(v, str) else v for k, v in got.items()}  # type: ignore[misc]

    def json_response(
        self,
        survey: Survey,
        context: Context,
        answers: Mapping[str, Any],
        *,
        language: str | None = None,
        token: str | None = None,
    ) -> tuple[Step, dict[str, Any] | None]:
        """A complete response sent as JSON, validated like the form (page by page, skip logic
        included): the step and the row to :meth:`save` (None when there are errors)."""
        clean, errors = survey.check_answers(answers)
        if errors:
            return Step(None, 0, errors=errors, answers=clean), None
        form = {f"q_{k}": [str(v)] if not isinstance(v, list) else v for k, v in clean.items()}
        return self.new_response(survey, context, form, language=language, token=token, all_pages=True)

    def submit_json(
        self,
        survey: Survey,
        context: Context,
        answers: Mapping[str, Any],
        *,
        language: str | None = None,
        token: str | None = None,
    ) -> Step:
        """Store a complete response sent as JSON (apps, the web shop) in one write; nothing is
        stored when it has errors."""
        step, row = self.json_response(survey, context, answers, language=language, token=token)
        if row is not None:
            self.save(row)
        return step
