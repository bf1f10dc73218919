"""Alerts: rules on single feedback (detractors, negative aspects, keywords) and on metrics (a
significant drop against the previous period, an anomalous day), routed, deduplicated and
delivered by webhook and e-mail.

Rules are YAML (see ``docs/act.md``)::

    dedup_window: 7d
    rules:
      - {id: detractor, kind: detractor, threshold: 6, priority: high, open_case: true}
      - {id: refund, kind: keyword, keywords: [refund, 退款, 返金, 환불, возврат, reembolso]}
      - {id: staff_negative, kind: aspect, aspects: [staff]}
      - {id: csat_drop, kind: metric_drop, metric: csat, grain: week, by: store_id, min_drop: 5}
      - {id: nps_anomaly, kind: anomaly, metric: nps, by: store_id, z: 3.5, baseline_days: 28}

Feedback rules look at feedback submitted since the last run (a cursor in the operational store,
minus an overlap for late loads); the dedup key makes re-reading a row harmless. Metric rules run
the analytics of :mod:`cxlens.analyse.metrics` over the workspace on DuckDB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from ibis.common.exceptions import TableNotFound
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cxlens.act import cases as case_ops
from cxlens.act.routing import Routing, notify
from cxlens.collect.triggers import parse_duration
from cxlens.ops import OpsStore, utcnow
from cxlens.ops.act_models import PRIORITIES, ActCursor, Alert

if TYPE_CHECKING:
    from cxlens.storage.workspace import Workspace

CURSOR = "alerts.feedback"
#: Cursor-table name prefix of the time each owner's last digest was sent.
DIGEST = "alerts.digest."
REFUND_KEYWORDS = (
    "refund",
    "money back",
    "退款",
    "退钱",
    "返金",
    "返品",
    "환불",
    "возврат",
    "верните деньги",
    "reembolso",
    "remboursement",
    "rückerstattung",
    "rimborso",
)
ENGINE = "duckdb"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    priority: str = "normal"
    open_case: bool = False
    dedup_window: timedelta | None = None
    title: str | None = None

    @field_validator("dedup_window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_duration(value)

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: str) -> str:
        if value not in PRIORITIES:
            raise ValueError(f"priority is one of {', '.join(PRIORITIES)}")
        return value


class _FeedbackRule(_Rule):
    touchpoints: tuple[str, ...] = ()
    #: What counts as "the same" for deduplication: the feedback row, the customer or the store.
    dedup_by: Literal["feedback_id", "customer_id", "store_id"] = "feedback_id"


class DetractorRule(_FeedbackRule):
    """An NPS answer at or below ``threshold`` (a detractor: 0-6); at or below ``severe`` the
    alert's priority is raised to ``severe_priority`` (its severity)."""

    kind: Literal["detractor"]
    threshold: int = Field(default=6, ge=0, le=10)
    severe: int | None = Field(default=None, ge=0, le=10)
    severe_priority: str = "high"

    @field_validator("severe_priority")
    @classmethod
    def _severe(cls, value: str) -> str:
        return cls._priority(value)


class KeywordRule(_FeedbackRule):
    """A text or title containing any keyword (case-insensitive substring, any language)."""

    kind: Literal["keyword"]
    keywords: tuple[str, ...] = REFUND_KEYWORDS


class AspectRule(_FeedbackRule):
    """A negative sentiment on an aspect (``feedback_aspects`` from ``cxlens text analyse``)."""

    kind: Literal["aspect"]
    aspects: tuple[str, ...] = ()
    max_score: float | None = None


class _MetricRule(_Rule):
    metric: Literal["nps", "csat", "csat_mean", "ces", "rating"] = "nps"
    by: Literal["store_id", "region", "touchpoint", "product_id"] = "store_id"
    filters: dict[str, Any] = Field(default_factory=dict)
    min_n: int = Field(default=30, ge=1)


