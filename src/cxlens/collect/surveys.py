"""Survey definitions: questions (NPS, CSAT, CES, rating, choices, open text), skip logic, texts
per locale, pages, answer validation and the mapping of answers onto the ``feedback`` table.

Definitions are YAML or JSON validated with Pydantic; ready templates (post-purchase,
post-delivery, post-support, in-store) ship as YAML in ``collect/survey_templates/``. Skip logic
is evaluated on the server, so the form needs no JavaScript: a question whose condition looks at
an answer on the same page starts a new page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cxlens.collect.inputs import text_problem
from cxlens.model.schema import LANGUAGES

QuestionType = Literal["nps", "csat", "ces", "rating", "single", "multiple", "text"]
#: Locales every shipped template and the form's own texts are translated into.
LOCALES: tuple[str, ...] = ("en", "zh", "ja", "ko", "ru", "pt")
#: Languages written right to left (the form sets ``dir="rtl"`` for them).
RTL_LOCALES = frozenset({"ar", "he", "fa", "ur"})
#: Score scales (low, high) of the scored question types.
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 5)}
#: Feedback-table columns a question's answer can fill.
FeedbackColumn = Literal["nps", "csat", "ces", "rating", "text", "title"]
TEMPLATE_NAMES: tuple[str, ...] = ("post_purchase", "post_delivery", "post_support", "in_store")
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

Texts = dict[str, str]
Answer = int | str | list[str]


class SurveyError(ValueError):
    """A survey definition that does not validate; the message names each bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_locales(texts: Texts, where: str) -> None:
    for key in texts:
        if key not in LANGUAGES or key == "other":
            raise ValueError(f"{where}: unknown locale {key!r}; use ISO 639-1 codes such as en, zh, ja")


class Condition(_Strict):
    """Show a question only when an earlier answer meets this condition."""

    question: str
    op: Literal["answered", "eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"] = "answered"
    value: int | str | list[int | str] | None = None

    @model_validator(mode="after")
    def _value_needed(self) -> Condition:
        if self.op != "answered" and self.value is None:
            raise ValueError(f"op {self.op!r} needs a value")
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list value")
        return self

    def holds(self, answers: Mapping[str, Answer]) -> bool:
        """Whether the condition is true for these answers (an unanswered question fails all but ne)."""
        got = answers.get(self.question)
        if got is None or got == [] or got == "":
            return self.op == "ne"
        values = got if isinstance(got, list) else [got]
        want = self.value
        if self.op == "answered":
            return True
        if self.op == "in":
            return any(v in want for v in values) if isinstance(want, list) else False
        if self.op == "not_in":
            return all(v not in want for v in values) if isinstance(want, list) else True
        if self.op == "eq":
            return want in values
        if self.op == "ne":
            return want not in values
        if not isinstance(got, int) or not isinstance(want, int):
            return False
        return {"lt": got < want, "lte": got <= want, "gt": got > want, "gte": got >= want}[self.op]


class Choice(_Strict):
    """One option of a single or multiple choice question."""

    id: str = Field(pattern=ID_PATTERN)
    text: Texts

    @model_validator(mode="after")
    def _locales(self) -> Choice:
        _check_locales(self.text, f"choice {self.id}")
        return self


