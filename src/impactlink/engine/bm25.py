"""BM25 in bulk: many records against one candidate set, as sparse matrix products.

The same numbers as core.attribution.CandidateSet.matches, record by record: each record's
score row is the sum of the weight rows of its distinct terms (scipy's sparse product), and
the k best are taken per row with the model's tie-break (the candidate's column is its
issue order). Identical term sets are scored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from impactlink.core.attribution import K1, B, CandidateSet

BATCH = 4096
"""Records scored per dense block: BATCH × m floats at a time."""


def weights(cset: CandidateSet) -> tuple[dict[str, int], Any]:
    """Return the vocabulary and the (term × candidate) BM25 weights of a candidate set."""
    from scipy import sparse  # imported when text is scored: a cycle that reuses needs none

    vocab = {t: i for i, t in enumerate(sorted(cset.df))}
    rows: list[int] = []
    cols: list[int] = []
    tfs: list[int] = []
    norms: list[float] = []
    if cset.avgdl > 0:
        for j, key in enumerate(cset.keys):
            norm = 1 - B + B * cset.dl[key] / cset.avgdl
            counts = cset.tf[key]
            rows.extend(vocab[t] for t in counts)
            tfs.extend(counts.values())
            cols.extend([j] * len(counts))
            norms.extend([norm] * len(counts))
    idf = np.array([cset.idf(t) for t in vocab], dtype=np.float64)
    tf = np.array(tfs, dtype=np.float64)
    r = np.array(rows, dtype=np.int64)
    # The same operations, in the same order, as CandidateSet.term_score.
    vals = idf[r] * tf * (K1 + 1) / (tf + K1 * np.array(norms, dtype=np.float64))
    w = sparse.csr_matrix((vals, (r, np.array(cols, dtype=np.int64))),
                          shape=(len(vocab), cset.m))
    return vocab, w


def match_many(cset: CandidateSet, records: Sequence[Sequence[str]], k: int
               ) -> list[tuple[tuple[int, float], ...]]:
    """Return, per record (its distinct terms), its kept (candidate column, s) best first."""
    out: list[tuple[tuple[int, float], ...]] = [() for _ in records]
    if not records or cset.m == 0 or k <= 0:
        return out
    from scipy import sparse

    vocab, w = weights(cset)
    unique: dict[tuple[int, ...], list[int]] = {}
    for i, terms in enumerate(records):
        ids = tuple(sorted({vocab[t] for t in terms if t in vocab}))
        if ids:
            unique.setdefault(ids, []).append(i)
    keys = list(unique)
    for start in range(0, len(keys), BATCH):
        block = keys[start:start + BATCH]
        indptr = np.cumsum([0, *map(len, block)])
        indices = np.fromiter((t for ids in block for t in ids), dtype=np.int64,
                              count=int(indptr[-1]))
        r = sparse.csr_matrix((np.ones(len(indices)), indices, indptr),
                              shape=(len(block), len(vocab)))
        scores = (r @ w).toarray()
        for ids, kept in zip(block, _top(scores, k), strict=True):
            for i in unique[ids]:
                out[i] = kept
    return out


def _top(scores: np.ndarray, k: int) -> list[tuple[tuple[int, float], ...]]:
    """Return each row's k best positive entries, by score then column (smaller first)."""
    n, m = scores.shape
    kk = min(k, m)
    # Sorting by (-score, column) is a stable sort of the negated row.
    if m <= 64:
        order = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
    else:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        kth = np.min(np.take_along_axis(scores, part, axis=1), axis=1)
        order = np.empty((n, kk), dtype=np.int64)
        ties = (scores == kth[:, None]).sum(axis=1)
        inside = (scores > kth[:, None]).sum(axis=1)
        exact = inside + ties <= kk
        for row in range(n):
            if exact[row]:
                cols = part[row]
            else:  # a tie at the k-th place: the smaller columns win
                above = np.flatnonzero(scores[row] > kth[row])
                level = np.flatnonzero(scores[row] == kth[row])[:kk - len(above)]
                cols = np.concatenate([above, level])
            order[row] = cols[np.lexsort((cols, -scores[row, cols]))]
    picked = np.take_along_axis(scores, order, axis=1)
    out: list[tuple[tuple[int, float], ...]] = []
    for cols, vals in zip(order.tolist(), picked.tolist(), strict=True):
        out.append(tuple((c, v) for c, v in zip(cols, vals, strict=True) if v > 0))
    return out
