"""Survey definitions: validation errors that name the field, templates in six locales, pages and
skip logic, answer parsing, and the mapping onto the feedback table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cxlens.collect.surveys import (
    LOCALES,
    TEMPLATE_NAMES,
    Survey,
    SurveyError,
    load_survey,
    parse_survey,
    template,
    to_json,
)

SMALL = {
    "id": "small",
    "title": {"en": "Small", "ar": "صغير"},
    "questions": [
        {"id": "score", "type": "nps", "required": True, "text": {"en": "Recommend?", "ar": "توصية؟"}},
        {
            "id": "why",
            "type": "text",
            "text": {"en": "Why?", "ar": "لماذا؟"},
            "show_if": {"question": "score", "op": "lte", "value": 6},
        },
        {
            "id": "pick",
            "type": "multiple",
            "text": {"en": "Pick"},
            "choices": [{"id": "a", "text": {"en": "A"}}, {"id": "b", "text": {"en": "B"}}],
        },
    ],
}


def test_templates_exist_in_every_locale_and_round_trip() -> None:
    for name in TEMPLATE_NAMES:
        survey = template(name)
        assert set(LOCALES) <= set(survey.locales), name
        assert Survey.model_validate(to_json(survey)) == survey
    assert template("in_store", "shop_42").id == "shop_42"
    with pytest.raises(SurveyError, match="unknown template"):
        template("nope")


def test_yaml_and_json_files_load(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps(SMALL), encoding="utf-8")
    assert load_survey(tmp_path / "s.json").id == "small"
    with pytest.raises(SurveyError, match="cannot read"):
        load_survey(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"questions": []}, "questions"),
        ({"id": "Bad Id"}, "id"),
        ({"title": {"fr": "x"}}, "default locale"),
        ({"title": {"en": "x", "xx": "y"}}, "unknown locale 'xx'"),
        (
            {
                "questions": [
                    {
                        "id": "q",
                        "type": "single",
                        "text": {"en": "q"},
                        "choices": [{"id": "a", "text": {"en": "a"}}],
                    }
                ]
            },
            "at least 2 choices",
        ),
        (
            {"questions": [{"id": "q", "type": "text", "text": {"en": "q"}, "show_if": {"question": "z"}}]},
            "not an earlier question",
        ),
        (
            {
                "questions": [
                    {"id": "q", "type": "nps", "text": {"en": "q"}},
                    {"id": "q", "type": "nps", "text": {"en": "q"}},
                ]
            },
            "duplicate id",
        ),
        (
            {
                "questions": [
                    {"id": "a", "type": "nps", "text": {"en": "q"}},
                    {"id": "b", "type": "nps", "text": {"en": "q"}},
                ]
            },
            "feedback.nps",
        ),
        (
            {"questions": [{"id": "a", "type": "csat", "text": {"en": "q"}, "feedback_column": "nps"}]},
            "cannot fill nps",
        ),
        (
            {
                "questions": [
                    {"id": "a", "type": "nps", "text": {"en": "q"}, "show_if": {"question": "a", "op": "lt"}}
                ]
            },
            "needs a value",
        ),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_definitions_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(SurveyError, match=message):
        parse_survey(json.dumps({**SMALL, **change}), "bad.json")


def test_pages_split_where_skip_logic_looks_at_the_same_page() -> None:
    survey = parse_survey(json.dumps(SMALL))
    assert [[q.id for q in page] for page in survey.pages] == [["score"], ["why", "pick"]]
    assert [[q.id for q in p] for p in template("post_support").pages] == [["ces", "csat", "comment"]]
    assert survey.next_page(0, {"score": 3}) == 1
    assert survey.visible(survey.question("why"), {"score": 3})
    assert not survey.visible(survey.question("why"), {"score": 9})
    assert survey.locales == ("en",)


def test_read_page_validates_every_field() -> None:
    survey = parse_survey(json.dumps(SMALL))
    assert survey.read_page(0, {}, {}) == ({}, {"score": "required"})
    assert survey.read_page(0, {"q_score": ["11"]}, {})[1] == {"score": "out_of_range"}
    assert survey.read_page(0, {"q_score": ["x"]}, {})[1] == {"score": "not_a_number"}
    assert survey.read_page(0, {"q_score": ["1", "2"]}, {})[1] == {"score": "one_value"}
    assert survey.read_page(0, {"q_score": [" 0 "]}, {}) == ({"score": 0}, {})
    got, errors = survey.read_page(1, {"q_why": ["slow"], "q_pick": ["a", "zz"]}, {"score": 2})
    assert errors == {"pick": "invalid_choice"}
    got, errors = survey.read_page(1, {"q_why": ["slow"], "q_pick": ["b", "a"]}, {"score": 9})
    assert got == {"pick": ["b", "a"]}  # 'why' is hidden for a promoter: ignored
    assert not errors


def test_json_answers_follow_the_same_rules() -> None:
    survey = parse_survey(json.dumps(SMALL))
    assert survey.check_answers({"score": 9.0, "pick": ["a"]}) == ({"score": 9, "pick": ["a"]}, {})
    _, errors = survey.check_answers({"score": True, "why": "x", "extra": 1})
    assert errors == {"score": "not_a_number", "extra": "unknown_question", "why": "not_shown"}
    _, errors = survey.check_answers({"score": 10, "why": "hidden"})
    assert errors == {"why": "not_shown"}
    assert survey.check_answers({"score": 9, "pick": "a"}) == ({"score": 9, "pick": ["a"]}, {})
    assert survey.check_answers({"score": 9, "pick": {"a": 1}})[1] == {"pick": "invalid_choice"}


def test_conditions() -> None:
    from cxlens.collect.surveys import Condition

    assert Condition(question="x", op="in", value=["a"]).holds({"x": ["b", "a"]})
    assert Condition(question="x", op="not_in", value=["a"]).holds({"x": "b"})
    assert Condition(question="x", op="ne", value="a").holds({})
    assert not Condition(question="x", op="gte", value=7).holds({"x": "7"})
    assert Condition(question="x", op="gt", value=6).holds({"x": 7})


def test_feedback_values_map_scores_and_join_texts() -> None:
    survey = template("post_delivery")
    answers = {"csat": 2, "on_time": "no", "problems": ["late"], "nps": 4, "comment": "Box was wet"}
    assert survey.feedback_values(answers) == {"csat": 2, "nps": 4, "text": "Box was wet"}
    two_texts = parse_survey(
        json.dumps(
            {
                "id": "t",
                "title": {"en": "t"},
                "questions": [
                    {"id": "a", "type": "text", "text": {"en": "a"}},
                    {"id": "b", "type": "text", "text": {"en": "b"}, "feedback_column": "title"},
                    {"id": "c", "type": "text", "text": {"en": "c"}},
                ],
            }
        )
    )
    assert two_texts.feedback_values({"a": "one", "b": "head", "c": "two"}) == {
        "title": "head",
        "text": "one\n\ntwo",
    }
