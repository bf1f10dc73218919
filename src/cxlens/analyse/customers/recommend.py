"""Recommendations from purchase history: item-item similarity plus "buy again", against popularity.

:class:`ItemItemRecommender` learns cosine similarities between items from who bought them
(customer x item matrix, purchases counted per basket and damped with log1p), keeps each item's
``neighbours`` closest items, and scores a customer's unseen and seen items as
``history @ similarity + repeat_weight * history``: the first term is "goes well with", the second
"buy again" (grocery baskets repeat). :class:`PopularityRecommender` is the baseline, and
:func:`evaluate` gives precision@k and recall@k on a time split.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cxlens.analyse.common import by_key
from cxlens.analyse.customers.rfm import DateLike, as_date

if TYPE_CHECKING:
    import ibis.expr.types as ir


def purchases(lines: ir.Table, start: DateLike | None = None, end: DateLike | None = None) -> ir.Table:
    """Baskets per (customer, item) with a purchase in [start, end) (engine-side counting)."""
    day = lines.ordered_at.date()
    cond = lines.item_id.notnull()
    if start is not None:
        cond &= day >= as_date(start)
    if end is not None:
        cond &= day < as_date(end)
    f = lines.filter(cond)
    return f.group_by(["customer_id", "item_id"]).aggregate(baskets=f.basket_id.nunique())


def _matrix(df: pd.DataFrame, users: pd.Index, items: pd.Index) -> sp.csr_matrix:
    u = users.get_indexer(pd.Index(df["customer_id"]))
    i = items.get_indexer(pd.Index(df["item_id"]))
    keep = (u >= 0) & (i >= 0)
    vals = np.log1p(df["baskets"].to_numpy(dtype=np.float64)[keep])
    return sp.csr_matrix((vals, (u[keep], i[keep])), shape=(len(users), len(items)))


class PopularityRecommender:
    """Recommends the items bought by most customers (the baseline). Learned: ``ranking_``."""

    def fit(self, history: pd.DataFrame) -> PopularityRecommender:
        """Fit on (customer_id, item_id, baskets) rows."""
        self.ranking_ = (
            history.groupby("item_id")["customer_id"].nunique().sort_values(ascending=False, kind="stable")
        )
        return self

    def recommend(self, customers: list[Any], k: int = 10) -> dict[Any, list[Any]]:
        """The same top ``k`` items for every customer."""
        top = self.ranking_.index[:k].tolist()
        return {c: top for c in customers}


class ItemItemRecommender:
    """Item-item cosine recommender with a "buy again" term (see the module docstring).

    Learned: ``users_``, ``items_`` (indexes), ``history_`` (customer x item), ``similarity_``.
    """

    def __init__(
        self,
        neighbours: int = 50,
        repeat_weight: float = 3.0,
        shrink: float = 5.0,
        popularity_weight: float = 3.0,
    ) -> None:
        self.neighbours = neighbours
        self.repeat_weight = repeat_weight
        self.shrink = shrink
        self.popularity_weight = popularity_weight

    def fit(self, history: pd.DataFrame) -> ItemItemRecommender:
        """Fit on (customer_id, item_id, baskets) rows."""
        self.users_ = pd.Index(history["customer_id"].unique())
        self.items_ = pd.Index(history["item_id"].unique())
        x = _matrix(history, self.users_, self.items_)
        self.history_ = x
        pop = np.asarray((x > 0).sum(axis=0), dtype=np.float64).ravel()
        self.popularity_ = pop / max(pop.max(), 1.0)
        co = (x.T @ x).tocsr()
        norms = np.sqrt(co.diagonal())
        co.setdiag(0)
        co.eliminate_zeros()
        co = co.tocoo()
        # cosine with shrinkage: rare co-occurrences count for less
        vals = co.data / (norms[co.row] * norms[co.col] + self.shrink)
        sim = sp.csr_matrix((vals, (co.row, co.col)), shape=co.shape)
        self.similarity_ = _top_k_per_row(sim, self.neighbours)
        return self

    def scores(self, customers: list[Any]) -> sp.csr_matrix:
        """Score matrix (customers x items) for known customers."""
        rows = self.users_.get_indexer(customers)
        h = self.history_[rows[rows >= 0]]
        return (h @ self.similarity_.T + self.repeat_weight * h).tocsr()

    def recommend(self, customers: list[Any], k: int = 10, batch: int = 512) -> dict[Any, list[Any]]:
        """Top ``k`` items per known customer: personal scores (scaled to 0-1 per customer) plus
        ``popularity_weight`` x item popularity, which fills the list for short histories."""
        known = [c for c in customers if c in self.users_]
        out: dict[Any, list[Any]] = {}
        for start in range(0, len(known), batch):
            chunk = known[start : start + batch]
            s = self.scores(chunk).toarray()
            peak = s.max(axis=1, keepdims=True)
            s = s / np.where(peak > 0, peak, 1.0) + self.popularity_weight * self.popularity_
            top = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
            for r, c in enumerate(chunk):
                best = top[r][np.argsort(-s[r, top[r]], kind="stable")]
                out[c] = self.items_[best].tolist()
        return out

    def buy_again(self, customer: Any, k: int = 10) -> list[Any]:
        """Items the customer bought most often."""
        row = self.history_.getrow(self.users_.get_loc(customer))
        return self.items_[row.indices[np.argsort(-row.data, kind="stable")[:k]]].tolist()

    def goes_well_with(self, item: Any, k: int = 10) -> list[tuple[Any, float]]:
        """Items most similar to ``item`` (bought by the same customers)."""
        row = self.similarity_.getrow(self.items_.get_loc(item))
        order = np.argsort(-row.data, kind="stable")[:k]
        return [(self.items_[row.indices[j]], float(row.data[j])) for j in order]


def _top_k_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        start, end = m.indptr[r], m.indptr[r + 1]
        if end == start:
            continue
        data, idx = m.data[start:end], m.indices[start:end]
        keep = np.argsort(-data, kind="stable")[:k]
        rows.append(np.full(len(keep), r))
        cols.append(idx[keep])
        vals.append(data[keep])
    if not rows:
        return sp.csr_matrix(m.shape)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape)


@dataclass(frozen=True)
class RankingScore:
    """Mean precision@k and recall@k over test customers."""

    k: int
    customers: int
    precision: float
    recall: float


def ranking_score(recs: dict[Any, list[Any]], truth: dict[Any, set[Any]], k: int) -> RankingScore:
    """precision@k = hits / k, recall@k = hits / relevant items, averaged over customers in ``truth``."""
    p, r = [], []
    for c, items in truth.items():
        got = recs.get(c, [])[:k]
        hits = len(set(got) & items)
        p.append(hits / k)
        r.append(hits / len(items))
    return RankingScore(k, len(truth), float(np.mean(p)), float(np.mean(r)))


def evaluate(
    lines: ir.Table,
    split: DateLike,
    *,
    test_days: int | None = None,
    k: int = 10,
    model: ItemItemRecommender | None = None,
) -> dict[str, RankingScore]:
    """Train before ``split``, test on items bought after it by customers seen in training."""
    end = as_date(split) + timedelta(days=test_days) if test_days else None
    train = by_key(purchases(lines, end=split).to_pandas(), ["customer_id", "item_id"])
    test = by_key(purchases(lines, start=split, end=end).to_pandas(), ["customer_id", "item_id"])
    test = test[test["customer_id"].isin(set(train["customer_id"]))]
    truth = {c: set(g["item_id"]) for c, g in test.groupby("customer_id")}
    customers = list(truth)
    item_model = (model or ItemItemRecommender()).fit(train)
    pop = PopularityRecommender().fit(train)
    return {
        "item_item": ranking_score(item_model.recommend(customers, k), truth, k),
        "popularity": ranking_score(pop.recommend(customers, k), truth, k),
    }
