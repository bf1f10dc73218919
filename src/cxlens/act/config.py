"""Stored, versioned alert rules and owner routing, and which configuration is in force.

Resolution, for each kind (``rules``, ``routing``): the latest version stored in the operational
store (``act_config``; saved by ``cxlens act rules|routing import`` or the web editors), else the
YAML file configured (``--rules``/``--routing``, ``CXLENS_ALERT_RULES_FILE``/
``CXLENS_ROUTING_FILE``), else the shipped defaults. A version is validated before it is stored
(nothing is stored on an error) and saved against the version it was edited from: saving on top
of a newer version raises :class:`StaleVersionError` (optimistic concurrency; the unique
``(kind, version)`` key settles two saves racing on one version). Every save is audited.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cxlens.act.routing import Routing, parse_routing, routing_yaml
from cxlens.act.rules import DEFAULT_RULES, RuleSet, parse_rules, rules_yaml
from cxlens.act.validation import ConfigError
from cxlens.ops import utcnow
from cxlens.ops.act_models import CONFIG_KINDS, ActConfig

if TYPE_CHECKING:
    from cxlens.ops import OpsStore

Kind = Literal["rules", "routing"]
Source = Literal["stored", "file", "default"]
#: Largest configuration text accepted (the shipped rules are under 1 KB).
MAX_BODY = 200_000

__all__ = [
    "CONFIG_KINDS",
    "ConfigError",
    "Resolved",
    "StaleVersionError",
    "default_body",
    "from_row",
    "get_version",
    "history",
    "latest",
    "parse",
    "read_file",
    "resolve",
    "resolve_routing",
    "resolve_rules",
    "save",
]


class StaleVersionError(ValueError):
    """The configuration was saved by someone else since it was read."""

    def __init__(self, kind: str, expected: int, current: int) -> None:
        self.kind, self.expected, self.current = kind, expected, current
        super().__init__(
            f"the {kind} changed since version {expected} was read (now version {current}); "
            "reload, redo the change and save again"
        )


@dataclass(frozen=True)
class Resolved:
    """The configuration in force: where it comes from, its stored version (0 when none is
    stored), the file path, its YAML text and the validated object."""

    kind: str
    source: Source
    version: int
    path: str | None
    body: str
    config: Any

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "version": self.version, "path": self.path}


def _check_kind(kind: str) -> None:
    if kind not in CONFIG_KINDS:
        raise ValueError(f"unknown configuration kind {kind!r}; one of {', '.join(CONFIG_KINDS)}")


@lru_cache(maxsize=32)
def parse(kind: str, body: str, where: str = "") -> Any:
    """The validated :class:`RuleSet` or :class:`Routing` of a YAML text (ConfigError if invalid)."""
    _check_kind(kind)
    if len(body) > MAX_BODY:
        raise ConfigError(WHAT[kind], [f"(top): longer than {MAX_BODY:,} characters"], where)
    return parse_rules(body, where) if kind == "rules" else parse_routing(body, where)


#: How each kind is named in error messages.
WHAT = {"rules": "alert rules", "routing": "routing"}


def read_file(kind: str, path: str | Path) -> str:
    """A configuration file's text; a missing, unreadable, too large or non-UTF-8 file is a
    ConfigError naming the file (and the line of the first bad byte)."""
    _check_kind(kind)
    where = str(path)
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(4 * MAX_BODY + 1)  # UTF-8 takes at most 4 bytes a character
    except OSError as exc:
        raise ConfigError(WHAT[kind], [f"(top): cannot be read ({exc.strerror or exc})"], where) from None
    if len(raw) > 4 * MAX_BODY:
        raise ConfigError(WHAT[kind], [f"(top): longer than {MAX_BODY:,} characters"], where)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            WHAT[kind], [f"line {line}, column {column}: not UTF-8 text"], where, [(line, column)]
        ) from None


def default_body(kind: str) -> str:
    """The shipped defaults as YAML."""
    _check_kind(kind)
    return rules_yaml(DEFAULT_RULES) if kind == "rules" else routing_yaml(Routing())


def latest(ops: OpsStore, kind: str) -> ActConfig | None:
    """The latest stored version of a kind (None when none is stored)."""
    _check_kind(kind)
    with ops.sessions() as s:
        query = select(ActConfig).where(ActConfig.kind == kind).order_by(ActConfig.version.desc()).limit(1)
        return s.scalars(query).first()


def get_version(ops: OpsStore, kind: str, version: int) -> ActConfig | None:
    """One stored version."""
    with ops.sessions() as s:
        query = select(ActConfig).where(ActConfig.kind == kind, ActConfig.version == version)
        return s.scalars(query).first()


def history(ops: OpsStore, kind: str, limit: int = 100) -> list[ActConfig]:
    """Stored versions, newest first."""
    _check_kind(kind)
    with ops.sessions() as s:
        query = select(ActConfig).where(ActConfig.kind == kind).order_by(ActConfig.version.desc())
        return list(s.scalars(query.limit(limit)))


def digest(body: str) -> str:
    """A short fingerprint of a configuration text (history, audit)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]


