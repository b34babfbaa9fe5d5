"""A crfsuite linear-chain model as arrays: per-attribute label weights, label transitions, Viterbi.

crfsuite's own tagger takes every feature as a Python string per token and looks it up in a
tree, which was half of the CRF backend's time. Scoring with arrays lets khabar sum a word's
feature weights once per distinct word and decode a sentence with a few array operations per
token. The decoding is crfsuite's: the same sums, the same first-best tie-breaking.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pycrfsuite

# crfsuite's model file (crf1d_model.c): a header of 4-byte fields, then a "FEAT" chunk of
# (type, source, destination, weight) records; type 0 is attribute -> label, 1 is label -> label.
_HEADER = struct.Struct("<4sI4sIIIIIIIII")
_CHUNK = struct.Struct("<4sII")
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
        rows = [r for a in attributes if (r := self.attributes.get(a)) is not None]
        return self.state[rows].sum(axis=0)

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
