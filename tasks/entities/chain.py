"""A crfsuite linear-chain model as arrays: per-attribute label weights, label transitions, Viterbi.

crfsuite's own tagger takes every feature as a Python string per token and looks it up in a
tree, which was half of the CRF backend's time. Scoring with arrays lets khabar sum a word's
feature weights once per distinct word and decode a sentence with a few array operations per
token. The decoding is crfsuite's: the same sums, the same first-best tie-breaking.
"""

from __future__ import annotations

import itertools
import operator
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

# crfsuite's model file (crf1d_model.c): a header of 4-byte fields, then a "FEAT" chunk of
# (type, source, destination, weight) records; type 0 is attribute -> label, 1 is label -> label.
# The labels' and attributes' names are two CQDB chunks (cqdb.c): a header, then 256 hash tables, then
# the backward array, one record offset per id; a record is (id, size, the name and a NUL byte).
_HEADER = struct.Struct("<4sI4sIIIIIIIII")
_CHUNK = struct.Struct("<4sII")
_CQDB = struct.Struct("<4sIIIII")  # chunk id, size, flag, byte order, backward array's size and offset
_CQDB_BYTE_ORDER = 0x62445371
_RECORD = struct.Struct("<iI")  # id, name size with its NUL
K = TypeVar("K")
_FEATURE = np.dtype([("type", "<u4"), ("src", "<u4"), ("dst", "<u4"), ("weight", "<f8")])

VITERBI_GROUP = 96  # sentences decoded side by side at most (a document has 20 on average; a batch of 16, 300)


class ChainModelError(ValueError):
    pass