def save(
    ops: OpsStore,
    kind: str,
    body: str,
    *,
    author: str,
    expected_version: int | None = None,
    comment: str | None = None,
) -> ActConfig:
    """Validate and store a new version (ConfigError: nothing stored). With ``expected_version``
    (the version the text was edited from; 0 when none was stored), a newer stored version
    raises :class:`StaleVersionError`."""
    parse(kind, body)
    with ops.sessions() as s:
        current = int(s.scalar(select(func.max(ActConfig.version)).where(ActConfig.kind == kind)) or 0)
    if expected_version is not None and expected_version != current:
        raise StaleVersionError(kind, expected_version, current)
    row = ActConfig(
        kind=kind,
        version=current + 1,
        body=body,
        author=author[:128],
        comment=comment[:512] if comment else None,
        created_at=utcnow(),
    )
    try:
        with ops.session() as s:
            s.add(row)
            s.flush()
            ops.audit(
                s,
                "update",
                "act_config",
                kind,
                actor=author,
                before={"version": current},
                after={"version": row.version, "sha256": digest(body), "comment": row.comment},
            )
    except IntegrityError:  # another save took this version number first
        newest = latest(ops, kind)
        raise StaleVersionError(kind, current, newest.version if newest else current) from None
    return row


def resolve(ops: OpsStore | None, kind: str, path: str | Path | None = None) -> Resolved:
    """The configuration in force: the latest stored version, else the file, else the defaults."""
    _check_kind(kind)
    row = latest(ops, kind) if ops is not None else None
    if row is not None:
        return from_row(row)
    if path is not None:
        body = read_file(kind, path)
        return Resolved(kind, "file", 0, str(path), body, parse(kind, body, str(path)))
    body = default_body(kind)
    return Resolved(kind, "default", 0, None, body, DEFAULT_RULES if kind == "rules" else Routing())


def from_row(row: ActConfig) -> Resolved:
    """A stored version as the configuration in force (ConfigError if it is no longer valid)."""
    where = f"stored {row.kind} version {row.version}"
    return Resolved(row.kind, "stored", row.version, None, row.body, parse(row.kind, row.body, where))


def resolve_rules(ops: OpsStore | None, path: str | Path | None = None) -> RuleSet:
    """The alert rules in force (see :func:`resolve`)."""
    rules: RuleSet = resolve(ops, "rules", path).config
    return rules


def resolve_routing(ops: OpsStore | None, path: str | Path | None = None) -> Routing:
    """The owner routing in force (see :func:`resolve`)."""
    routing: Routing = resolve(ops, "routing", path).config
    return routing


def version_dict(row: ActConfig) -> dict[str, Any]:
    """A stored version's metadata as JSON-ready values."""
    created: datetime = row.created_at
    return {
        "kind": row.kind,
        "version": row.version,
        "author": row.author,
        "created_at": created.isoformat(timespec="seconds"),
        "comment": row.comment,
        "sha256": digest(row.body),
        "lines": len(row.body.splitlines()),
    }
