"""What untrusted text may contain, checked where it enters: the public forms, the JSON APIs and
the events API.

* Lone surrogates (``"\\ud800"`` in JSON) are not Unicode: they cannot be stored as UTF-8, so a
  body holding one anywhere is refused as malformed, like a JSON syntax error.
* NUL (U+0000) breaks PostgreSQL text and the text pipeline: refused anywhere.
* Other C0 control characters (except tab, line feed and carriage return) and DEL are refused in
  answers, ids and event fields (a field error), so nothing downstream (terminals, CSV, charts)
  ever sees them.
* Bidirectional overrides (U+202A-202E, U+2066-2069) are refused in ids, where they could make
  one store id look like another; free text keeps them (right-to-left languages use them).
* JSON nested deeper than :data:`MAX_DEPTH` is refused (Python's parser would hit its recursion
  limit on 100,000 levels).
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deepest nesting accepted in a JSON body (the events' ``properties`` object included).
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
#: Any of the above (one search for the common case: nothing to refuse).
_ANY_TEXT = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")
_ANY_ID = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
#: Any character an identifier may not hold (one search over many ids joined finds whether any has one).
ID_REFUSED = _ANY_ID


class InputError(ValueError):
    """Untrusted input that cannot be accepted; ``loc`` says where (JSON path parts)."""

    def __init__(self, message: str, loc: list[str | int] | None = None) -> None:
        super().__init__(message)
        self.loc = list(loc or [])


def text_problem(value: str, *, identifier: bool = False) -> str | None:
    """Why ``value`` cannot be accepted as text (None when it can)."""
    if (_ANY_ID if identifier else _ANY_TEXT).search(value) is None:
        return None
    bad = _SURROGATE.search(value)
    if bad:
        return f"invalid Unicode: a lone surrogate (U+{ord(bad.group()):04X})"
    bad = _CONTROL.search(value)
    if bad:
        return f"contains a control character (U+{ord(bad.group()):04X})"
    if identifier:
        bad = _BIDI.search(value)
        if bad:
            return f"contains a bidirectional control character (U+{ord(bad.group()):04X})"
    return None


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored at all (a lone surrogate or NUL), or None."""
    bad = _SURROGATE.search(value)
    if bad:
        return f"invalid Unicode: a lone surrogate (U+{ord(bad.group()):04X})"
    return "contains a NUL character (U+0000)" if "\x00" in value else None


def printable(value: str) -> str:
    """``value`` safe to echo in an error message or a log (lone surrogates as ``\\udxxx``)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a JSON body; refuse invalid JSON, deep nesting, lone surrogates and NUL characters
    anywhere (keys included) with an :class:`InputError` naming where."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise InputError(f"JSON nested deeper than {max_depth} levels", ["body"]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON: {printable(str(exc))}", ["body"]) from None
    check_json(data, max_depth=max_depth)
    return data


def check_json(data: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Walk parsed JSON (without recursion) and refuse what :func:`parse_json` refuses."""
    if suspect(data, max_depth=max_depth):
        _locate(data, max_depth)


def suspect(data: Any, *, max_depth: int | None = None) -> bool:
    """Whether parsed JSON may hold a string that cannot be stored (a lone surrogate or NUL, in a
    key or a value) or, with ``max_depth``, nests deeper: a quick walk for the common case, which
    has neither (the detailed checks then say where)."""
    limit = max_depth if max_depth is not None else -1
    todo: list[tuple[Any, int]] = [(data, 0)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return True
            continue
        if depth == limit and isinstance(value, dict | list) and value:
            return True  # its items would be deeper than allowed
        if isinstance(value, dict):
            for key, item in value.items():
                if _UNSTORABLE.search(key):
                    return True
                if isinstance(item, str):
                    if _UNSTORABLE.search(item):
                        return True
                elif isinstance(item, dict | list):
                    todo.append((item, depth + 1))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    if _UNSTORABLE.search(item):
                        return True
                elif isinstance(item, dict | list):
                    todo.append((item, depth + 1))
    return False


def _locate(data: Any, max_depth: int) -> None:
    """Raise an :class:`InputError` naming the first problem :func:`_suspect` saw."""
    todo: list[tuple[Any, list[str | int]]] = [(data, ["body"])]
    while todo:
        value, loc = todo.pop()
        if len(loc) > max_depth + 1:
            raise InputError(f"JSON nested deeper than {max_depth} levels", loc[:max_depth])
        if isinstance(value, str):
            _check_string(value, loc)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, [*loc, key])
                todo.append((item, [*loc, key]))
        elif isinstance(value, list):
            todo.extend((item, [*loc, i]) for i, item in enumerate(value))


def _check_string(value: str, loc: list[str | int]) -> None:
    problem = unstorable(value)
    if problem:
        raise InputError(problem, [printable(p) if isinstance(p, str) else p for p in loc])
