"""Alert rules: what fires an alert (single feedback: detractors, keywords, negative aspects;
metrics: a significant drop, an anomalous day), the tuned defaults, and the YAML that defines them.

Rules are YAML (see ``docs/act.md``)::

    dedup_window: 7d
    first_run: 2d
    rules:
      - {id: detractor, kind: detractor, threshold: 6, severe: 2, open_case: true}
      - {id: refund, kind: keyword, keywords: [refund, 退款, 返金, 환불, возврат, reembolso]}
      - {id: staff_negative, kind: aspect, aspects: [staff]}
      - {id: csat_drop, kind: metric_drop, metric: csat, grain: week, by: store_id, min_drop: 5}
      - {id: nps_anomaly, kind: anomaly, metric: nps, by: store_id, z: 3.5, baseline_days: 28}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from cxlens.act.validation import ConfigError, dump_yaml, field_errors, parse_yaml, with_positions
from cxlens.collect.triggers import parse_duration
from cxlens.ops.act_models import PRIORITIES

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


#: The longest window or duration a rule may give (ten years).
MAX_DAYS = 3650


def bounded_duration(value: Any, *, zero: bool = False) -> timedelta:
    """A duration (``7d``, ``6h``, seconds as a number) more than 0 (or 0 with ``zero``) and at
    most :data:`MAX_DAYS` days; ValueError otherwise."""
    try:
        window = parse_duration(value)
    except OverflowError:
        raise ValueError(f"must be at most {MAX_DAYS} days") from None
    if window < timedelta(0) or (window == timedelta(0) and not zero):
        raise ValueError(f"must be more than 0{' or 0' if zero else ''}; got {value!r}")
    if window > timedelta(days=MAX_DAYS):
        raise ValueError(f"must be at most {MAX_DAYS} days; got {value!r}")
    return window


def _dimension(name: str) -> str:
    from cxlens.analyse.metrics.definitions import DIMENSIONS

    if name not in DIMENSIONS:
        raise ValueError(f"is not a dimension to filter on; one of {', '.join(DIMENSIONS)}")
    return name


def _filter_value(value: Any) -> Any:
    """Text, true/false, null (no value) or a non-empty list of text or true/false."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        raise ValueError("must not be an empty list")
    if value is not None and not all(isinstance(v, str | bool) for v in items):
        raise ValueError("must be text (quote numbers such as '101'), true/false, null or a list of them")
    return value


FilterKey = Annotated[str, AfterValidator(_dimension)]
FilterValue = Annotated[Any, PlainValidator(_filter_value)]


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
        return None if value is None else bounded_duration(value)

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
    threshold: int = Field(default=6, ge=0, le=10, strict=True)
    severe: int | None = Field(default=None, ge=0, le=10, strict=True)
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
    max_score: float | None = Field(default=None, ge=-1, le=1, strict=True, allow_inf_nan=False)


class _MetricRule(_Rule):
    metric: Literal["nps", "csat", "csat_mean", "ces", "rating"] = "nps"
    by: Literal["store_id", "region", "touchpoint", "product_id"] = "store_id"
    filters: dict[FilterKey, FilterValue] = Field(default_factory=dict)
    min_n: int = Field(default=30, ge=1, le=1_000_000_000, strict=True)


class MetricDropRule(_MetricRule):
    """The latest period worse than the previous one, significantly and by at least ``min_drop``
    (a partial period is compared with the same days of the one before); a drop of ``severe_drop``
    or more raises the alert's priority to ``severe_priority``."""

    kind: Literal["metric_drop"]
    grain: Literal["day", "week", "month", "quarter"] = "week"
    min_drop: float = Field(default=0.0, ge=0, le=1e6, strict=True, allow_inf_nan=False)
    confidence: float = Field(default=0.95, gt=0.5, lt=1, strict=True, allow_inf_nan=False)
    severe_drop: float | None = Field(default=None, ge=0, le=1e6, strict=True, allow_inf_nan=False)
    severe_priority: str = "high"

    @field_validator("severe_priority")
    @classmethod
    def _severe(cls, value: str) -> str:
        return cls._priority(value)


class AnomalyRule(_MetricRule):
    """The latest day's value a robust z-score (median/MAD of the baseline days) beyond ``z``."""

    kind: Literal["anomaly"]
    z: float = Field(default=3.5, gt=0, le=1000, strict=True, allow_inf_nan=False)
    baseline_days: int = Field(default=28, ge=7, le=MAX_DAYS, strict=True)


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


RULESET_KEYS = ("dedup_window", "overlap", "first_run", "rules")


def rules_from_data(data: dict[str, Any], where: str = "") -> RuleSet:
    """Validate a rules mapping; ConfigError names every bad field (``rules[2].threshold: ...``)."""
    rules, lines = [], []
    lines += [f"{key}: is not a known field" for key in data if key not in RULESET_KEYS]
    items = data.get("rules") or []
    if not isinstance(items, list):
        lines.append("rules: must be a list")
        items = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            lines.append(f"rules[{i}]: must be a mapping")
            continue
        try:
            rules.append(_RULE.validate_python(item))
        except ValidationError as err:
            lines += field_errors(err, f"rules[{i}]", skip_tag=str(item.get("kind")))
    ids = [r.id for r in rules]
    lines += [f"rules: rule id {d!r} is used twice" for d in sorted({i for i in ids if ids.count(i) > 1})]
    durations = {}
    for key, default in (("dedup_window", "7d"), ("overlap", "1d"), ("first_run", "2d")):
        try:
            durations[key] = bounded_duration(data.get(key, default), zero=key == "overlap")
        except ValueError as exc:
            lines.append(f"{key}: {exc}")
    if lines:
        raise ConfigError("alert rules", lines, where)
    return RuleSet(tuple(rules), durations["dedup_window"], durations["overlap"], durations["first_run"])


def parse_rules(text: str, where: str = "") -> RuleSet:
    """Validate a rules YAML text (see :func:`rules_from_data`)."""
    data = parse_yaml(text, "alert rules", where)
    try:
        return rules_from_data(data, where)
    except ConfigError as exc:
        raise with_positions(exc, text) from None


def rules_yaml(ruleset: RuleSet) -> str:
    """A rule set as the YAML that :func:`parse_rules` reads back to the same rules."""
    data: dict[str, Any] = {
        "dedup_window": ruleset.dedup_window,
        "overlap": ruleset.overlap,
        "first_run": ruleset.first_run,
        "rules": [
            {"id": r.id, "kind": r.kind, **r.model_dump(exclude_defaults=True, exclude={"id", "kind"})}
            for r in ruleset.rules
        ],
    }
    return dump_yaml(data)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and validate a rules YAML file (None: the default rules); errors name rule and field."""
    if path is None:
        return DEFAULT_RULES
    return parse_rules(Path(path).read_text(encoding="utf-8"), str(path))
