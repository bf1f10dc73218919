"""Basket analysis: frequent itemsets and association rules (support, confidence, lift).

The distinct (basket, item) pairs are selected in the engine (:func:`basket_items`); mining runs
in-process on a sparse basket x item matrix: single items by column sums, pairs by one sparse
matrix product, longer itemsets depth-first by intersecting sorted basket-id lists (Eclat).
The result is the complete set of itemsets with support >= ``min_support``, the same set that
mlxtend's ``fpgrowth`` returns, and rules are derived from it as ``association_rules`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    import ibis.expr.types as ir

RuleMetric = Literal["confidence", "lift", "support"]


def basket_items(lines: ir.Table, level: Literal["item", "category"] = "item") -> ir.Table:
    """Distinct (basket_id, item) pairs of standard lines; ``level='category'`` uses the category."""
    col = lines.item_id if level == "item" else lines.category
    pairs = lines.select(basket_id=lines.basket_id, item=col)
    return pairs.filter(pairs.item.notnull()).distinct()


@dataclass
class BasketMatrix:
    """Baskets as a sparse boolean matrix (rows: baskets, columns: ``items``)."""

    matrix: sp.csc_matrix
    items: np.ndarray

    @property
    def n_baskets(self) -> int:
        """Number of baskets (rows)."""
        return int(self.matrix.shape[0])


def encode(pairs: pd.DataFrame, basket_col: str = "basket_id", item_col: str = "item") -> BasketMatrix:
    """Sparse basket x item matrix from a frame of (basket, item) rows (duplicates ignored)."""
    b_codes, _ = pd.factorize(pairs[basket_col], sort=False)
    i_codes, items = pd.factorize(pairs[item_col].astype(str), sort=True)
    data = np.ones(len(pairs), dtype=np.int32)
    m = sp.csc_matrix(
        (data, (b_codes, i_codes)), shape=(int(b_codes.max()) + 1 if len(b_codes) else 0, len(items))
    )
    m.sum_duplicates()
    m.data[:] = 1
    return BasketMatrix(m, np.array([str(x) for x in items], dtype=object))


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Common values of two sorted arrays of distinct basket numbers (binary search, no sort)."""
    if len(a) > len(b):
        a, b = b, a
    if len(a) == 0:
        return a
    idx = np.searchsorted(b, a)
    idx[idx == len(b)] = 0
    return a[b[idx] == a]


def _mine(m: sp.csc_matrix, min_support: float, max_len: int | None) -> Iterator[tuple[tuple[int, ...], int]]:
    n = m.shape[0]
    counts = np.asarray(m.sum(axis=0)).ravel()
    frequent = np.flatnonzero(counts / n >= min_support)
    for i in frequent:
        yield (int(i),), int(counts[i])
    if max_len == 1 or len(frequent) < 2:
        return
    sub = m[:, frequent].tocsc()
    sub.sort_indices()
    pair_counts = (sub.T @ sub).tocsr()
    # Apriori pruning: an itemset can only be frequent if each pair in it is
    pair_ok = (pair_counts / n >= min_support).toarray() if len(frequent) <= 20_000 else None
    tids = [sub.indices[sub.indptr[k] : sub.indptr[k + 1]] for k in range(len(frequent))]

    def grow(
        prefix: tuple[int, ...], ext: list[tuple[int, np.ndarray]]
    ) -> Iterator[tuple[tuple[int, ...], int]]:
        for idx, (item, tid) in enumerate(ext):
            itemset = (*prefix, item)
            yield tuple(int(frequent[k]) for k in itemset), len(tid)
            if max_len is not None and len(itemset) >= max_len:
                continue
            nxt = []
            for other, other_tid in ext[idx + 1 :]:
                if pair_ok is not None and not pair_ok[item, other]:
                    continue
                both = _intersect(tid, other_tid)
                if len(both) / n >= min_support:
                    nxt.append((other, both))
            if nxt:
                yield from grow(itemset, nxt)

    for a in range(len(frequent)):
        row = pair_counts.getrow(a)
        partners = [
            int(b) for b, c in zip(row.indices, row.data, strict=True) if b > a and c / n >= min_support
        ]
        if not partners:
            continue
        ext = [(b, _intersect(tids[a], tids[b])) for b in sorted(partners)]
        yield from grow((a,), ext)


def frequent_itemsets(baskets: BasketMatrix, min_support: float, max_len: int | None = None) -> pd.DataFrame:
    """Every itemset in at least ``min_support`` of the baskets: columns support, itemsets (frozenset), n."""
    if not 0 < min_support <= 1:
        raise ValueError(f"min_support must be in (0, 1], got {min_support}")
    n = baskets.n_baskets
    rows = [
        (count / n, frozenset(baskets.items[list(idx)].tolist()), count, len(idx))
        for idx, count in _mine(baskets.matrix, min_support, max_len)
    ]
    df = pd.DataFrame(rows, columns=["support", "itemsets", "count", "length"])
    return df.sort_values(["length", "support"], ascending=[True, False], kind="stable").reset_index(
        drop=True
    )