class Question(_Strict):
    """One question: its type, texts per locale, whether it is required and when it is shown."""

    id: str = Field(pattern=ID_PATTERN)
    type: QuestionType
    text: Texts
    help: Texts = Field(default_factory=dict)
    required: bool = False
    choices: tuple[Choice, ...] = ()
    show_if: Condition | None = None
    max_length: int = Field(default=5000, ge=1, le=100_000)
    feedback_column: FeedbackColumn | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        _check_locales(self.text, f"question {self.id}")
        if self.type in ("single", "multiple") and len(self.choices) < 2:
            raise ValueError(f"question {self.id}: a {self.type} choice question needs at least 2 choices")
        if self.type not in ("single", "multiple") and self.choices:
            raise ValueError(f"question {self.id}: only choice questions have choices")
        ids = [c.id for c in self.choices]
        if len(ids) != len(set(ids)):
            raise ValueError(f"question {self.id}: duplicate choice ids")
        if self.feedback_column in SCALES and self.feedback_column != self.type:
            raise ValueError(f"question {self.id}: a {self.type} answer cannot fill {self.feedback_column}")
        if self.feedback_column in ("text", "title") and self.type != "text":
            raise ValueError(f"question {self.id}: only text answers can fill {self.feedback_column}")
        return self

    @property
    def scale(self) -> tuple[int, int] | None:
        """(low, high) for scored questions, else None."""
        return SCALES.get(self.type)

    def parse(self, raw: Sequence[str]) -> tuple[Answer | None, str | None]:
        """Turn submitted form values into an answer; return (answer, error code or None)."""
        values = [v.strip() for v in raw if v is not None and v.strip() != ""]
        if not values:
            return None, ("required" if self.required else None)
        if self.type == "multiple":
            known = {c.id for c in self.choices}
            if any(v not in known for v in values) or len(set(values)) != len(values):
                return None, "invalid_choice"
            return values, None
        if len(values) > 1:
            return None, "one_value"
        value = values[0]
        if self.type == "text":
            if text_problem(value):
                return None, "invalid_characters"
            return (value, None) if len(value) <= self.max_length else (None, "too_long")
        if self.type == "single":
            return (value, None) if value in {c.id for c in self.choices} else (None, "invalid_choice")
        low, high = self.scale or (0, 0)
        try:
            number = int(value)
        except ValueError:
            return None, "not_a_number"
        if not low <= number <= high:
            return None, "out_of_range"
        return number, None

    def check(self, answer: Any) -> tuple[Answer | None, str | None]:
        """Validate an answer given as JSON (API clients): the same rules as the form."""
        if answer is None:
            return self.parse([])
        if isinstance(answer, bool):
            return None, "not_a_number" if self.scale else "invalid_choice"
        if isinstance(answer, list):
            if self.type != "multiple" or not all(isinstance(a, str) for a in answer):
                return None, "one_value"
            return self.parse(answer)
        if isinstance(answer, float) and answer.is_integer():
            answer = int(answer)
        if isinstance(answer, int | str):
            return self.parse([str(answer)])
        return None, "invalid_choice"


