"""CX metrics (NPS, CSAT, CES) by any dimension, always with n, a confidence interval and a small-n flag.

The counts, sums and sums of squares are computed in the engine by one Ibis aggregation
(:func:`metric_expr`), so the same code runs on DuckDB and Spark and scales to tens of millions of
feedback rows; intervals and significance tests are then computed on the small aggregated frame.

Metric values: NPS in points (-100..100); CSAT as the percentage of 4-5 answers (``csat``) and
the mean on 1-5 (``csat_mean``); CES as the mean on 1-7, where **lower is better** (1 = very easy);
``rating`` as the mean star rating on 1-5. Only rows with a non-null score count towards a metric.
By default only feedback about our own brand (``brand IS NULL``) is used.

Example::

    metric_table(ws, "nps", by=["region"], grain="month")
    compare_periods(ws, ["nps", "csat"], grain="quarter", by=["store_id"])
"""

from cxlens.analyse.common import TableGetter, Tables
from cxlens.analyse.metrics.compare import compare_segments
from cxlens.analyse.metrics.definitions import (
    ALL_BRANDS,
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_N,
    DIMENSIONS,
    HEADLINE_METRICS,
    METRICS,
    REST,
    SCORES,
    STAT_COLUMNS,
    UNKNOWN,
    Dimension,
    Grain,
    Metric,
    MetricName,
    Score,
    period_start,
)
from cxlens.analyse.metrics.engine import metric_expr
from cxlens.analyse.metrics.periods import PeriodPair, biggest_movers, compare_periods, headline, period_pair
from cxlens.analyse.metrics.tables import (
    Ranking,
    available_metrics,
    best_worst,
    breakdown,
    metric_table,
    trend,
)

__all__ = [
    "ALL_BRANDS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_MIN_N",
    "DIMENSIONS",
    "HEADLINE_METRICS",
    "METRICS",
    "REST",
    "SCORES",
    "STAT_COLUMNS",
    "UNKNOWN",
    "Dimension",
    "Grain",
    "Metric",
    "MetricName",
    "PeriodPair",
    "Ranking",
    "Score",
    "TableGetter",
    "Tables",
    "available_metrics",
    "best_worst",
    "biggest_movers",
    "breakdown",
    "compare_periods",
    "compare_segments",
    "headline",
    "metric_expr",
    "metric_table",
    "period_pair",
    "period_start",
    "trend",
]
