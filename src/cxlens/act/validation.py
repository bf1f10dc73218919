"""Field-named validation errors for the alert rules and routing YAML: ``rules[2].threshold: must
be a number``, one line per problem, so the CLI, the web editors and the files say the same."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml
from pydantic import ValidationError

#: Pydantic error types and how they are said here.
_MESSAGES = {
    "int_parsing": "must be a number",
    "int_type": "must be a number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


class ConfigError(ValueError):
    """Invalid rules or routing; ``errors`` holds one ``field: problem`` line per problem."""

    def __init__(self, what: str, errors: list[str], where: str = "") -> None:
        self.what, self.errors, self.where = what, errors, where
        head = f"{where}: invalid {what}:" if where else f"invalid {what}:"
        super().__init__("\n".join([head, *(f"  {line}" for line in errors)]))


def field_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """``('routes', 0, 'owner')`` as ``routes[0].owner`` (after ``prefix``)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top)"


def message(error: Any) -> str:
    """A pydantic error's message in plain words."""
    kind = error.get("type", "")
    if kind == "union_tag_invalid":
        return f"must be one of {error.get('ctx', {}).get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return "is required"
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    text = str(error.get("msg", ""))
    for lead in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(lead)
    if text.startswith("Input should be "):
        text = "must be " + text.removeprefix("Input should be ")
    elif text.startswith("String should "):
        text = "must " + text.removeprefix("String should ")
    return text


def field_errors(err: ValidationError, prefix: str = "", skip_tag: str | None = None) -> list[str]:
    """Every error of ``err`` as ``path: message`` (``skip_tag``: a discriminated union's tag that
    pydantic puts first in each location, dropped)."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if skip_tag is not None and loc[:1] == (skip_tag,):
            loc = loc[1:]
        if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, str(e.get("ctx", {}).get("discriminator", "kind")).strip("'"))
        lines.append(f"{field_path(prefix, loc)}: {message(e)}")
    return lines


def parse_yaml(text: str, what: str, where: str = "") -> dict[str, Any]:
    """The mapping in a YAML text (an empty text is an empty mapping)."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(top)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(what, [f"{line}: not valid YAML ({problem})"], where) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(what, ["(top): must be a mapping"], where)
    return data


def duration_text(value: timedelta) -> str:
    """A timedelta as the shortest duration the files take (``7d``, ``6h``, ``90s``)."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def plain(value: Any) -> Any:
    """Model dumps as YAML-ready values: durations as text, tuples as lists."""
    if isinstance(value, timedelta):
        return duration_text(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML in the order given, Unicode kept (keywords in any language)."""
    return str(yaml.safe_dump(plain(data), sort_keys=False, allow_unicode=True, width=100))
