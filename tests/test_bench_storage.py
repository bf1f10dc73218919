"""bench/storage.py compares answers, not just times: the comparison must see a changed row and
must not see row order or the last bits of a float sum (which differ between stores and engines)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import storage
from cxlens.analyse.journeys import TopPaths


def test_answers_compare_by_rows_not_by_order_or_float_noise() -> None:
    a = pd.DataFrame({"store": ["S1", "S2"], "n": [3, 4], "value": [0.1 + 0.2, np.nan]})
    b = pd.DataFrame({"store": ["S2", "S1"], "n": [4.0, 3.0], "value": [None, 0.3]})
    assert storage.canonical(a) == storage.canonical(b)
    assert storage.difference(storage.canonical(a), storage.canonical(b)) == ""


def test_a_changed_or_missing_row_is_a_difference() -> None:
    a = pd.DataFrame({"store": ["S1", "S2"], "n": [3, 4]})
    changed = storage.canonical(a.assign(n=[3, 5]))
    assert "first difference" in storage.difference(storage.canonical(a), changed)
    assert storage.difference(storage.canonical(a), storage.canonical(a.head(1))) == "2 rows vs 1"


def test_top_paths_compare_their_totals_too() -> None:
    paths = pd.DataFrame({"rank": [1], "path": ["a > b"], "steps": [2], "n": [5], "share": [0.5]})
    ours = TopPaths("stage", 8, paths, total_journeys=10, distinct_paths=2, truncated_journeys=0)
    peer = TopPaths("stage", 8, paths, total_journeys=11, distinct_paths=2, truncated_journeys=0)
    assert storage.canonical(ours) != storage.canonical(peer)
