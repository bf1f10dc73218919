"""Engine parity harness: run one analytic on DuckDB and on Spark over the same data and compare.

Every analytic gets a parity test built on :func:`assert_engines_agree`::

    def test_nps_parity(loaded_workspace):
        assert_engines_agree(
            loaded_workspace,
            lambda t: nps_by(t("feedback"), by=["store_id"]),
            sort_by=["store_id"],
        )
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from pandas.testing import assert_frame_equal

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from cxlens.storage.workspace import Workspace

TableGetter = Callable[[str], "ir.Table"]
Analytic = Callable[[TableGetter], Any]


def run_analytic(workspace: Workspace, analytic: Analytic, engine: str) -> pd.DataFrame:
    """Run ``analytic`` with tables from ``engine`` and return a pandas DataFrame."""

    def getter(name: str) -> ir.Table:
        return workspace.table(name, engine)

    result = analytic(getter)
    if isinstance(result, pd.DataFrame):
        return result
    return result.to_pandas()


def normalise(df: pd.DataFrame, sort_by: Sequence[str] | None = None) -> pd.DataFrame:
    """Make engine results comparable: UTC timestamps, float numbers, nullable values as NaN/None,
    rows in a defined order."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out[col] = s.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
        elif pd.api.types.is_datetime64_any_dtype(s):
            out[col] = s.astype("datetime64[us]")
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.astype(object)
        elif pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype("float64")
        else:
            out[col] = s.astype(object).where(s.notna(), None)
    keys = list(sort_by) if sort_by else list(out.columns)
    return out.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


def assert_engines_agree(
    workspace: Workspace,
    analytic: Analytic,
    *,
    sort_by: Sequence[str] | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-9,
) -> pd.DataFrame:
    """Assert that ``analytic`` gives the same frame on DuckDB and Spark; return the DuckDB one."""
    duck = normalise(run_analytic(workspace, analytic, "duckdb"), sort_by)
    spark = normalise(run_analytic(workspace, analytic, "spark"), sort_by)
    assert list(duck.columns) == list(spark.columns), (list(duck.columns), list(spark.columns))
    assert len(duck) > 0, "parity on an empty result proves nothing"
    assert_frame_equal(duck, spark, check_dtype=False, rtol=rtol, atol=atol)
    return duck
