"""A crfsuite linear-chain model as arrays: per-attribute label weights, label transitions, Viterbi.

crfsuite's own tagger takes every feature as a Python string per token and looks it up in a
tree, which was half of the CRF backend's time. Scoring with arrays lets khabar sum a word's
feature weights once per distinct word and decode a sentence with a few array operations per
token. The decoding is crfsuite's: the same sums, the same first-best tie-breaking.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import pycrfsuite

# crfsuite's model file (crf1d_model.c): a header of 4-byte fields, then a "FEAT" chunk of
# (type, source, destination, weight) records; type 0 is attribute -> label, 1 is label -> label.
_HEADER = struct.Struct("<4sI4sIIIIIIIII")
_CHUNK = struct.Struct("<4sII")
K = TypeVar("K")
_FEATURE = np.dtype([("type", "<u4"), ("src", "<u4"), ("dst", "<u4"), ("weight", "<f8")])


class ChainModelError(ValueError):
    pass


@dataclass(frozen=True)
class LinearChain:
    labels: tuple[str, ...]
    attributes: dict[str, int]  # attribute -> row of `state`
    state: np.ndarray  # (attributes, labels): the weight each attribute gives each label
    transitions: np.ndarray  # (labels, labels): from -> to

    @classmethod
    def from_crfsuite(cls, model: bytes) -> LinearChain:
        """The weights of a crfsuite CRF1d model file, exactly (its text dump rounds them to 6 decimals)."""
        try:
            magic, *_, n_labels, n_attributes, off_features, _, _, _, _ = _HEADER.unpack_from(model)
            chunk, _, n_features = _CHUNK.unpack_from(model, off_features)
            if magic != b"lCRF" or chunk != b"FEAT":
                raise ValueError(f"the magic is {magic!r} and the chunk {chunk!r}")
            features = np.frombuffer(model, _FEATURE, count=n_features, offset=off_features + _CHUNK.size)
        except (struct.error, ValueError) as exc:
            raise ChainModelError(f"not a crfsuite CRF1d model: {exc}") from None
        with tempfile.NamedTemporaryFile(suffix=".crfsuite") as f:  # the names of the ids, from crfsuite
            f.write(model)
            f.flush()
            tagger = pycrfsuite.Tagger()
            tagger.open(f.name)
            info = tagger.info()
            tagger.close()
        labels = sorted(info.labels, key=lambda label: int(info.labels[label]))
        attributes = {a: int(i) for a, i in info.attributes.items()}
        if len(labels) != n_labels or len(attributes) != n_attributes:
            raise ChainModelError("the model's dictionaries do not match its header")
        state = np.zeros((n_attributes, n_labels))
        transitions = np.zeros((n_labels, n_labels))
        for kind, weights in ((0, state), (1, transitions)):
            chosen = features[features["type"] == kind]
            weights[chosen["src"], chosen["dst"]] = chosen["weight"]
        return cls(tuple(labels), attributes, state, transitions)

    def total(self, attributes: Iterable[str]) -> np.ndarray:
        """The summed label weights of these attributes; ones the model never saw weigh nothing."""
        return self.totals([attributes])[0]

    def totals(self, groups: Sequence[Iterable[str]]) -> np.ndarray:
        """total() of each group of attributes, as one (groups, labels) array."""
        rows, at = [], []
        index = self.attributes
        for g, attributes in enumerate(groups):
            for a in attributes:
                r = index.get(a)
                if r is not None:
                    rows.append(r)
                    at.append(g)
        out = np.zeros((len(groups), len(self.labels)))
        np.add.at(out, at, self.state[rows])
        return out

    def viterbi(self, scores: Sequence[np.ndarray]) -> list[list[str]]:
        """The best label sequence of each (tokens, labels) matrix of state scores, decoded side by side."""
        lengths = [len(s) for s in scores]
        steps = max(lengths, default=0)
        n_labels = len(self.labels)
        padded = np.zeros((steps, len(scores), n_labels))
        for b, s in enumerate(scores):
            padded[: len(s), b] = s
        best = np.empty_like(padded)  # best[t, b, y]: the best score of sentence b's first t+1 labels ending in y
        back = np.zeros(padded.shape, dtype=np.intp)
        if steps:
            best[0] = padded[0]
        for t in range(1, steps):
            candidates = best[t - 1][:, :, None] + self.transitions  # (sentences, from, to)
            back[t] = candidates.argmax(axis=1)  # the first maximum, as crfsuite keeps it
            best[t] = candidates.max(axis=1) + padded[t]
        paths: list[list[str]] = []
        for b, n in enumerate(lengths):
            if n == 0:
                paths.append([])
                continue
            pointers = back[:n, b].tolist()
            path = [int(best[n - 1, b].argmax())]
            for t in range(n - 1, 0, -1):
                path.append(pointers[t][path[-1]])
            paths.append([self.labels[y] for y in reversed(path)])
        return paths


class ScoreTable(Generic[K]):
    """Score arrays computed once per key (a word, a window), kept side by side in one growing array so
    that a sentence's rows come out in one indexing step. It starts afresh past `capacity` keys."""

    def __init__(self, compute: Callable[[K], np.ndarray], shape: tuple[int, ...], capacity: int) -> None:
        self._compute = compute
        self._capacity = capacity
        self._ids: dict[K, int] = {}
        self._table = np.empty((1024, *shape))

    def rows(self, keys: Iterable[K]) -> np.ndarray:
        keys = list(keys)
        if len(self._ids) + len(keys) > self._capacity:  # not inside the loop: ids found there must stay valid
            self._ids.clear()
        ids = self._ids
        found = [i if (i := ids.get(k)) is not None else self._add(k) for k in keys]
        return self._table[found]

    def _add(self, key: K) -> int:
        i = self._ids[key] = len(self._ids)
        if i == len(self._table):
            self._table = np.concatenate([self._table, np.empty_like(self._table)])
        self._table[i] = self._compute(key)
        return i
