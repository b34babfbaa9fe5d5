"""Word clusters learned from unlabelled news: PPMI co-occurrence, truncated SVD, k-means at several sizes.

Names never seen in training still share clusters with names that were, which is where a CRF's
recall on new people and organisations comes from.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

import numpy as np

CLUSTER_SIZES = (64, 256, 1024)


def word_vectors(
    sentences: Iterable[Sequence[str]],
    *,
    min_count: int = 3,
    max_vocab: int = 60_000,
    window: int = 2,
    dims: int = 100,
    seed: int = 0,
) -> tuple[list[str], np.ndarray]:
    """The words seen at least min_count times, and one unit-length vector each (PPMI, truncated SVD)."""
    from scipy import sparse  # training's: the CRF extractor (which imports this module) does not need it
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    sentences = [list(s) for s in sentences]
    counts = collections.Counter(w for s in sentences for w in s)
    vocab = [w for w, c in counts.most_common(max_vocab) if c >= min_count]
    if len(vocab) <= dims:
        return [], np.zeros((0, dims), dtype=np.float32)
    index = {w: i for i, w in enumerate(vocab)}
    rows, cols = [], []
    for sentence in sentences:
        ids = [index.get(w, -1) for w in sentence]
        for i, wi in enumerate(ids):
            if wi < 0:
                continue
            for j in range(max(0, i - window), min(len(ids), i + window + 1)):
                if j != i and ids[j] >= 0:
                    rows.append(wi)
                    cols.append(ids[j])
    n = len(vocab)
    cooc = sparse.coo_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n)).tocsr()
    cooc.sum_duplicates()
    total = cooc.sum()
    word_p = np.asarray(cooc.sum(axis=1)).ravel() / total
    context = np.asarray(cooc.sum(axis=0)).ravel() ** 0.75  # context distribution smoothing
    context_p = context / context.sum()
    coo = cooc.tocoo()
    pmi = np.log((coo.data / total) / (word_p[coo.row] * context_p[coo.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(n, n))
    vectors = normalize(TruncatedSVD(n_components=dims, random_state=seed).fit_transform(ppmi))
    return vocab, vectors.astype(np.float32)


def learn_clusters(
    sentences: Iterable[Sequence[str]],
    *,
    min_count: int = 3,
    max_vocab: int = 60_000,
    window: int = 2,
    dims: int = 100,
    sizes: Sequence[int] = CLUSTER_SIZES,
    seed: int = 0,
) -> dict[str, tuple[int, ...]]:
    """word key -> one cluster id per size, for words seen at least min_count times."""
    vocab, vectors = word_vectors(
        sentences, min_count=min_count, max_vocab=max_vocab, window=window, dims=dims, seed=seed
    )
    return clusters_of(vocab, vectors, sizes=sizes, seed=seed)


def clusters_of(
    vocab: Sequence[str], vectors: np.ndarray, *, sizes: Sequence[int] = CLUSTER_SIZES, seed: int = 0
) -> dict[str, tuple[int, ...]]:
    """word -> its k-means cluster id at each size, from word_vectors' output; none when too few words."""
    from sklearn.cluster import MiniBatchKMeans

    if len(vocab) <= max(sizes):
        return {}
    labels = [
        MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096).fit_predict(vectors) for k in sizes
    ]
    return {w: tuple(int(lab[i]) for lab in labels) for i, w in enumerate(vocab)}