class Survey(_Strict):
    """A survey: id, texts per locale, the questions in order and their skip logic."""

    id: str = Field(pattern=ID_PATTERN)
    version: int = Field(default=1, ge=1)
    title: Texts
    intro: Texts = Field(default_factory=dict)
    thanks: Texts = Field(default_factory=dict)
    default_locale: str = "en"
    touchpoint: str | None = None
    channel: str | None = None
    questions: tuple[Question, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Survey:
        _check_locales(self.title, "title")
        if self.default_locale not in self.title:
            raise ValueError(f"title: no text in the default locale {self.default_locale!r}")
        seen: dict[str, Question] = {}
        for q in self.questions:
            if q.id in seen:
                raise ValueError(f"questions: duplicate id {q.id!r}")
            if self.default_locale not in q.text:
                raise ValueError(f"question {q.id}: no text in the default locale {self.default_locale!r}")
            if q.show_if is not None:
                target = seen.get(q.show_if.question)
                if target is None:
                    raise ValueError(
                        f"question {q.id}: show_if refers to {q.show_if.question!r}, "
                        "which is not an earlier question"
                    )
                wanted = q.show_if.value if isinstance(q.show_if.value, list) else [q.show_if.value]
                if target.choices and q.show_if.op != "answered":
                    known = {c.id for c in target.choices}
                    bad = [w for w in wanted if w not in known]
                    if bad:
                        raise ValueError(f"question {q.id}: show_if names unknown choices {bad}")
            seen[q.id] = q
        for column in ("nps", "csat", "ces", "rating", "title"):
            if sum(1 for q in self.questions if self.column_of(q) == column) > 1:
                raise ValueError(f"questions: more than one question fills feedback.{column}")
        return self

    def column_of(self, question: Question) -> str | None:
        """The feedback column a question fills: its own setting, else nps/csat/ces/rating by type,
        else ``text`` for every open-text question (their answers are joined)."""
        if question.feedback_column:
            return question.feedback_column
        if question.type in SCALES:
            return question.type
        return "text" if question.type == "text" else None

    @cached_property
    def locales(self) -> tuple[str, ...]:
        """Locales in which the title and every question are translated."""
        found = [loc for loc in self.title if all(loc in q.text for q in self.questions)]
        return tuple(
            sorted(found, key=lambda x: (x != self.default_locale, LOCALES.index(x) if x in LOCALES else 99))
        )

    def text(self, texts: Texts, locale: str) -> str:
        """A text in the locale, falling back to the default locale."""
        return texts.get(locale) or texts.get(self.default_locale) or next(iter(texts.values()), "")

    def question(self, question_id: str) -> Question:
        """The question with this id."""
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)

    @cached_property
    def pages(self) -> tuple[tuple[Question, ...], ...]:
        """Questions in pages: a question whose condition looks at the current page starts a new one."""
        pages: list[list[Question]] = [[]]
        for q in self.questions:
            if q.show_if is not None and any(p.id == q.show_if.question for p in pages[-1]):
                pages.append([])
            pages[-1].append(q)
        return tuple(tuple(p) for p in pages)

    def visible(self, question: Question, answers: Mapping[str, Answer]) -> bool:
        """Whether a question is shown given the earlier answers."""
        return question.show_if is None or question.show_if.holds(answers)

    def next_page(self, after: int, answers: Mapping[str, Answer]) -> int | None:
        """The next page with a visible question after page ``after``, or None when done."""
        for index in range(after + 1, len(self.pages)):
            if any(self.visible(q, answers) for q in self.pages[index]):
                return index
        return None

    def read_page(
        self, index: int, form: Mapping[str, Sequence[str]], answers: Mapping[str, Answer]
    ) -> tuple[dict[str, Answer], dict[str, str]]:
        """Validate one submitted page (form fields ``q_<id>``); return (its answers, errors by question)."""
        got: dict[str, Answer] = {}
        errors: dict[str, str] = {}
        for q in self.pages[index]:
            if not self.visible(q, {**answers, **got}):
                continue
            value, error = q.parse(form.get(f"q_{q.id}", []))
            if error:
                errors[q.id] = error
            elif value is not None:
                got[q.id] = value
        return got, errors

    def check_answers(self, answers: Mapping[str, Any]) -> tuple[dict[str, Answer], dict[str, str]]:
        """Validate a whole set of answers given as JSON; unknown and hidden questions are errors."""
        known = {q.id for q in self.questions}
        errors = {k: "unknown_question" for k in answers if k not in known}
        clean: dict[str, Answer] = {}
        for q in self.questions:
            if not self.visible(q, clean):
                if answers.get(q.id) is not None:
                    errors[q.id] = "not_shown"
                continue
            value, error = q.check(answers.get(q.id))
            if error:
                errors[q.id] = error
            elif value is not None:
                clean[q.id] = value
        return clean, errors

    def feedback_values(self, answers: Mapping[str, Answer]) -> dict[str, Any]:
        """The feedback-table columns these answers fill (scores, title, open texts joined)."""
        values: dict[str, Any] = {}
        texts: list[str] = []
        for q in self.questions:
            answer = answers.get(q.id)
            column = self.column_of(q)
            if answer is None or column is None:
                continue
            if column == "text":
                texts.append(str(answer))
            else:
                values[column] = answer
        if texts:
            values["text"] = "\n\n".join(texts)
        return values


def _format_error(source: str, err: ValidationError) -> str:
    lines = [f"{source}: invalid survey definition:"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(survey)"
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def survey_from_dict(data: Any, source: str = "<survey>") -> Survey:
    """Validate a parsed definition, raising :class:`SurveyError` that names every bad field."""
    try:
        return Survey.model_validate(data)
    except ValidationError as err:
        raise SurveyError(_format_error(source, err)) from None


def parse_survey(text: str, source: str = "<string>") -> Survey:
    """Parse a survey from YAML or JSON text (JSON is YAML)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SurveyError(f"{source}: not valid YAML/JSON: {exc}") from None
    return survey_from_dict(data, source)


def load_survey(path: str | Path) -> Survey:
    """Read a survey definition file (.yaml, .yml or .json)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SurveyError(f"{p}: cannot read: {exc.strerror}") from None
    return parse_survey(text, str(p))


def template(name: str, survey_id: str | None = None) -> Survey:
    """A ready survey: ``post_purchase``, ``post_delivery``, ``post_support`` or ``in_store``."""
    if name not in TEMPLATE_NAMES:
        raise SurveyError(f"unknown template {name!r}; choose one of {', '.join(TEMPLATE_NAMES)}")
    text = resources.files("cxlens.collect").joinpath("survey_templates", f"{name}.yaml").read_text("utf-8")
    survey = parse_survey(text, f"template {name}")
    return survey_from_dict({**to_json(survey), "id": survey_id}, f"template {name}") if survey_id else survey


def to_json(survey: Survey) -> dict[str, Any]:
    """The definition as plain JSON data (what the operational store keeps)."""
    return json.loads(survey.model_dump_json(exclude_defaults=True))
