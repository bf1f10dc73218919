"""Who owns an alert or a case, how they are notified, and the SLAs: the routing YAML.

Example::

    default: {owner: cx-team, email: cx@example.com}
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

import smtplib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cxlens.ops import CollectSettings, get_collect_settings
from cxlens.ops.act_models import PRIORITIES
from cxlens.ops.delivery import post_json, send_email

MATCH_KEYS = ("store_id", "region", "touchpoint")
DEFAULT_SLA_HOURS = {"urgent": 4.0, "high": 24.0, "normal": 72.0, "low": 168.0}


class Contact(BaseModel):
    """An owner (a username or team name) and where to notify them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str = Field(min_length=1, max_length=128)
    email: str | None = None
    webhook: str | None = None

    @field_validator("webhook")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("a webhook must be an http(s) URL")
        return value


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

    default: Contact = Contact(owner="cx-team")
    routes: tuple[Route, ...] = ()
    escalation: tuple[Contact, ...] = ()
    sla_hours: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SLA_HOURS))

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

    def owner_for(
        self, store_id: str | None = None, region: str | None = None, touchpoint: str | None = None
    ) -> Contact:
        """The first matching route's contact, else the default."""
        return self._route(store_id, region, touchpoint) or self.default

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
        return (
            Contact(owner=found.owner, email=found.email, webhook=found.webhook)
            if found
            else Contact(owner=owner or self.default.owner)
        )


def load_routing(path: str | Path | None = None) -> Routing:
    """Read and validate a routing YAML file (None: everything goes to the default ``cx-team``)."""
    if path is None:
        return Routing()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    try:
        return Routing.model_validate(data)
    except ValidationError as err:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ValueError("\n".join([f"{path}: invalid routing:", *lines])) from None


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
