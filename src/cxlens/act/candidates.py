"""What fired: the rules of :mod:`cxlens.act.rules` applied to new feedback rows and to the
metrics (a significant drop, an anomalous day), as candidate alerts before deduplication."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from ibis.common.exceptions import TableNotFound

from cxlens.act.rules import AnomalyRule, AspectRule, DetractorRule, KeywordRule, MetricDropRule

if TYPE_CHECKING:
    from cxlens.storage.workspace import Workspace

ENGINE = "duckdb"


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
