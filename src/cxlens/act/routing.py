"""Who owns an alert or a case, how they are notified, and the SLAs: the routing YAML.

Without a matching route, an alert goes to the team of its store, else of its region, else of its
touchpoint (``teams``; owners named ``store:S001``, ``region:North``, ``touchpoint:delivery``),
and only then to the default owner, so no single team gets the whole chain's alerts. A contact
may open cases automatically for alerts at or above a priority (``open_cases``; default: high)
and batch the others into a digest (``digest: 1d``; ``immediate``: what is still sent at once).

Example::

    default: {owner: cx-team, email: cx@example.com, open_cases: high, digest: 1d}
    teams: [store_id, region, touchpoint]   # the default; [] sends unmatched alerts to default
    escalation:                       # used when a route has no chain of its own
      - {owner: head-of-cx, email: head@example.com}
    sla_hours: {urgent: 4, high: 24, normal: 72, low: 168}
    routes:                           # the first route whose match fits wins
      - match: {store_id: [S001, S002]}
        owner: alice
        email: alice@example.com
        webhook: https://chat.example.com/hooks/alice
        escalation: [{owner: north-lead, email: north@example.com}]
      - match: {region: South}
        owner: bob
      - match: {touchpoint: delivery}
        owner: logistics
"""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cxlens.act.rules import MAX_DAYS, bounded_duration
from cxlens.act.validation import ConfigError, dump_yaml, field_errors, parse_yaml, with_positions
from cxlens.ops import CollectSettings, get_collect_settings
from cxlens.ops.act_models import PRIORITIES
from cxlens.ops.delivery import post_json, send_email

MATCH_KEYS = ("store_id", "region", "touchpoint")
DEFAULT_SLA_HOURS = {"urgent": 4.0, "high": 24.0, "normal": 72.0, "low": 168.0}
#: Team owner names per subject key: ``store:S001``, ``region:North``, ``touchpoint:delivery``.
TEAM_PREFIX = {"store_id": "store", "region": "region", "touchpoint": "touchpoint"}


def at_least(priority: str, threshold: str | None) -> bool:
    """True when ``priority`` is ``threshold`` or more urgent (False for no threshold)."""
    if threshold is None:
        return False
    return PRIORITIES.index(priority) <= PRIORITIES.index(threshold)


class Contact(BaseModel):
    """An owner (a username or team name), where to notify them, which alerts open a case on their
    own (``open_cases``: that priority or above) and whether the others come as a digest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str = Field(min_length=1, max_length=128)
    email: str | None = None
    webhook: str | None = None
    open_cases: str | None = None
    digest: timedelta | None = None
    immediate: str = "high"

    @field_validator("webhook")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("a webhook must be an http(s) URL")
        return value

    @field_validator("open_cases", "immediate")
    @classmethod
    def _priority(cls, value: str | None) -> str | None:
        if value is not None and value not in PRIORITIES:
            raise ValueError(f"a priority is one of {', '.join(PRIORITIES)}")
        return value

    @field_validator("digest", mode="before")
    @classmethod
    def _digest(cls, value: Any) -> timedelta | None:
        if value is None or isinstance(value, timedelta):
            return value
        window = bounded_duration(value, zero=True)
        return window if window > timedelta(0) else None

    def opens_case(self, priority: str) -> bool:
        """True when an alert of ``priority`` routed here opens a case on its own."""
        return at_least(priority, self.open_cases)

    def sends_at_once(self, priority: str) -> bool:
        """True when an alert of ``priority`` is sent at once rather than in the next digest."""
        return self.digest is None or at_least(priority, self.immediate)


class Route(Contact):
    """A contact for the alerts and cases whose store, region or touchpoint match."""

    match: dict[str, str | list[str]]
    escalation: tuple[Contact, ...] = ()

    @field_validator("match")
    @classmethod
    def _keys(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        unknown = set(value) - set(MATCH_KEYS)
        if unknown or not value:
            raise ValueError(f"match on one or more of {', '.join(MATCH_KEYS)}; got {sorted(unknown)}")
        return value

    def fits(self, subject: dict[str, str | None]) -> bool:
        """True when every key of ``match`` equals (or is among) the subject's value."""
        for key, want in self.match.items():
            have = subject.get(key)
            if have is None or have not in (want if isinstance(want, list) else [want]):
                return False
        return True


