"""Demand forecasting per category and store with statsforecast, backtested against seasonal naive.

:func:`sales_series` sums sales per group and day (or week) in the engine; :func:`backtest` runs
rolling-origin cross-validation of AutoETS against the seasonal-naive baseline (same windows) and
reports MAE, RMSE and the ratio of each model's MAE to the baseline's; :func:`forecast` predicts
the next ``horizon`` periods with intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import ibis.expr.types as ir

Grain = Literal["day", "week"]
SEP = " | "


def sales_series(lines: ir.Table, by: Sequence[str] = ("category",), grain: Grain = "day") -> pd.DataFrame:
    """Sales per group and period as statsforecast input (unique_id, ds, y), gaps filled with 0."""
    keys = list(by)
    period = lines.ordered_at.date() if grain == "day" else lines.ordered_at.truncate("W").date()
    f = lines.filter(*[lines[k].notnull() for k in keys]) if keys else lines
    agg = f.group_by([*[f[k].cast("string").name(k) for k in keys], period.name("ds")]).aggregate(
        y=f.value.sum()
    )
    df = agg.to_pandas()
    df["ds"] = pd.to_datetime(df["ds"])
    df["unique_id"] = df[keys].astype(str).agg(SEP.join, axis=1) if keys else "all"
    freq = "D" if grain == "day" else "W-MON"
    full = pd.date_range(df["ds"].min(), df["ds"].max(), freq=freq)
    grid = pd.MultiIndex.from_product([sorted(df["unique_id"].unique()), full], names=["unique_id", "ds"])
    out = df.groupby(["unique_id", "ds"])["y"].sum().reindex(grid, fill_value=0.0).reset_index()
    return out


def _models(season_length: int) -> list[Any]:
    from statsforecast.models import AutoETS, SeasonalNaive

    return [AutoETS(season_length=season_length), SeasonalNaive(season_length=season_length)]


def _freq(series: pd.DataFrame) -> str:
    gaps = series.sort_values("ds")["ds"].drop_duplicates().diff().dropna()
    return "D" if gaps.empty or gaps.min() <= pd.Timedelta(days=1) else "W-MON"


def backtest(
    series: pd.DataFrame,
    horizon: int = 14,
    windows: int = 3,
    season_length: int = 7,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rolling-origin backtest: (accuracy per model overall, accuracy per series and model).

    Columns: model, mae, rmse, mae_vs_seasonal_naive (< 1 means better than the baseline).
    """
    from statsforecast import StatsForecast

    sf = StatsForecast(models=_models(season_length), freq=_freq(series), n_jobs=n_jobs)
    cv: pd.DataFrame = sf.cross_validation(df=series, h=horizon, n_windows=windows, step_size=horizon)  # type: ignore[assignment]
    models = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y")]
    long = cv.melt(
        id_vars=["unique_id", "ds", "cutoff", "y"], value_vars=models, var_name="model", value_name="yhat"
    )
    long["err"] = long["yhat"] - long["y"]
    long["abs_err"] = long["err"].abs()
    long["sq_err"] = long["err"] ** 2

    def summarise(keys: list[str]) -> pd.DataFrame:
        g = long.groupby(keys).agg(mae=("abs_err", "mean"), rmse=("sq_err", "mean")).reset_index()
        g["rmse"] = np.sqrt(g["rmse"])
        return g

    overall = summarise(["model"])
    per = summarise(["unique_id", "model"])
    base = float(overall.loc[overall["model"] == "SeasonalNaive", "mae"].iloc[0])
    overall["mae_vs_seasonal_naive"] = overall["mae"] / base if base > 0 else np.nan
    base_per = per[per["model"] == "SeasonalNaive"].set_index("unique_id")["mae"]
    per["mae_vs_seasonal_naive"] = per["mae"] / per["unique_id"].map(base_per).replace(0, np.nan)
    return overall, per


def forecast(
    series: pd.DataFrame,
    horizon: int = 14,
    season_length: int = 7,
    level: int = 90,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Forecast the next ``horizon`` periods per series, with a ``level``% interval (AutoETS)."""
    from statsforecast import StatsForecast

    sf = StatsForecast(models=_models(season_length)[:1], freq=_freq(series), n_jobs=n_jobs)
    result: pd.DataFrame = sf.forecast(df=series, h=horizon, level=[level])  # type: ignore[assignment]
    return result.reset_index(drop=True)
