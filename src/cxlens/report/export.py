"""Exports shared by the CLI, the web API and reports."""

from __future__ import annotations

import pandas as pd

#: First characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_csv(df: pd.DataFrame) -> str:
    """CSV text where cells that a spreadsheet would run as a formula are prefixed with a quote."""

    def neutralise(v: object) -> object:
        if isinstance(v, str) and v.startswith(FORMULA_PREFIXES):
            return "'" + v
        return v

    return str(df.map(neutralise).to_csv(index=False))