def _names(model: bytes, offset: int) -> list[str]:
    """The names in the CQDB chunk at offset, by id."""
    chunk, _, _, byte_order, n_names, backward = _CQDB.unpack_from(model, offset)
    if chunk != b"CQDB" or byte_order != _CQDB_BYTE_ORDER:
        raise ValueError(f"the chunk at {offset} is {chunk!r}, not a CQDB of this byte order")
    names = []
    for i, record in enumerate(np.frombuffer(model, "<u4", count=n_names, offset=offset + backward).tolist()):
        at = offset + record
        found, size = _RECORD.unpack_from(model, at)
        if found != i or size < 1:
            raise ValueError(f"name {i} has the record of id {found}")
        names.append(model[at + _RECORD.size : at + _RECORD.size + size - 1].decode())
    return names


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
            header = _HEADER.unpack_from(model)
            magic, n_labels, n_attributes, off_features, off_labels, off_attributes = header[0], *header[5:10]
            chunk, _, n_features = _CHUNK.unpack_from(model, off_features)
            if magic != b"lCRF" or chunk != b"FEAT":
                raise ValueError(f"the magic is {magic!r} and the chunk {chunk!r}")
            features = np.frombuffer(model, _FEATURE, count=n_features, offset=off_features + _CHUNK.size)
            # read here: pycrfsuite's tagger.info() parsed a text dump of the whole model (0.15 s of a worker's start)
            labels = _names(model, off_labels)
            attributes = {a: i for i, a in enumerate(_names(model, off_attributes))}
        except (struct.error, ValueError) as exc:
            raise ChainModelError(f"not a crfsuite CRF1d model: {exc}") from None
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
        names: list[str] = []
        group_of: list[int] = []
        for g, attributes in enumerate(groups):
            before = len(names)
            names.extend(attributes)
            group_of += [g] * (len(names) - before)
        return self.found_totals([(self.attributes, names, group_of)], len(groups))

    def found_totals(
        self, parts: Iterable[tuple[Mapping[str, int], Sequence[str], Sequence[int]]], n_groups: int
    ) -> np.ndarray:
        """(n_groups, labels): for each part (index, names, group of each name), the weights of the rows its
        index gives the names (none for a name it lacks) added into their groups, each group in the order given."""
        rows: list[int] = []
        at: list[int] = []
        for index, names, group_of in parts:
            found: list[Any] = list(map(index.get, names))  # rows, None where the index lacks the name
            known = list(map(operator.is_not, found, itertools.repeat(None)))
            rows += itertools.compress(found, known)
            at += itertools.compress(group_of, known)
        out = np.zeros((n_groups, len(self.labels)))
        np.add.at(out, at, self.state[rows])
        return out

    def viterbi(self, scores: Sequence[np.ndarray]) -> list[list[str]]:
        """The best label sequence of each (tokens, labels) matrix of state scores, decoded side by side: past
        VITERBI_GROUP sentences, in groups of that many sentences of like lengths, so that a short sentence is
        not padded to the longest of many."""
        if len(scores) <= VITERBI_GROUP:
            return self._viterbi(scores)
        order = sorted(range(len(scores)), key=lambda i: len(scores[i]))
        paths: list[list[str]] = [[] for _ in scores]
        for start in range(0, len(order), VITERBI_GROUP):
            group = order[start : start + VITERBI_GROUP]
            for i, path in zip(group, self._viterbi([scores[i] for i in group]), strict=True):
                paths[i] = path
        return paths

    def _viterbi(self, scores: Sequence[np.ndarray]) -> list[list[str]]:
        lengths = [len(s) for s in scores]
        steps = max(lengths, default=0)
        n_labels = len(self.labels)
        # Labels before sentences: each step's candidates are (from, to, sentences), and reducing over the first
        # axis is numpy's fastest on arrays this small.
        padded = np.zeros((steps, n_labels, len(scores)))
        for b, s in enumerate(scores):
            padded[: len(s), :, b] = s
        best = np.empty_like(padded)  # best[t, y, b]: the best score of sentence b's first t+1 labels ending in y
        back = np.zeros(padded.shape, dtype=np.intp)
        if steps:
            best[0] = padded[0]
        candidates = np.empty((n_labels, n_labels, len(scores)))  # reused at each step
        transitions = self.transitions[:, :, None]
        previous = best[:, :, None, :]  # best[t - 1] as (from, 1, sentences), made once
        for t in range(1, steps):
            np.add(previous[t - 1], transitions, out=candidates)
            candidates.argmax(axis=0, out=back[t])  # the first maximum, as crfsuite keeps it
            now = best[t]
            np.maximum.reduce(candidates, axis=0, out=now)
            now += padded[t]
        paths: list[list[str]] = []
        for b, n in enumerate(lengths):
            if n == 0:
                paths.append([])
                continue
            pointers = back[:n, :, b].tolist()
            path = [int(best[n - 1, :, b].argmax())]
            for t in range(n - 1, 0, -1):
                path.append(pointers[t][path[-1]])
            paths.append([self.labels[y] for y in reversed(path)])
        return paths


class ScoreTable(Generic[K]):
    """Score arrays computed once per key (a word, a window), kept side by side in one growing array so
    that a document's rows come out in one indexing step. The keys a call has not seen are computed
    together, in one call of `compute` (keys -> (keys, *shape)). It starts afresh past `capacity` keys."""

    def __init__(self, compute: Callable[[list[K]], np.ndarray], shape: tuple[int, ...], capacity: int) -> None:
        self._compute = compute
        self._capacity = capacity
        self._ids: dict[K, int] = {}
        self._table = np.empty((1024, *shape))

    def rows(self, keys: Iterable[K]) -> np.ndarray:
        keys = list(keys)
        ids = self._ids
        found: list[Any] = list(map(ids.get, keys))  # ids, None for a key not seen yet
        if None in found:
            new = [k for k in dict.fromkeys(keys) if k not in ids]
            if len(ids) + len(new) > self._capacity:
                ids.clear()
                new = list(dict.fromkeys(keys))
            self._add(new)
            found = list(map(ids.__getitem__, keys))
        return self._table[found]

    def _add(self, keys: list[K]) -> None:
        start = len(self._ids)
        end = start + len(keys)
        if end > len(self._table):
            grown = np.empty((max(end, 2 * len(self._table)), *self._table.shape[1:]))
            grown[:start] = self._table[:start]
            self._table = grown
        self._table[start:end] = self._compute(keys)
        self._ids.update(zip(keys, range(start, end), strict=True))
