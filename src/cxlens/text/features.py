"""Hashed character n-gram features computed for a whole batch at once with numpy.

sklearn's HashingVectorizer builds n-grams in Python (about 4,000 documents/s here); hashing the
code points of the concatenated batch with vectorised arithmetic is an order of magnitude faster
and needs no vocabulary and no word segmentation, so it works the same for every script.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import sparse

_SEP = "\x00"
_MULT = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_text(text: str | None) -> str:
    """``text`` made safe for the batch pipeline: NUL (the separator between texts) becomes a space
    and lone surrogates (not encodable) become U+FFFD; same length, so offsets hold."""
    if not text:
        return ""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def lower_same_length(text: str) -> str:
    """Lower case that keeps the length (a few letters, such as 'İ', grow when lowered)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def code_points(texts: Sequence[str], lower: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Code points of the batch joined by NUL (lower-cased, same length), and each position's text."""
    joined = _SEP.join(lower_same_length(safe_text(t)) if lower else safe_text(t) for t in texts)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    doc = np.cumsum(cps == 0) if len(cps) else np.zeros(0, dtype=np.int64)
    return cps, doc.astype(np.int64)


def _hash_n(cps: np.ndarray, n: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket of the n-gram starting at each position and whether it lies within one text."""
    m = len(cps) - n + 1
    h = np.full(m, np.uint64(n), dtype=np.uint64)
    valid = np.ones(m, dtype=bool)
    for k in range(n):
        c = cps[k : k + m]
        valid &= c != 0
        h ^= c
        h *= _MULT
    h ^= h >> np.uint64(29)
    h *= _MIX
    h ^= h >> np.uint64(32)
    return (h & np.uint64(n_features - 1)).astype(np.int64), valid


def ngram_hashes(
    texts: Sequence[str], ngram_range: tuple[int, int], n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hash bucket and document index of every character n-gram (n in ``ngram_range``) of the batch."""
    cps, doc = code_points(texts)
    return cps_hashes(cps, doc, ngram_range, n_features)


def cps_hashes(
    cps: np.ndarray, doc: np.ndarray, ngram_range: tuple[int, int], n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ngram_hashes` of code points already joined (``doc``: each position's text)."""
    lo, hi = ngram_range
    buckets, docs = [], []
    for n in range(lo, hi + 1):
        if len(cps) - n + 1 <= 0:
            continue
        bucket, valid = _hash_n(cps, n, n_features)
        buckets.append(bucket[valid])
        docs.append(doc[: len(valid)][valid])
    if not buckets:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(buckets), np.concatenate(docs)


def hashed_matrix(
    texts: Sequence[str], ngram_range: tuple[int, int], n_features: int, binary: bool = True
) -> sparse.csr_matrix:
    """CSR matrix of hashed n-gram features with unit L2 norm per document.

    ``binary`` (the default): 1 for each distinct bucket, divided by the square root of the number
    of distinct buckets, as sklearn's ``HashingVectorizer(binary=True, norm='l2',
    alternate_sign=False)``. Otherwise (models saved before binary features): counts divided by the
    square root of the document's n-gram count.
    """
    if n_features & (n_features - 1):
        raise ValueError("n_features must be a power of two")
    cols, rows = ngram_hashes(texts, ngram_range, n_features)
    if binary:
        return binary_matrix(rows, cols, len(texts), n_features)
    per_doc = np.bincount(rows, minlength=len(texts)).astype(np.float32)
    data = 1.0 / np.sqrt(np.maximum(per_doc, 1.0))[rows]
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(texts), n_features), dtype=np.float32)


def binary_matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_features: int) -> sparse.csr_matrix:
    """1 per distinct (row, bucket), each row scaled to unit L2 norm."""
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_rows, n_features))
    x.sum_duplicates()
    distinct = np.diff(x.indptr)
    x.data = np.repeat(1.0 / np.sqrt(np.maximum(distinct, 1)), distinct).astype(np.float32)
    return x


def hashed_dot(
    texts: Sequence[str], ngram_range: tuple[int, int], coef: np.ndarray, binary: bool = True
) -> np.ndarray:
    """``hashed_matrix(texts) @ coef``, text by text (the reference for the batched ``span_dots``)."""
    if binary:
        x = hashed_matrix(texts, ngram_range, len(coef), binary=True)
        return np.asarray(x @ coef.astype(np.float64)).ravel()
    cols, rows = ngram_hashes(texts, ngram_range, len(coef))
    per_doc = np.bincount(rows, minlength=len(texts)).astype(np.float64)
    total = np.bincount(rows, weights=coef[cols].astype(np.float64), minlength=len(texts))
    return np.asarray(total / np.sqrt(np.maximum(per_doc, 1.0)))


def span_dots(
    cps: np.ndarray,
    doc: np.ndarray,
    n_docs: int,
    ngram_range: tuple[int, int],
    coef: np.ndarray,
    span_of: np.ndarray,
    span_len: np.ndarray,
    room: np.ndarray,
    binary: bool = True,
    block: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``hashed_dot`` of every text of a joined batch and of every span (clause) within it, with one
    hashing pass. ``span_of`` gives the span of each position (-1 outside), ``span_len`` each span's
    length and ``room`` the characters left in its span from each position (0 outside).

    A span scores the n-grams that lie wholly inside it, exactly as if it were hashed on its own.
    With ``coef`` of shape (blocks, n_features), ``block`` gives the weight block of each position
    (one per language; binary features only).
    """
    if binary:
        return _binary_span_dots(
            cps, doc, n_docs, ngram_range, coef, span_of, len(span_len), room, block=block
        )
    n_spans = len(span_len)
    doc_len = np.bincount(doc, minlength=n_docs) - (np.arange(n_docs) > 0)  # less the separators
    doc_w, doc_c = np.zeros(n_docs), np.zeros(n_docs)
    span_w, span_c = np.zeros(n_spans), np.zeros(n_spans)
    lo, hi = ngram_range
    for n in range(lo, hi + 1):
        m = len(cps) - n + 1
        if m <= 0:
            continue
        bucket, valid = _hash_n(cps, n, len(coef))
        w = coef[bucket].astype(np.float64)
        doc_w += np.bincount(doc[:m][valid], weights=w[valid], minlength=n_docs)
        doc_c += np.maximum(doc_len - n + 1, 0)
        inside = room[:m] >= n
        span_w += np.bincount(span_of[:m][inside], weights=w[inside], minlength=n_spans)
        span_c += np.maximum(span_len - n + 1, 0)
    return doc_w / np.sqrt(np.maximum(doc_c, 1.0)), span_w / np.sqrt(np.maximum(span_c, 1.0))


def _binary_span_dots(
    cps: np.ndarray,
    doc: np.ndarray,
    n_docs: int,
    ngram_range: tuple[int, int],
    coef: np.ndarray,
    span_of: np.ndarray,
    n_spans: int,
    room: np.ndarray,
    chunk: int = 1 << 15,
    block: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``span_dots`` for binary L2-normalised features: distinct buckets per text and per span.

    Works through the batch a few texts (about ``chunk`` characters) at a time so that the arrays
    stay in cache; ``_first_of_each`` picks one occurrence of each bucket in its text and its span.
    """
    sums = np.zeros(n_docs), np.zeros(n_docs), np.zeros(n_spans), np.zeros(n_spans)
    seps = np.flatnonzero(cps == 0)  # chunks end where a text does
    at = np.searchsorted(seps, np.arange(chunk, len(cps), chunk))
    cuts = np.unique(np.r_[0, seps[at[at < len(seps)]], len(cps)])
    scratch = np.zeros(1 << 20, dtype=np.int64)
    flat = coef.reshape(-1)
    n_features = coef.shape[-1]
    base = block * n_features if block is not None else None
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        offset = base[a:b] if base is not None else None
        _binary_chunk(
            cps[a:b], doc[a:b], span_of[a:b], room[a:b], ngram_range, flat, n_features, sums, scratch, offset
        )
    doc_w, doc_c, span_w, span_c = sums
    return doc_w / np.sqrt(np.maximum(doc_c, 1)), span_w / np.sqrt(np.maximum(span_c, 1))


def _first_of_each(keys: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Mask choosing one occurrence of every distinct value of ``keys`` (non-negative int64).

    Each key writes its index to a slot of ``scratch`` picked by a hash of the key, and an
    occurrence is chosen when its slot holds its own index. Keys that lost their slot to another
    key (a hash collision: a few in a thousand) are settled by ``np.unique``. No sort, and the
    scratch table stays in cache.
    """
    idx = np.arange(len(keys), dtype=np.int64)
    mixed = (keys.astype(np.uint64) * _MULT) >> np.uint64(64 - (len(scratch).bit_length() - 1))
    slot = mixed.astype(np.int64)
    scratch[slot] = idx
    winner = scratch[slot]
    chosen = winner == idx
    lost = np.flatnonzero(keys[winner] != keys)
    if len(lost):
        _, first = np.unique(keys[lost], return_index=True)
        chosen[lost[first]] = True
    return chosen


def _binary_chunk(
    cps: np.ndarray,
    doc: np.ndarray,
    span_of: np.ndarray,
    room: np.ndarray,
    ngram_range: tuple[int, int],
    coef: np.ndarray,
    n_features: int,
    sums: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    scratch: np.ndarray,
    offset: np.ndarray | None = None,
) -> None:
    """Add one chunk's weights and distinct-bucket counts per text and span to ``sums``.

    ``coef`` is flat; ``offset`` (per position) picks the weight block of each n-gram's text."""
    d0 = int(doc[0])
    inside_any = span_of >= 0
    s0 = int(span_of[inside_any][0]) if inside_any.any() else 0
    owners, buckets, spans, weights = [], [], [], []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        m = len(cps) - n + 1
        if m <= 0:
            continue
        bucket, valid = _hash_n(cps, n, n_features)
        owners.append(doc[:m][valid] - d0)
        buckets.append(bucket[valid])
        spans.append(np.where(room[:m] >= n, span_of[:m] - s0, -1)[valid])
        weights.append(coef[bucket[valid] + offset[:m][valid]] if offset is not None else coef[bucket[valid]])
    if not owners or not sum(len(o) for o in owners):
        return
    owner, bucket, span = np.concatenate(owners), np.concatenate(buckets), np.concatenate(spans)
    w = np.concatenate(weights).astype(np.float64)
    doc_w, doc_c, span_w, span_c = sums
    first = _first_of_each(owner * n_features + bucket, scratch)
    n_own = int(owner.max()) + 1
    doc_w[d0 : d0 + n_own] += np.bincount(owner[first], weights=w[first], minlength=n_own)
    doc_c[d0 : d0 + n_own] += np.bincount(owner[first], minlength=n_own)
    inside = span >= 0
    if inside.any():
        span, bucket, w = span[inside], bucket[inside], w[inside]
        first = _first_of_each(span * n_features + bucket, scratch)
        n_sp = int(span.max()) + 1
        span_w[s0 : s0 + n_sp] += np.bincount(span[first], weights=w[first], minlength=n_sp)
        span_c[s0 : s0 + n_sp] += np.bincount(span[first], minlength=n_sp)
