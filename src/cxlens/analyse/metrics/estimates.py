"""The pandas side: values, intervals and differences on the small aggregated frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from cxlens.analyse import stats as st
from cxlens.analyse.common import Tables, journey_map_of
from cxlens.analyse.metrics.definitions import METRICS, STAT_COLUMNS, Grain, Metric, _as_list, _dimensions
from cxlens.journey.map import JourneyMap


def _moments(agg: pd.DataFrame, specs: list[Metric], keys: list[str]) -> pd.DataFrame:
    """Long frame: keys, metric, n, top, bottom, sum, sumsq (groups with n = 0 dropped)."""
    agg = agg.copy()
    if "period" in agg.columns:
        period = agg["period"]
        if isinstance(period.dtype, pd.DatetimeTZDtype):
            period = period.dt.tz_convert("UTC").dt.tz_localize(None)
        agg["period"] = pd.to_datetime(period).astype("datetime64[us]")
    parts = []
    for m in specs:
        s = m.score
        part = agg[keys].copy()
        part.insert(len(keys), "metric", m.name)
        for stat in STAT_COLUMNS:
            col = f"{s}_{stat}"
            values = agg[col] if col in agg.columns else 0.0
            part[stat] = pd.to_numeric(pd.Series(values, index=agg.index), errors="coerce")
        part[list(STAT_COLUMNS)] = part[list(STAT_COLUMNS)].astype("float64").fillna(0.0)
        parts.append(part[part["n"] > 0])
    out = pd.concat(parts, ignore_index=True)
    out["metric"] = out["metric"].astype(object)
    return out


def _kind(metric: pd.Series) -> np.ndarray:
    return metric.map(lambda m: METRICS[m].kind).to_numpy()


def _cols(m: pd.DataFrame, suffix: str, *names: str) -> tuple[np.ndarray, ...]:
    return tuple(m[f"{name}{suffix}"].to_numpy(float) for name in names)


def _estimate(m: pd.DataFrame, confidence: float, min_n: int) -> pd.DataFrame:
    """Add value, ci_low, ci_high and small_n to a moments frame."""
    out = m.copy()
    size = len(out)
    value, low, high = np.full(size, np.nan), np.full(size, np.nan), np.full(size, np.nan)
    kind = _kind(out["metric"]) if size else np.array([], dtype=object)
    sel = kind == "net"
    if sel.any():
        v, _, lo, hi = st.nps_interval(*_cols(out[sel], "", "top", "bottom", "n"), confidence=confidence)
        value[sel], low[sel], high[sel] = v, lo, hi
    sel = kind == "share"
    if sel.any():
        p, lo, hi = st.wilson(*_cols(out[sel], "", "top", "n"), confidence=confidence)
        value[sel], low[sel], high[sel] = 100 * p, 100 * lo, 100 * hi
    sel = kind == "mean"
    if sel.any():
        mean, _, lo, hi = st.mean_interval(*_cols(out[sel], "", "n", "sum", "sumsq"), confidence=confidence)
        value[sel], low[sel], high[sel] = mean, lo, hi
    out["n"] = out["n"].astype("int64")
    out["value"], out["ci_low"], out["ci_high"] = value, low, high
    out["small_n"] = out["n"] < min_n
    return out


def _compare(
    a: pd.DataFrame, b: pd.DataFrame, keys: list[str], confidence: float, min_n: int
) -> pd.DataFrame:
    """Join two moments frames on ``keys`` and test a - b: difference, CI, p-value, flags."""
    cols = [*keys, *STAT_COLUMNS]
    m = a[cols].merge(b[cols], on=keys, how="outer", suffixes=("_a", "_b"))
    size = len(m)
    ea = _estimate(m[keys].assign(**{s: m[f"{s}_a"].fillna(0.0) for s in STAT_COLUMNS}), confidence, min_n)
    eb = _estimate(m[keys].assign(**{s: m[f"{s}_b"].fillna(0.0) for s in STAT_COLUMNS}), confidence, min_n)
    diff, low, high, p = (np.full(size, np.nan) for _ in range(4))
    kind = _kind(m["metric"]) if size else np.array([], dtype=object)
    sel = kind == "net"
    if sel.any():
        sub = m[sel]
        res = st.diff_nps(
            *_cols(sub, "_a", "top", "bottom", "n"),
            *_cols(sub, "_b", "top", "bottom", "n"),
            confidence=confidence,
        )
        diff[sel], low[sel], high[sel], p[sel] = res
    sel = kind == "share"
    if sel.any():
        sub = m[sel]
        d, lo, hi, pv = st.diff_share(
            *_cols(sub, "_a", "top", "n"), *_cols(sub, "_b", "top", "n"), confidence=confidence
        )
        diff[sel], low[sel], high[sel], p[sel] = 100 * d, 100 * lo, 100 * hi, pv
    sel = kind == "mean"
    if sel.any():
        sub = m[sel]
        ma, var_a = st.mean_var(*_cols(sub, "_a", "n", "sum", "sumsq"))
        mb, var_b = st.mean_var(*_cols(sub, "_b", "n", "sum", "sumsq"))
        res = st.diff_mean(ma, var_a, sub["n_a"], mb, var_b, sub["n_b"], confidence=confidence)
        diff[sel], low[sel], high[sel], p[sel] = res
    out = m[keys].copy()
    out["n_a"], out["value_a"] = m["n_a"].fillna(0).astype("int64"), ea["value"].to_numpy()
    out["n_b"], out["value_b"] = m["n_b"].fillna(0).astype("int64"), eb["value"].to_numpy()
    out["diff"], out["diff_ci_low"], out["diff_ci_high"], out["p_value"] = diff, low, high, p
    out["significant"] = np.nan_to_num(p, nan=1.0) < 1 - confidence
    out["small_n"] = (out["n_a"] < min_n) | (out["n_b"] < min_n)
    return out


def _order(df: pd.DataFrame, keys: list[str], specs: list[Metric], jm: JourneyMap | None) -> pd.DataFrame:
    """Sort by keys (stages and touchpoints in journey order, nulls last) then metric order."""
    rank_of: dict[str, dict[str, int]] = {"metric": {m.name: i for i, m in enumerate(specs)}}
    if jm is not None:
        rank_of["stage"] = {s.id: i for i, s in enumerate(jm.stages)}
        rank_of["touchpoint"] = {t: i for i, t in enumerate(jm.touchpoint_ids)}

    def key(col: pd.Series) -> pd.Series:
        order = rank_of.get(str(col.name))
        if order is None:
            return col
        return col.map(lambda v: order.get(v, len(order)) if isinstance(v, str) else np.nan)

    cols = [k for k in [*keys, "metric"] if k in df.columns]
    if df.empty or not cols:
        return df.reset_index(drop=True)
    return df.sort_values(cols, key=key, na_position="last", kind="stable").reset_index(drop=True)


def _with_meta(df: pd.DataFrame, specs: list[Metric], confidence: float, min_n: int) -> pd.DataFrame:
    df.attrs = {
        "metrics": {m.name: asdict(m) for m in specs},
        "higher_is_better": {m.name: m.higher_is_better for m in specs},
        "confidence": confidence,
        "min_n": min_n,
    }
    return df


def _keys(by: str | Sequence[str], grain: Grain | None) -> list[str]:
    return (["period"] if grain is not None else []) + _dimensions(_as_list(by))


def _jm_if_needed(tables: Tables, journey_map: JourneyMap | None, keys: list[str]) -> JourneyMap | None:
    if "stage" in keys or "touchpoint" in keys:
        return journey_map_of(tables, journey_map)
    return None