class MetricDropRule(_MetricRule):
    """The latest period worse than the previous one, significantly and by at least ``min_drop``
    (a partial period is compared with the same days of the one before); a drop of ``severe_drop``
    or more raises the alert's priority to ``severe_priority``."""

    kind: Literal["metric_drop"]
    grain: Literal["day", "week", "month", "quarter"] = "week"
    min_drop: float = Field(default=0.0, ge=0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    severe_drop: float | None = Field(default=None, ge=0)
    severe_priority: str = "high"

    @field_validator("severe_priority")
    @classmethod
    def _severe(cls, value: str) -> str:
        return cls._priority(value)


class AnomalyRule(_MetricRule):
    """The latest day's value a robust z-score (median/MAD of the baseline days) beyond ``z``."""

    kind: Literal["anomaly"]
    z: float = Field(default=3.5, gt=0)
    baseline_days: int = Field(default=28, ge=7)


Rule = Annotated[
    DetractorRule | KeywordRule | AspectRule | MetricDropRule | AnomalyRule, Field(discriminator="kind")
]
_RULE = TypeAdapter(Rule)


@dataclass(frozen=True)
class RuleSet:
    """Validated rules, the default dedup window, the re-read overlap and how far back the first
    run (no cursor yet) reads from the last feedback."""

    rules: tuple[Any, ...]
    dedup_window: timedelta = timedelta(days=7)
    overlap: timedelta = timedelta(days=1)
    first_run: timedelta = timedelta(days=2)


#: Tuned on the demo retailer (docs/act.md, "Volume"): every detractor is an alert, severe ones
#: (0-2) and refund requests are high priority (a case of their own with the default routing);
#: negative aspects only for what a store team can act on (staff, service, the store itself).
DEFAULT_RULES = RuleSet(
    (
        DetractorRule(id="detractor", kind="detractor", priority="normal", threshold=4, severe=2),
        KeywordRule(id="refund", kind="keyword", priority="high"),
        AspectRule(
            id="negative-aspect",
            kind="aspect",
            priority="low",
            aspects=("staff", "customer_service", "store_environment"),
        ),
        MetricDropRule(id="nps-drop", kind="metric_drop", metric="nps", min_drop=5, severe_drop=15),
        # reviews come in slower than surveys: a month against the one before, by 0.2 stars or more
        MetricDropRule(id="rating-drop", kind="metric_drop", metric="rating", grain="month", min_drop=0.2),
    )
)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and validate a rules YAML file (None: the default rules); errors name rule and field."""
    if path is None:
        return DEFAULT_RULES
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with a 'rules' list")
    rules, lines = [], []
    for i, item in enumerate(data.get("rules") or []):
        try:
            rules.append(_RULE.validate_python(item))
        except ValidationError as err:
            lines += [f"  rules.{i}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
    ids = [r.id for r in rules]
    lines += [f"  rule id {d!r} is used twice" for d in sorted({i for i in ids if ids.count(i) > 1})]
    try:
        window = parse_duration(data.get("dedup_window", "7d"))
        overlap = parse_duration(data.get("overlap", "1d"))
        first_run = parse_duration(data.get("first_run", "2d"))
    except ValueError as exc:
        lines.append(f"  {exc}")
    if lines:
        raise ValueError("\n".join([f"{path}: invalid alert rules:", *lines]))
    return RuleSet(tuple(rules), window, overlap, first_run)


@dataclass
class Candidate:
    """A fired rule before deduplication."""

    rule: Any
    subject: str
    title: str
    store_id: str | None = None
    region: str | None = None
    touchpoint: str | None = None
    feedback_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    #: The alert's priority: the rule's, raised for a severe case (see the rules' ``severe*``).
    priority: str = field(default="", kw_only=True)

    def __post_init__(self) -> None:
        self.priority = self.priority or self.rule.priority


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
        return (
            f"{v['owner'].nunique()} owners; alerts per owner per day: median {v['alerts'].median():.0f}, "
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


# -- feedback rules ---------------------------------------------------------------------------------


def new_feedback(ws: Workspace, since: datetime | None) -> pd.DataFrame:
    """Our own brand's feedback submitted after ``since``, with the store's region."""
    fb = ws.table("feedback", ENGINE)
    stores = ws.table("stores", ENGINE).select("store_id", "region")
    picked = fb.filter(fb.brand.isnull())
    if since is not None:
        picked = picked.filter(picked.submitted_at > since)
    joined = picked.left_join(stores, picked.store_id == stores.store_id)
    cols = ("feedback_id", "submitted_at", "customer_id", "store_id", "touchpoint", "channel", "source")
    return joined.select(
        *(picked[c] for c in cols), stores.region, picked.nps, picked.csat, picked.title, picked.text
    ).to_pandas()


def _aspects(ws: Workspace, ids: list[str]) -> pd.DataFrame:
    """Negative aspect mentions of these feedback rows (empty when text analysis never ran)."""
    empty = pd.DataFrame(columns=["feedback_id", "aspect", "sub_aspect", "sentiment", "score"])
    if not ids:
        return empty
    try:
        t = ws.backend(ENGINE).table("feedback_aspects")
    except TableNotFound:
        return empty
    t = t.filter(t.feedback_id.isin(ids), t.sentiment == "negative")
    return t.select("feedback_id", "aspect", "sub_aspect", "sentiment", "score").to_pandas()


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _excerpt(row: Any) -> str:
    text = " — ".join(t for t in (_text(row.title), _text(row.text)) if t)
    return text[:500]


def _feedback_candidate(rule: Any, row: Any, title: str, **detail: Any) -> Candidate:
    key = _text(getattr(row, rule.dedup_by)) or _text(row.feedback_id) or ""
    base = {
        "feedback_id": _text(row.feedback_id),
        "customer_id": _text(row.customer_id),
        "submitted_at": str(row.submitted_at),
        "source": _text(row.source),
        "nps": None if pd.isna(row.nps) else int(row.nps),
        "csat": None if pd.isna(row.csat) else int(row.csat),
        "excerpt": _excerpt(row),
    }
    where = " · ".join(x for x in (_text(row.store_id), _text(row.touchpoint)) if x)
    return Candidate(
        rule,
        f"{rule.dedup_by}={key}",
        (rule.title or title) + (f" ({where})" if where else ""),
        _text(row.store_id),
        _text(row.region),
        _text(row.touchpoint),
        _text(row.feedback_id),
        {**base, **detail},
    )


def feedback_candidates(rules: list[Any], frame: pd.DataFrame, aspects: pd.DataFrame) -> list[Candidate]:
    """Apply the single-feedback rules to new feedback rows."""
    out: list[Candidate] = []
    by_fb = aspects.groupby("feedback_id") if not aspects.empty else None
    row: Any
    for row in frame.itertuples(index=False):
        for rule in rules:
            if rule.touchpoints and _text(row.touchpoint) not in rule.touchpoints:
                continue
            if isinstance(rule, DetractorRule):
                if not pd.isna(row.nps) and int(row.nps) <= rule.threshold:
                    cand = _feedback_candidate(rule, row, f"Detractor: NPS {int(row.nps)}")
                    if rule.severe is not None and int(row.nps) <= rule.severe:
                        cand.priority, cand.detail["severity"] = rule.severe_priority, "severe"
                    out.append(cand)
            elif isinstance(rule, KeywordRule):
                text = " ".join(t for t in (_text(row.title), _text(row.text)) if t).casefold()
                hits = [k for k in rule.keywords if k.casefold() in text] if text else []
                if hits:
                    out.append(_feedback_candidate(rule, row, f"Keyword: {hits[0]}", keywords=hits))
            elif isinstance(rule, AspectRule) and by_fb is not None and row.feedback_id in by_fb.groups:
                found = by_fb.get_group(row.feedback_id)
                if rule.aspects:
                    found = found[found["aspect"].isin(rule.aspects)]
                if rule.max_score is not None:
                    found = found[found["score"] <= rule.max_score]
                if not found.empty:
                    names = sorted(set(found["aspect"].astype(str)))
                    out.append(_feedback_candidate(rule, row, f"Negative {', '.join(names)}", aspects=names))
    return out


# -- metric rules -----------------------------------------------------------------------------------


def _regions(ws: Workspace) -> dict[str, str | None]:
    stores = ws.table("stores", ENGINE).select("store_id", "region").to_pandas()
    return {str(r.store_id): _text(r.region) for r in stores.itertuples(index=False)}


def _where(rule: Any, value: Any, regions: dict[str, str | None]) -> dict[str, str | None]:
    value = _text(value)
    tp = rule.filters.get("touchpoint") if isinstance(rule.filters.get("touchpoint"), str) else None
    if rule.by == "store_id":
        return {"store_id": value, "region": regions.get(value or ""), "touchpoint": tp}
    if rule.by == "region":
        return {"store_id": None, "region": value, "touchpoint": tp}
    if rule.by == "product_id":
        return {"store_id": None, "region": None, "touchpoint": tp}
    return {"store_id": None, "region": None, "touchpoint": value}


def drop_candidates(ws: Workspace, rule: MetricDropRule, regions: dict[str, str | None]) -> list[Candidate]:
    """Groups whose latest period is significantly worse than the one before."""
    from cxlens.analyse import metrics as m

    try:
        cmp = m.compare_periods(
            lambda name: ws.table(name, ENGINE),
            rule.metric,
            rule.grain,
            by=[rule.by],
            filters=rule.filters or None,
            confidence=rule.confidence,
            min_n=rule.min_n,
        )
    except ValueError:
        return []
    worse = -1 if m.METRICS[rule.metric].higher_is_better else 1
    hits = cmp[cmp["significant"] & ~cmp["small_n"] & (worse * cmp["diff"] >= rule.min_drop)]
    hits = hits[worse * hits["diff"] > 0]
    out = []
    r: Any
    for r in hits.itertuples(index=False):
        group = getattr(r, rule.by)
        period = pd.Timestamp(r.period_a).date().isoformat()
        label = m.METRICS[rule.metric].label
        detail = {
            "metric": rule.metric,
            "period": period,
            "previous": pd.Timestamp(r.period_b).date().isoformat(),
            "value": round(float(r.value_a), 3),
            "baseline": round(float(r.value_b), 3),
            "diff": round(float(r.diff), 3),
            "ci": [round(float(r.diff_ci_low), 3), round(float(r.diff_ci_high), 3)],
            "p_value": float(r.p_value),
            "n": int(r.n_a),
            "n_baseline": int(r.n_b),
        }
        if bool(r.partial):
            detail["compared"] = cmp.attrs.get("comparison", "")
            detail["through"] = (pd.Timestamp(r.period_a_end) - pd.Timedelta(days=1)).date().isoformat()
        digits = 2 if m.METRICS[rule.metric].kind == "mean" else 1
        where = f"{rule.by}={group}" if _text(group) is not None else f"feedback with no {rule.by}"
        title = f"{label} dropped {abs(r.diff):.{digits}f} in {where} ({period})"
        severe = rule.severe_drop if rule.severe_drop is not None else 2 * rule.min_drop
        priority = rule.severe_priority if severe > 0 and abs(float(r.diff)) >= severe else rule.priority
        out.append(
            Candidate(
                rule,
                f"{rule.metric}:{rule.by}={group}:{period}",
                rule.title or title,
                **_where(rule, group, regions),
                detail=detail,
                priority=priority,
            )
        )
    return out


def robust_z(values: np.ndarray, baseline: np.ndarray) -> float:
    """(value - median) / (1.4826 MAD) of the baseline; 0 when the baseline has no spread."""
    med = float(np.median(baseline))
    mad = 1.4826 * float(np.median(np.abs(baseline - med)))
    if mad == 0 or not np.isfinite(mad):
        return 0.0
    return float((values - med) / mad)


def anomaly_candidates(ws: Workspace, rule: AnomalyRule, regions: dict[str, str | None]) -> list[Candidate]:
    """Groups whose latest day is an outlier (robust z) against their previous ``baseline_days``."""
    from cxlens.analyse import metrics as m

    fb = ws.table("feedback", ENGINE)
    fb = fb.filter(fb.brand.isnull())  # our own answers: competitors' reviews have no store day
    latest = fb.submitted_at.max().to_pandas()
    if latest is None or pd.isna(latest):
        return []
    day = pd.Timestamp(latest).normalize()
    start = day - pd.Timedelta(days=rule.baseline_days)
    table = m.metric_table(
        lambda name: ws.table(name, ENGINE),
        rule.metric,
        by=[rule.by],
        grain="day",
        filters=rule.filters or None,
        start=start,
        min_n=rule.min_n,
    )
    worse = -1 if m.METRICS[rule.metric].higher_is_better else 1
    out = []
    for group, part in table.groupby(rule.by, dropna=True):
        part = part[~part["small_n"]]
        today = part[pd.to_datetime(part["period"]) == day]
        base = part[pd.to_datetime(part["period"]) < day]["value"].to_numpy(float)
        if today.empty or len(base) < 7:
            continue
        value = float(today["value"].iloc[0])
        z = robust_z(np.array(value), base)
        if worse * z >= rule.z:
            label = m.METRICS[rule.metric].label
            detail = {"metric": rule.metric, "day": day.date().isoformat(), "value": round(value, 3)}
            detail.update(median=round(float(np.median(base)), 3), z=round(z, 2), n=int(today["n"].iloc[0]))
            title = f"{label} anomaly in {rule.by}={group} on {day.date()} (z={z:.1f})"
            subject = f"{rule.metric}:{rule.by}={group}:{day.date()}"
            where = _where(rule, group, regions)
            out.append(
                Candidate(rule, subject, rule.title or title, **where, detail=detail, priority=rule.priority)
            )
    return out


# -- the run ----------------------------------------------------------------------------------------


def _cursor(ops: OpsStore) -> datetime | None:
    with ops.sessions() as s:
        row = s.get(ActCursor, CURSOR)
    return row.value if row is not None else None


def _save_cursor(ops: OpsStore, value: datetime) -> None:
    with ops.session() as s:
        row = s.get(ActCursor, CURSOR)
        if row is None:
            s.add(ActCursor(name=CURSOR, value=value, updated_at=utcnow()))
        elif row.value is None or value > row.value:
            row.value, row.updated_at = value, utcnow()


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
    name = f"{DIGEST}{owner}"[:128]
    with ops.session() as s:
        row = s.get(ActCursor, name)
        if row is None:
            s.add(ActCursor(name=name, value=now, updated_at=utcnow()))
        else:
            row.value, row.updated_at = now, utcnow()


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
    cands: list[Candidate] = []
    if feedback_rules:
        cursor = _cursor(ops)
        if since is not None:
            start: datetime | None = since
        elif cursor is not None:
            start = cursor - rules.overlap
        else:
            start = _first_start(ws, rules.first_run)
        frame = new_feedback(ws, start)
        report.evaluated = len(frame)
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
