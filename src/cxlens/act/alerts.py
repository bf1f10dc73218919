"""Alerts: the rules of :mod:`cxlens.act.rules` evaluated on new feedback and on the metrics,
routed to owners (:mod:`cxlens.act.routing`), deduplicated, turned into cases where the rule or the
owner's route asks for it, and delivered by webhook and e-mail, one by one or in digests.

Feedback rules look at feedback submitted since the last run (a cursor in the operational store,
minus an overlap for late loads; the first run reads the last days before the last answer); the
dedup key makes re-reading a row harmless. Metric rules run the analytics of
:mod:`cxlens.analyse.metrics` over the workspace on DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cxlens.act import cases as case_ops
from cxlens.act.candidates import (
    ENGINE,
    Candidate,
    _aspects,
    _regions,
    anomaly_candidates,
    drop_candidates,
    feedback_candidates,
    new_feedback,
    robust_z,
)
from cxlens.act.routing import Routing, notify
from cxlens.act.rules import (
    DEFAULT_RULES,
    REFUND_KEYWORDS,
    AnomalyRule,
    AspectRule,
    DetractorRule,
    KeywordRule,
    MetricDropRule,
    RuleSet,
    _FeedbackRule,
    _MetricRule,
    load_rules,
)
from cxlens.ops import OpsStore, utcnow
from cxlens.ops.act_models import ActCursor, Alert

if TYPE_CHECKING:
    from cxlens.storage.workspace import Workspace

__all__ = [
    "DEFAULT_RULES",
    "REFUND_KEYWORDS",
    "AlertRun",
    "AnomalyRule",
    "AspectRule",
    "Candidate",
    "DetractorRule",
    "KeywordRule",
    "MetricDropRule",
    "RuleSet",
    "alert_dict",
    "anomaly_candidates",
    "deliver",
    "drop_candidates",
    "feedback_candidates",
    "get_alert",
    "list_alerts",
    "load_rules",
    "new_feedback",
    "robust_z",
    "run_alerts",
]

CURSOR = "alerts.feedback"
#: Cursor-table name prefix of the time each owner's last digest was sent.
DIGEST = "alerts.digest."


@dataclass
class AlertRun:
    """What one evaluation did; ``fired_alerts`` holds (owner, day, priority, case opened) per new
    alert, the day being the feedback's or the metric period's, for :meth:`volume`."""

    evaluated: int = 0
    fired: int = 0
    deduplicated: int = 0
    delivered: int = 0
    digests: int = 0
    failed: int = 0
    cases_opened: int = 0
    alert_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fired_alerts: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def volume_note(self) -> str:
        """One line on the load per owner: owners, alerts per owner and day (median, busiest)."""
        v = self.volume()
        if v.empty:
            return "no new alerts"
        top = v.iloc[0]
        owners = v["owner"].nunique()
        return (
            f"{owners} owner{'s' if owners != 1 else ''}; "
            f"alerts per owner per day: median {v['alerts'].median():.0f}, "
            f"most {int(top['alerts'])} ({top['owner']} on {top['day']})"
        )

    def volume(self) -> pd.DataFrame:
        """New alerts per owner and day: ``owner``, ``day``, ``alerts``, ``high`` (urgent or high
        priority), ``cases`` (opened automatically), busiest first."""
        cols = ["owner", "day", "alerts", "high", "cases"]
        if not self.fired_alerts:
            return pd.DataFrame(columns=cols)
        frame = pd.DataFrame(self.fired_alerts, columns=["owner", "day", "priority", "case"])
        frame["high"] = frame["priority"].isin(["urgent", "high"])
        out = frame.groupby(["owner", "day"]).agg(
            alerts=("priority", "size"), high=("high", "sum"), cases=("case", "sum")
        )
        out = out.reset_index().sort_values(["alerts", "owner", "day"], ascending=[False, True, True])
        return out[cols].reset_index(drop=True)


# -- the run ----------------------------------------------------------------------------------------


def _cursor(ops: OpsStore) -> datetime | None:
    with ops.sessions() as s:
        row = s.get(ActCursor, CURSOR)
    return row.value if row is not None else None


def _set_cursor(ops: OpsStore, name: str, value: datetime, *, forward_only: bool) -> None:
    """Store a cursor value (only moving it forward if ``forward_only``). Two runs creating the same
    cursor at once: the loser's insert fails on the key and it updates the winner's row instead."""
    for attempt in (1, 2):
        try:
            with ops.session() as s:
                row = s.get(ActCursor, name)
                if row is None:
                    s.add(ActCursor(name=name, value=value, updated_at=utcnow()))
                elif not forward_only or row.value is None or value > row.value:
                    row.value, row.updated_at = value, utcnow()
            return
        except IntegrityError:
            if attempt == 2:
                raise


def _save_cursor(ops: OpsStore, value: datetime) -> None:
    _set_cursor(ops, CURSOR, value, forward_only=True)


def _dedup_key(cand: Candidate, window: timedelta, now: datetime) -> tuple[str, bool]:
    """The alert's unique key, and whether it is permanent.

    A subject that names one occurrence (a feedback row, or a metric group in one period) alerts
    once, ever: re-reading the row after the overlap or re-checking the same period must not alert
    again. A broader subject (a customer or a store for a feedback rule) alerts at most once per
    window, so a new complaint after the window is news again.
    """
    once = isinstance(cand.rule, _MetricRule) or getattr(cand.rule, "dedup_by", "") == "feedback_id"
    if once:
        return f"{cand.rule.id}|{cand.subject}"[:700], True
    bucket = int(now.timestamp() // max(window.total_seconds(), 1))
    return f"{cand.rule.id}|{cand.subject}|{bucket}"[:700], False


def _record(
    ops: OpsStore, cand: Candidate, routing: Routing, window: timedelta, now: datetime
) -> Alert | None:
    """Insert the alert unless it is a duplicate (see :func:`_dedup_key`); None for a duplicate.
    A concurrent run inserting the same key loses on the unique constraint and counts it as one."""
    window = cand.rule.dedup_window or window
    key, once = _dedup_key(cand, window, now)
    owner = routing.owner_for(cand.store_id, cand.region, cand.touchpoint)
    try:
        with ops.session() as s:
            if s.scalar(select(Alert.alert_id).where(Alert.dedup_key == key)) is not None:
                return None
            if not once:
                recent = s.scalar(
                    select(Alert.alert_id).where(
                        Alert.rule_id == cand.rule.id,
                        Alert.subject == cand.subject,
                        Alert.created_at > now - window,
                    )
                )
                if recent is not None:
                    return None
            alert = Alert(
                rule_id=cand.rule.id,
                kind=cand.rule.kind,
                subject=cand.subject[:512],
                feedback_id=cand.feedback_id,
                store_id=cand.store_id,
                region=cand.region,
                touchpoint=cand.touchpoint,
                owner=owner.owner,
                priority=cand.priority,
                title=cand.title[:512],
                detail=cand.detail,
                dedup_key=key,
                created_at=now,
                status="new",
            )
            s.add(alert)
            s.flush()
            ops.audit(s, "fire", "alert", str(alert.alert_id), rule=cand.rule.id, owner=owner.owner)
    except IntegrityError:
        return None
    return alert


def _payload(alert: Alert) -> dict[str, Any]:
    return {
        "type": "alert",
        "alert_id": alert.alert_id,
        "rule": alert.rule_id,
        "kind": alert.kind,
        "title": alert.title,
        "priority": alert.priority,
        "store_id": alert.store_id,
        "region": alert.region,
        "touchpoint": alert.touchpoint,
        "owner": alert.owner,
        "case_id": alert.case_id,
        "detail": alert.detail,
    }


def _mark(ops: OpsStore, alerts: list[Alert], errors: list[str], report: AlertRun, label: str) -> None:
    """Record one delivery attempt on its alerts: delivered, or the error (retried next run)."""
    with ops.session() as s:
        for alert in alerts:
            row = s.get(Alert, alert.alert_id)
            if row is None:
                continue
            if errors:
                row.delivery_error = "; ".join(errors)[:2000]
            else:
                row.delivered_at, row.delivery_error = utcnow(), None
    if errors:
        report.failed += len(alerts)
        report.errors += [f"{label}: {e}" for e in errors]
    else:
        report.delivered += len(alerts)


def _digest_due(ops: OpsStore, owner: str, every: timedelta, now: datetime) -> bool:
    with ops.sessions() as s:
        row = s.get(ActCursor, f"{DIGEST}{owner}"[:128])
    return row is None or row.value is None or now - row.value >= every


def _digest_sent(ops: OpsStore, owner: str, now: datetime) -> None:
    _set_cursor(ops, f"{DIGEST}{owner}"[:128], now, forward_only=False)


def deliver(
    ops: OpsStore, routing: Routing, base_url: str, report: AlertRun, now: datetime | None = None
) -> None:
    """Notify owners of every undelivered alert (failures are kept and retried on the next run).

    An owner with a ``digest`` period gets alerts below their ``immediate`` priority together, in
    one message per period (the first as soon as there is one); the rest come one by one."""
    now = now or utcnow()
    with ops.sessions() as s:
        pending = list(s.scalars(select(Alert).where(Alert.delivered_at.is_(None)).order_by(Alert.alert_id)))
    batches: dict[str, list[Alert]] = {}
    for alert in pending:
        contact = routing.contact(alert.owner)
        if not (contact.email or contact.webhook):
            continue
        if not contact.sends_at_once(alert.priority):
            batches.setdefault(contact.owner, []).append(alert)
            continue
        link = f"{base_url.rstrip('/')}/app/cases" + (f"/{alert.case_id}" if alert.case_id else "")
        errors = notify(contact, f"[cxlens] {alert.title}", link, _payload(alert))
        _mark(ops, [alert], errors, report, f"alert {alert.alert_id}")
    for owner, alerts in batches.items():
        contact = routing.contact(owner)
        if contact.digest is None or not _digest_due(ops, owner, contact.digest, now):
            continue
        link = f"{base_url.rstrip('/')}/app/cases"
        payload = {
            "type": "alert.digest",
            "owner": owner,
            "count": len(alerts),
            "alerts": [
                {k: v for k, v in _payload(a).items() if k not in ("type", "owner", "detail")} for a in alerts
            ],
        }
        errors = notify(contact, f"[cxlens] {len(alerts)} alerts for {owner}", link, payload)
        _mark(ops, alerts, errors, report, f"digest for {owner}")
        if not errors:
            _digest_sent(ops, owner, now)
            report.digests += 1


def _first_start(ws: Workspace, first_run: timedelta) -> datetime | None:
    """Where a first run (no cursor) starts reading: ``first_run`` before the last feedback, so it
    evaluates recent feedback even when the data end before today (a demo, a late load)."""
    fb = ws.table("feedback", ENGINE)
    latest = fb.filter(fb.brand.isnull()).submitted_at.max().to_pandas()
    if latest is None or pd.isna(latest):
        return None
    return pd.Timestamp(latest).to_pydatetime() - first_run


def _day(cand: Candidate) -> str:
    value = cand.detail.get("submitted_at") or cand.detail.get("period") or cand.detail.get("day") or ""
    return str(value)[:10]


def run_alerts(
    ops: OpsStore,
    ws: Workspace,
    rules: RuleSet | None = None,
    routing: Routing | None = None,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    base_url: str = "http://127.0.0.1:8000",
    send: bool = True,
) -> AlertRun:
    """Evaluate the rules on new feedback and on the metrics, record new alerts, open cases where
    a rule or the owner's route asks for it, and deliver. ``since`` overrides the cursor; the first
    run (no cursor) reads the ``first_run`` window before the last feedback."""
    rules = rules or DEFAULT_RULES
    routing = routing or Routing()
    now = now or utcnow()
    report = AlertRun()
    feedback_rules = [r for r in rules.rules if isinstance(r, _FeedbackRule)]
    start: datetime | None = None
    if feedback_rules:
        cursor = _cursor(ops)
        if since is not None:
            start = since
        elif cursor is not None:
            start = cursor - rules.overlap
        else:
            start = _first_start(ws, rules.first_run)
    frame, cands = _candidates(ws, rules, start)
    report.evaluated = len(frame)
    for cand in cands:
        alert = _record(ops, cand, routing, rules.dedup_window, now)
        if alert is None:
            report.deduplicated += 1
            continue
        report.fired += 1
        report.alert_ids.append(alert.alert_id)
        contact = routing.contact(alert.owner)
        opened = bool(cand.rule.open_case or contact.opens_case(alert.priority))
        if opened:
            case_ops.open_from_alert(
                ops, alert.alert_id, routing=routing, actor=f"rule:{cand.rule.id}", now=now
            )
            report.cases_opened += 1
        report.fired_alerts.append((alert.owner or "", _day(cand), alert.priority, opened))
    if feedback_rules and report.evaluated:  # only once every alert of these rows is recorded
        _save_cursor(ops, pd.Timestamp(frame["submitted_at"].max()).to_pydatetime())
    if send:
        deliver(ops, routing, base_url, report, now)
    return report


def _candidates(
    ws: Workspace, rules: RuleSet, start: datetime | None
) -> tuple[pd.DataFrame, list[Candidate]]:
    """The feedback read from ``start`` and what every rule would fire on it and on the metrics."""
    feedback_rules = [r for r in rules.rules if isinstance(r, _FeedbackRule)]
    frame, cands = pd.DataFrame(columns=["feedback_id", "submitted_at"]), []
    if feedback_rules:
        frame = new_feedback(ws, start)
        need_aspects = any(isinstance(r, AspectRule) for r in feedback_rules)
        aspects = _aspects(ws, [str(i) for i in frame["feedback_id"]]) if need_aspects else pd.DataFrame()
        cands += feedback_candidates(feedback_rules, frame, aspects)
    metric_rules = [r for r in rules.rules if isinstance(r, _MetricRule)]
    if metric_rules:
        regions = _regions(ws)
        for rule in metric_rules:
            if isinstance(rule, MetricDropRule):
                cands += drop_candidates(ws, rule, regions)
            elif isinstance(rule, AnomalyRule):
                cands += anomaly_candidates(ws, rule, regions)
    return frame, cands


def preview_alerts(ws: Workspace, rules: RuleSet, routing: Routing, days: float = 7) -> AlertRun:
    """What the rules would raise on the last ``days`` of feedback (before the latest feedback)
    and on the metrics now, routed but not recorded, delivered or deduplicated against stored
    alerts (only among themselves, like a run would): :meth:`AlertRun.volume` per owner and day."""
    report = AlertRun()
    start = _first_start(ws, timedelta(days=days))
    frame, cands = _candidates(ws, rules, start)
    report.evaluated = len(frame)
    seen: set[tuple[str, str, str]] = set()
    for cand in cands:
        window = cand.rule.dedup_window or rules.dedup_window
        once = isinstance(cand.rule, _MetricRule) or getattr(cand.rule, "dedup_by", "") == "feedback_id"
        day = _day(cand)
        bucket = "" if once or not day else str(int(pd.Timestamp(day).timestamp() // window.total_seconds()))
        key = (cand.rule.id, cand.subject, bucket)
        if key in seen:
            report.deduplicated += 1
            continue
        seen.add(key)
        report.fired += 1
        owner = routing.owner_for(cand.store_id, cand.region, cand.touchpoint)
        opened = bool(cand.rule.open_case or routing.contact(owner.owner).opens_case(cand.priority))
        report.cases_opened += opened
        report.fired_alerts.append((owner.owner, day, cand.priority, opened))
    return report


def list_alerts(
    ops: OpsStore, *, stores: list[str] | None = None, rule: str | None = None, limit: int = 200
) -> list[Alert]:
    """Recent alerts, newest first, limited to ``stores`` (None: all)."""
    query = select(Alert).order_by(Alert.created_at.desc(), Alert.alert_id.desc()).limit(limit)
    if stores is not None:
        query = query.where(Alert.store_id.in_(stores))
    if rule:
        query = query.where(Alert.rule_id == rule)
    with ops.sessions() as s:
        return list(s.scalars(query))


def get_alert(ops: OpsStore, alert_id: int) -> Alert | None:
    """One alert, or None."""
    with ops.sessions() as s:
        return s.get(Alert, alert_id)


def alert_dict(alert: Alert) -> dict[str, Any]:
    """An alert as JSON-ready values."""
    out: dict[str, Any] = {}
    for col in Alert.__table__.columns:
        if col.name == "dedup_key":
            continue
        value = getattr(alert, col.name)
        out[col.name] = value.isoformat(timespec="seconds") if isinstance(value, datetime) else value
    return out
