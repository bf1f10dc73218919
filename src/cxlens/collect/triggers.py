"""Journey-event triggers: invite a customer when an event happens (e.g. two days after delivery),
with a frequency cap per customer against survey fatigue and quiet hours, and send the
invitations by e-mail (SMTP) or webhook.

Triggers are YAML::

    triggers:
      - id: after_delivery
        survey_id: post_delivery
        event_types: [delivered]
        delay: 2d            # wait this long after the event
        window: 7d           # ignore events older than delay + window
        send_via: email      # or webhook (with webhook_url)
        cap_days: 30         # at most one invitation per customer in this many days
        quiet_hours: "21-8"  # hold sending from 21:00 to 08:00 in `timezone`
        timezone: Europe/Lisbon
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select

from cxlens.collect.privacy import get_privacy
from cxlens.collect.responses import Collector, Context
from cxlens.ops import CollectSettings, Invitation, get_collect_settings, utcnow
from cxlens.ops.delivery import post_json, send_email

if TYPE_CHECKING:
    from cxlens.storage.workspace import Workspace

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``30m``, ``6h``, ``2d``, ``1w`` (or seconds as a number) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 30m, 6h, 2d or 1w")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


class Trigger(BaseModel):
    """One rule: which events invite to which survey, when, how, and how often at most."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    survey_id: str
    event_types: tuple[str, ...] = Field(min_length=1)
    delay: timedelta = timedelta(0)
    window: timedelta = timedelta(days=7)
    send_via: Literal["email", "webhook"] = "email"
    webhook_url: str | None = None
    cap_days: float = Field(default=30, ge=0)
    quiet_hours: tuple[int, int] | None = (21, 8)
    timezone: str = "UTC"

    @field_validator("delay", "window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, str):
            start, _, end = value.partition("-")
            return (int(start.split(":")[0]), int(end.split(":")[0]))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Trigger:
        if self.send_via == "webhook" and not (self.webhook_url or "").startswith(("http://", "https://")):
            raise ValueError("send_via webhook needs an http(s) webhook_url")
        if self.quiet_hours and not all(0 <= h <= 23 for h in self.quiet_hours):
            raise ValueError("quiet_hours are hours 0-23, e.g. '21-8'")
        ZoneInfo(self.timezone)
        return self

    def send_time(self, now: datetime) -> datetime:
        """``now`` (naive UTC) if outside quiet hours, else when the quiet hours end (naive UTC)."""
        if not self.quiet_hours:
            return now
        start, end = self.quiet_hours
        zone = ZoneInfo(self.timezone)
        local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
        hour = local.hour
        quiet = (start <= hour or hour < end) if start > end else (start <= hour < end)
        if not quiet:
            return now
        wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
        if wake <= local:
            wake += timedelta(days=1)
        return wake.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def load_triggers(path: str | Path) -> list[Trigger]:
    """Read and validate a triggers YAML file; errors name the trigger and field."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    items = data.get("triggers", []) if isinstance(data, dict) else data
    triggers, lines = [], []
    for i, item in enumerate(items or []):
        try:
            triggers.append(Trigger.model_validate(item))
        except ValidationError as err:
            for e in err.errors():
                where = ".".join(str(p) for p in (i, *e["loc"]))
                lines.append(f"  triggers.{where}: {e['msg']}")
    if lines:
        raise ValueError("\n".join([f"{path}: invalid triggers:", *lines]))
    return triggers


@dataclass
class RunReport:
    """What a trigger run did."""

    invited: int = 0
    capped: int = 0
    no_contact: int = 0
    already: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def due_events(workspace: Workspace, triggers: list[Trigger], now: datetime) -> pd.DataFrame:
    """Events of the triggers' types, with the customer's e-mail and language, from the analytics store."""
    types = sorted({t for tr in triggers for t in tr.event_types})
    oldest = min(now - tr.delay - tr.window for tr in triggers)
    events = workspace.table("events")
    customers = workspace.table("customers")
    picked = events.filter(
        events.event_type.isin(types), events.customer_id.notnull(), events.occurred_at >= oldest
    )
    joined = picked.left_join(customers, picked.customer_id == customers.customer_id)
    return joined.select(
        picked.event_id,
        picked.customer_id,
        picked.occurred_at,
        picked.event_type,
        picked.store_id,
        picked.order_id,
        picked.touchpoint,
        picked.channel,
        customers.email,
        customers.language,
    ).to_pandas()


def plan_and_invite(
    collector: Collector, triggers: list[Trigger], events: pd.DataFrame, now: datetime
) -> RunReport:
    """Create invitations for due events, honouring the frequency cap; one per (trigger, event)."""
    report = RunReport()
    invited_now: set[str] = set()
    for tr in triggers:
        rows = events[
            events["event_type"].isin(tr.event_types)
            & (events["occurred_at"] <= now - tr.delay)
            & (events["occurred_at"] >= now - tr.delay - tr.window)
        ].sort_values("occurred_at")
        for ev in rows.itertuples(index=False):
            customer = str(ev.customer_id)
            with collector.ops.sessions() as s:
                if s.scalar(
                    select(Invitation.token).where(
                        Invitation.trigger_id == tr.id, Invitation.event_id == ev.event_id
                    )
                ):
                    report.already += 1
                    continue
                last = s.scalar(
                    select(func.max(Invitation.created_at)).where(Invitation.customer_id == customer)
                )
            if customer in invited_now or (last is not None and last > now - timedelta(days=tr.cap_days)):
                report.capped += 1
                continue
            contact = tr.webhook_url if tr.send_via == "webhook" else _text(getattr(ev, "email", None))
            if not contact:
                report.no_contact += 1
                continue
            ctx = Context(
                store_id=_text(ev.store_id),
                touchpoint=None,
                channel=None,
                customer_id=customer,
                order_id=_text(ev.order_id),
            )
            collector.invite(
                tr.survey_id,
                ctx,
                language=_text(getattr(ev, "language", None)),
                trigger_id=tr.id,
                event_id=str(ev.event_id),
                send_via=tr.send_via,
                contact=contact,
                send_after=tr.send_time(now),
                now=now,
            )
            invited_now.add(customer)
            report.invited += 1
    return report


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


Sender = Callable[[Invitation, str, str], None]


def send_pending(
    collector: Collector,
    base_url: str,
    now: datetime,
    settings: CollectSettings | None = None,
    report: RunReport | None = None,
) -> RunReport:
    """Send invitations whose quiet hours are over; failures are recorded and retried next run."""
    settings = settings or get_collect_settings()
    report = report or RunReport()
    with collector.ops.sessions() as s:
        pending = list(
            s.scalars(
                select(Invitation).where(Invitation.sent_at.is_(None), Invitation.send_via.is_not(None))
            )
        )
    for inv in pending:
        if inv.send_after is not None and inv.send_after > now:
            report.deferred += 1
            continue
        survey = collector.survey(inv.survey_id)
        url = f"{base_url.rstrip('/')}/t/{inv.token}"
        title = survey.text(survey.title, inv.language or survey.default_locale)
        error = None
        try:
            if inv.send_via == "email":
                send_email(settings, inv.contact or "", title, url)
            else:
                send_webhook(inv, url, title)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with collector.ops.session() as s:
            row = s.get(Invitation, inv.token)
            if row is None:
                continue
            if error:
                row.send_error = error[:2000]
                report.failed += 1
                report.errors.append(f"{inv.token[:6]}…: {error}")
            else:
                row.sent_at, row.send_error = utcnow(), None
                if row.send_via == "email" and get_privacy(collector.ops).redact:
                    row.contact = None  # sent: the address is no longer needed
                report.sent += 1
            collector.ops.audit(
                s, "invitation.send", "invitation", inv.token[:8], ok=error is None, via=inv.send_via
            )
    return report


def send_webhook(inv: Invitation, url: str, title: str) -> None:
    """POST the invitation as JSON to the trigger's webhook; any non-2xx status is an error."""
    post_json(
        inv.contact or "",
        {
            "token": inv.token,
            "url": url,
            "title": title,
            "survey_id": inv.survey_id,
            "customer_id": inv.customer_id,
            "language": inv.language,
            "event_id": inv.event_id,
        },
    )


def run_triggers(
    collector: Collector,
    workspace: Workspace,
    triggers: list[Trigger],
    base_url: str,
    now: datetime | None = None,
) -> RunReport:
    """One run: invite for due events, then send what quiet hours allow."""
    now = now or utcnow()
    if not triggers:
        return RunReport()
    report = plan_and_invite(collector, triggers, due_events(workspace, triggers, now), now)
    return send_pending(collector, base_url, now, report=report)