def association_rules(
    itemsets: pd.DataFrame,
    metric: RuleMetric = "confidence",
    min_threshold: float = 0.5,
) -> pd.DataFrame:
    """Rules A -> C from frequent itemsets, with support, confidence, lift, leverage and conviction."""
    support = dict(zip(itemsets["itemsets"], itemsets["support"], strict=True))
    rows = []
    for itemset, s in support.items():
        if len(itemset) < 2:
            continue
        items = sorted(itemset, key=str)
        for k in range(1, len(items)):
            for ante in combinations(items, k):
                a = frozenset(ante)
                c = itemset - a
                sa, sc = support[a], support[c]
                conf = s / sa
                lift = conf / sc
                rows.append(
                    (a, c, sa, sc, s, conf, lift, s - sa * sc, (1 - sc) / (1 - conf) if conf < 1 else np.inf)
                )
    cols = [
        "antecedents",
        "consequents",
        "antecedent_support",
        "consequent_support",
        "support",
        "confidence",
        "lift",
        "leverage",
        "conviction",
    ]
    df = pd.DataFrame(rows, columns=cols)
    if metric not in ("confidence", "lift", "support"):
        raise ValueError(f"metric must be confidence, lift or support, not {metric!r}")
    df = df[df[metric] >= min_threshold]
    return df.sort_values(["lift", "confidence"], ascending=False, kind="stable").reset_index(drop=True)


def _pairs(lines: ir.Table, level: Literal["item", "category"], by: str | None = None) -> pd.DataFrame:
    """Distinct (basket_id, item[, by]) rows of standard lines, as a pandas frame."""
    cols = ["basket_id", "item"] + ([by] if by else [])
    col = lines.item_id if level == "item" else lines.category
    sel = lines.select(basket_id=lines.basket_id, item=col, **({by: lines[by]} if by else {}))
    return sel.filter(sel.item.notnull()).distinct().to_pandas()[cols]


@dataclass
class SupportProfile:
    """How often items and pairs occur: why no rule passes a ``min_support``, and what would."""

    baskets: int
    items: int
    items_per_basket: float
    top_item: str | None
    top_item_support: float
    top_pair: tuple[str, str] | None
    top_pair_support: float
    #: A minimum support at which about ten pairs (twenty rules) pass; None without any pair.
    suggested: float | None

    def explain(self, min_support: float) -> str:
        """A sentence for people: the data's shape, the best supports found and what to try."""
        if not self.baskets:
            return "no baskets with items: check --basket-col and --item-col"
        text = (
            f"no itemset of two or more items reaches support {min_support:g}: {self.baskets:,} baskets "
            f"hold {self.items_per_basket:.2f} distinct items on average ({self.items:,} items); the most "
            f"frequent item ({self.top_item}) is in {self.top_item_support:.2%} of baskets"
        )
        if self.top_pair is None:
            return text + (
                ", and no basket holds two items: group purchases into larger baskets, e.g. "
                "--basket-col with a customer or household column"
            )
        text += f", the most frequent pair ({' + '.join(self.top_pair)}) in {self.top_pair_support:.2%}"
        return text + f"; try --min-support {self.suggested:g}"


def _round_down(value: float) -> float:
    """``value`` rounded down to two significant digits."""
    if value <= 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(value)) - 1)
    return math.floor(value / scale) * scale


def support_profile(
    lines: ir.Table, level: Literal["item", "category"] = "item", top: int = 2000
) -> SupportProfile:
    """Items per basket and the highest item and pair supports (pairs among the ``top`` items)."""
    pairs = _pairs(lines, level)
    if pairs.empty:
        return SupportProfile(0, 0, 0.0, None, 0.0, None, 0.0, None)
    bm = encode(pairs)
    n = bm.n_baskets
    counts = np.asarray(bm.matrix.sum(axis=0)).ravel()
    order = np.argsort(-counts, kind="stable")[:top]
    sub = bm.matrix[:, order].tocsc().astype(np.int64)
    together = sp.triu(sub.T @ sub, k=1).tocoo()
    best = np.argsort(-together.data, kind="stable")
    top_pair, pair_support, suggested = None, 0.0, None
    if len(best):
        i, j = together.row[best[0]], together.col[best[0]]
        top_pair = (str(bm.items[order[i]]), str(bm.items[order[j]]))
        pair_support = float(together.data[best[0]]) / n
        tenth = float(together.data[best[min(9, len(best) - 1)]]) / n
        suggested = _round_down(tenth)
    return SupportProfile(
        baskets=n,
        items=len(bm.items),
        items_per_basket=float(len(pairs)) / n,
        top_item=str(bm.items[order[0]]),
        top_item_support=float(counts[order[0]]) / n,
        top_pair=top_pair,
        top_pair_support=pair_support,
        suggested=suggested,
    )


def rules_from_lines(
    lines: ir.Table,
    *,
    min_support: float,
    min_confidence: float = 0.0,
    min_lift: float = 0.0,
    max_len: int | None = None,
    level: Literal["item", "category"] = "item",
    by: str | None = None,
) -> pd.DataFrame:
    """Association rules over standard lines, overall or per ``by`` (e.g. ``store_id``, ``category``)."""
    pairs = _pairs(lines, level, by)
    groups = pairs.groupby(by, sort=True) if by else [(None, pairs)]
    out = []
    for key, group in groups:
        if group.empty:
            continue
        its = frequent_itemsets(encode(group), min_support, max_len)
        rules = association_rules(its, "confidence", min_confidence)
        rules = rules[rules["lift"] >= min_lift]
        if by:
            rules.insert(0, by, key)
        out.append(rules)
    return (
        pd.concat(out, ignore_index=True)
        if out
        else association_rules(pd.DataFrame({"itemsets": [], "support": []}))
    )
