"""Field-named validation errors for the alert rules and routing YAML: ``rules[2].threshold: must
be a number``, one line per problem, so the CLI, the web editors and the files say the same."""

from __future__ import annotations

import re
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
    "finite_number": "must be a finite number",
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


#: Deepest nesting of mappings and lists a rules or routing text may have (the files use 4).
MAX_DEPTH = 32
Position = tuple[int, int]


class ConfigError(ValueError):
    """Invalid rules or routing; ``errors`` holds one ``field: problem`` line per problem and
    ``positions`` the (line, column) of each in the text, where known."""

    def __init__(
        self, what: str, errors: list[str], where: str = "", positions: list[Position | None] | None = None
    ) -> None:
        self.what, self.errors, self.where = what, errors, where
        self.positions: list[Position | None] = list(positions or [None] * len(errors))
        head = f"{where}: invalid {what}:" if where else f"invalid {what}:"
        super().__init__("\n".join([head, *(f"  {line}" for line in errors)]))

    def located(self, where: str | None = None) -> list[str]:
        """One ``file:line: field: problem`` line per problem (``file: ...`` without a line)."""
        name = self.where if where is None else where
        out = []
        for text, pos in zip(self.errors, self.positions, strict=True):
            text = _LINE_PREFIX.sub("", text)
            place = f"{name}:{pos[0]}" if pos is not None else name
            out.append(f"{place}: {text}" if place else text)
        return out


#: The ``line 3, column 5: `` an error of the YAML syntax starts with (the position is kept apart).
_LINE_PREFIX = re.compile(r"^line \d+, column \d+: ")


class _Refused(yaml.MarkedYAMLError):
    """YAML that is valid but not accepted here (an anchor or alias, too deep a nesting)."""


class _Loader(yaml.SafeLoader):
    """The safe loader without anchors and aliases (a few lines of them expand to billions of
    values) and with a bounded nesting (the composer recurses once per level)."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                problem="anchors and aliases (& and *) are not allowed", problem_mark=event.start_mark
            )
        if self.depth >= MAX_DEPTH:
            raise _Refused(problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def compose(text: str) -> Any:
    """The YAML node tree of a text, with :class:`_Loader`'s limits (None for an empty text)."""
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


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
        loc = tuple(part for part in e["loc"] if part != "[key]")  # a dict key's own error
        if skip_tag is not None and loc[:1] == (skip_tag,):
            loc = loc[1:]
        if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, str(e.get("ctx", {}).get("discriminator", "kind")).strip("'"))
        lines.append(f"{field_path(prefix, loc)}: {message(e)}")
    return lines


def parse_yaml(text: str, what: str, where: str = "") -> dict[str, Any]:
    """The mapping in a YAML text (an empty text is an empty mapping); anchors, aliases and deep
    nesting are refused, naming the line."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data() if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(top)"
        problem = getattr(exc, "problem", None) or str(exc)
        said = problem if isinstance(exc, _Refused) else f"not valid YAML ({problem})"
        pos = [(mark.line + 1, mark.column + 1) if mark is not None else None]
        raise ConfigError(what, [f"{line}: {said}"], where, pos) from None
    except RecursionError:  # the scanner's own nesting, before the composer counts it
        raise ConfigError(what, [f"(top): nested more than {MAX_DEPTH} levels deep"], where) from None
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(what, ["(top): must be a mapping"], where, [(1, 1)])
    return data


_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _position(root: Any, path: str) -> Position | None:
    """Where ``path`` (``rules[2].threshold``) is in a node tree: the deepest part of it found."""
    node, mark = root, getattr(root, "start_mark", None)
    for index, key in _PART.findall(path if path != "(top)" else ""):
        if index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
            mark = node.start_mark
        elif key and isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == key), None)
            if found is None:
                break
            mark, node = found[0].start_mark, found[1]
        else:
            break
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def with_positions(exc: ConfigError, text: str) -> ConfigError:
    """``exc`` with the line and column of each field it names in ``text``, where found."""
    try:
        root = compose(text)
    except (yaml.YAMLError, RecursionError):
        return exc
    positions = [
        pos if pos is not None else _position(root, line.split(": ", 1)[0])
        for line, pos in zip(exc.errors, exc.positions, strict=True)
    ]
    return ConfigError(exc.what, exc.errors, exc.where, positions)


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
