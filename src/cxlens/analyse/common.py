"""Small pieces every analytic shares: where tables come from, the journey map, times, filters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import pandas as pd

from cxlens.journey.map import JourneyMap, load_journey_map
from cxlens.storage.workspace import Workspace

if TYPE_CHECKING:
    import ibis.expr.types as ir

TableGetter: TypeAlias = Callable[[str], "ir.Table"]
#: Where tables come from: a workspace (its default engine) or a function name -> Ibis table.
Tables: TypeAlias = Workspace | TableGetter
TimeLike: TypeAlias = datetime | date | str | pd.Timestamp


def by_key(frame: pd.DataFrame, key: str | Sequence[str]) -> pd.DataFrame:
    """The rows sorted by ``key`` (stable, index reset): engines return rows in any order, and a
    model fitted on them (cross-validation folds, float sums) must see the same order on each."""
    keys = [key] if isinstance(key, str) else list(key)
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def getter(tables: Tables) -> TableGetter:
    """A function name -> Ibis table from a workspace or such a function."""
    if isinstance(tables, Workspace):
        return tables.table
    return tables


def journey_map_of(tables: Tables, journey_map: JourneyMap | None = None) -> JourneyMap:
    """The journey map given, or the workspace's, or the retail default."""
    if journey_map is not None:
        return journey_map
    if isinstance(tables, Workspace):
        return tables.journey_map
    return load_journey_map()


def timestamp(value: TimeLike) -> datetime:
    """A naive UTC datetime (the store's convention) from any time-like value."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def predicate(col: ir.Value, value: Any) -> ir.BooleanValue:
    """A filter on ``col``: None means IS NULL, a collection means IN, anything else equality."""
    if value is None:
        return col.isnull()
    if isinstance(value, (list, tuple, set, frozenset)):
        return col.isin(list(value))
    return col == value