class Routing(BaseModel):
    """The routing file: a default owner, routes, an escalation chain and SLA hours per priority."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Contact = Contact(owner="cx-team", open_cases="high")
    routes: tuple[Route, ...] = ()
    escalation: tuple[Contact, ...] = ()
    sla_hours: dict[str, Annotated[float, Field(le=MAX_DAYS * 24, strict=True, allow_inf_nan=False)]] = Field(
        default_factory=lambda: dict(DEFAULT_SLA_HOURS)
    )
    teams: tuple[str, ...] = ("store_id", "region", "touchpoint")

    @field_validator("teams")
    @classmethod
    def _teams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(MATCH_KEYS))
        if unknown:
            raise ValueError(f"teams are among {', '.join(MATCH_KEYS)}; got {unknown}")
        return value

    @field_validator("sla_hours")
    @classmethod
    def _sla(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(PRIORITIES)
        if unknown:
            raise ValueError(
                f"sla_hours keys are priorities ({', '.join(PRIORITIES)}); got {sorted(unknown)}"
            )
        bad = sorted(k for k, hours in value.items() if not hours > 0)
        if bad:
            raise ValueError(f"sla_hours must be more than 0 hours; got {', '.join(bad)}")
        return {**DEFAULT_SLA_HOURS, **value}

    def _route(self, store_id: str | None, region: str | None, touchpoint: str | None) -> Route | None:
        subject = {"store_id": store_id, "region": region, "touchpoint": touchpoint}
        return next((r for r in self.routes if r.fits(subject)), None)

    def _team(self, owner: str) -> Contact:
        """A team's contact: the default's settings (cases, digest) under the team's name."""
        return self.default.model_copy(update={"owner": owner, "email": None, "webhook": None})

    def owner_for(
        self, store_id: str | None = None, region: str | None = None, touchpoint: str | None = None
    ) -> Contact:
        """The first matching route's contact, else the team of the store, region or touchpoint
        (in the order of ``teams``), else the default."""
        route = self._route(store_id, region, touchpoint)
        if route is not None:
            return route
        subject = {"store_id": store_id, "region": region, "touchpoint": touchpoint}
        for key in self.teams:
            if subject[key]:
                return self._team(f"{TEAM_PREFIX[key]}:{subject[key]}"[:128])
        return self.default

    def escalation_for(
        self,
        level: int,
        store_id: str | None = None,
        region: str | None = None,
        touchpoint: str | None = None,
    ) -> Contact:
        """The contact for escalation ``level`` (1 = first): the route's chain, else the global
        chain, else the default owner; past the end of a chain its last contact."""
        route = self._route(store_id, region, touchpoint)
        chain = (route.escalation if route and route.escalation else ()) or self.escalation
        if not chain:
            return self.default
        return chain[min(level, len(chain)) - 1]

    def contact(self, owner: str | None) -> Contact:
        """The contact details of an owner named anywhere in the file (or just the name)."""
        everyone = [self.default, *self.escalation, *self.routes]
        everyone += [c for r in self.routes for c in r.escalation]
        found = next((c for c in everyone if c.owner == owner), None)
        if found is not None:
            return Contact.model_validate(found.model_dump(include=set(Contact.model_fields)))
        if owner and owner.split(":", 1)[0] in TEAM_PREFIX.values():
            return self._team(owner)
        return Contact(owner=owner or self.default.owner)


def routing_from_data(data: dict[str, Any], where: str = "") -> Routing:
    """Validate a routing mapping; ConfigError names every bad field (``routes[0].owner: ...``)."""
    try:
        return Routing.model_validate(data)
    except ValidationError as err:
        raise ConfigError("routing", field_errors(err), where) from None


def parse_routing(text: str, where: str = "") -> Routing:
    """Validate a routing YAML text (see :func:`routing_from_data`)."""
    data = parse_yaml(text, "routing", where)
    try:
        return routing_from_data(data, where)
    except ConfigError as exc:
        raise with_positions(exc, text) from None


def routing_yaml(routing: Routing) -> str:
    """Routing as the YAML that :func:`parse_routing` reads back to the same routing."""
    data = routing.model_dump(exclude_defaults=True)
    data["default"] = routing.default.model_dump(exclude_defaults=True)
    return dump_yaml(data)


#: A URL in free text (comments, invalid YAML): up to a space, a quote or a YAML flow indicator.
_URL = re.compile(r"(?i)\bhttps?://[^\s'\"<>,\[\]{}]+")
#: What replaces a masked URL's userinfo, path, query and fragment.
MASK = "***"


def mask_url(url: str) -> str:
    """A URL as scheme and host only (``https://chat.example.com/***``): a webhook's path and
    query usually hold its secret, and a user or password before the host is dropped too."""
    scheme, _, rest = url.partition("://")
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    return f"{scheme.lower()}://{host}/{MASK}"


def mask_secrets(text: str) -> str:
    """A routing YAML text with every http(s) URL masked (:func:`mask_url`), for people who may
    read the routing but not its webhook addresses; comments and layout are kept."""
    import yaml

    spans = []
    try:
        todo = [yaml.compose(text, Loader=yaml.SafeLoader)]
    except Exception:  # not valid YAML (a broken file): the URLs found in the text are masked
        todo = []
    seen: set[int] = set()
    while todo:
        node = todo.pop()
        if id(node) in seen:  # an alias: the node it names is masked once
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.style not in ("|", ">") and _URL.match(str(node.value).strip()):
                spans.append((node.start_mark.index, node.end_mark.index, mask_url(str(node.value).strip())))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            todo.extend(n for pair in node.value for n in pair)
    for start, end, masked in sorted(spans, reverse=True):
        text = text[:start] + masked + text[end:]
    return _URL.sub(lambda m: mask_url(m.group(0)), text)


def load_routing(path: str | Path | None = None) -> Routing:
    """Read and validate a routing YAML file (None: everything goes to the default ``cx-team``)."""
    if path is None:
        return Routing()
    return parse_routing(Path(path).read_text(encoding="utf-8"), str(path))


def notify(
    contact: Contact,
    subject: str,
    link: str,
    payload: dict[str, Any],
    settings: CollectSettings | None = None,
) -> list[str]:
    """Send a notification by e-mail (subject and link, no customer text) and by webhook (JSON);
    returns the errors (empty when every configured channel worked, or none is configured)."""
    errors = []
    if contact.email:
        try:
            send_email(settings or get_collect_settings(), contact.email, subject, link)
        except (OSError, smtplib.SMTPException) as exc:
            errors.append(f"email: {type(exc).__name__}: {exc}")
    if contact.webhook:
        try:
            post_json(contact.webhook, {**payload, "subject": subject, "link": link})
        except (OSError, ValueError) as exc:
            errors.append(f"webhook: {type(exc).__name__}: {exc}")
    return errors
