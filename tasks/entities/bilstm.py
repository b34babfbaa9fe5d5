"""The `bilstm` backend: a word and character BiLSTM-CRF, decoded together with a CRF trained beside it.

The network reads, per token, the CRF's own feature strings as one bag (its words, affixes, clusters,
gazetteer matches and rules), the characters of its word (a convolution) and its word vector learned
from unlabelled news (tasks.entities.clusters), and a BiLSTM over the sentence gives each label a
score. Its scores and transitions are added to the CRF's (a product of the two models), and one
Viterbi decodes the sum: on ANERcorp's 5-block cross-validation the pair scores above the CRF alone
on every block; the network alone scored about what the CRF does (docs/entities.md).

A model file is a CRF model file (tasks.entities.crf) with the network's members added, so the
`crf` backend also reads it (its CRF half).
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tasks.entities import Mention
from tasks.entities.bio import LabelledSentence
from tasks.entities.crf import (
    CRFExtractor,
    ModelFileError,
    features_version,
    file_hash,
    gold_features,
    keyed_sentences,
)
from tasks.entities.crf import train as train_crf
from tasks.entities.keys import proclitic_readings
from tasks.segment import Token

VERSION = "1"  # bump when the network or its inputs change: models trained with others are refused
_STATE = "bilstm.pt"
_META = "bilstm.json"
_VECTORS = "vectors.npy"
MAX_WORD_CHARS = 20
BATCH = 64  # sentences scored together when tagging
_FROZEN = "words.weight"  # the word vectors, never trained: kept once, in _VECTORS


@dataclass(frozen=True)
class Shape:
    """The network's sizes, kept in the model file."""

    n_features: int
    n_chars: int
    n_labels: int
    word_dims: int
    feature_dims: int = 128
    char_dims: int = 32
    char_filters: int = 64
    hidden: int = 128
    dropout: float = 0.5


@dataclass(frozen=True)
class TrainingReport:
    path: Path
    n_sentences: int
    n_tokens: int
    n_unlabelled_sentences: int
    vocabulary: int
    features: int
    epochs: int
    seconds: float
    model_hash: str


def version() -> str:
    """The network's version and that of the CRF features it reads."""
    return f"{VERSION}+crf{features_version()}"


def _network(shape: Shape, vectors: np.ndarray) -> Any:
    """The BiLSTM-CRF module (torch is imported here, when a model is trained or loaded)."""
    import torch
    from torch import nn
    from torchcrf import CRF

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bag = nn.EmbeddingBag(shape.n_features + 1, shape.feature_dims, mode="sum", padding_idx=0)
            self.direct = nn.EmbeddingBag(shape.n_features + 1, shape.n_labels, mode="sum", padding_idx=0)
            nn.init.zeros_(self.direct.weight)
            self.chars = nn.Embedding(shape.n_chars + 2, shape.char_dims, padding_idx=0)
            self.conv = nn.Conv1d(shape.char_dims, shape.char_filters, 3, padding=1)
            padded = np.vstack([np.zeros((1, shape.word_dims), np.float32), vectors.astype(np.float32)])
            self.words = nn.Embedding.from_pretrained(torch.from_numpy(padded), freeze=True)
            self.drop = nn.Dropout(shape.dropout)
            width = shape.feature_dims + shape.char_filters + shape.word_dims
            self.lstm = nn.LSTM(width, shape.hidden, batch_first=True, bidirectional=True)
            self.out = nn.Linear(2 * shape.hidden, shape.n_labels)
            self.crf = CRF(shape.n_labels, batch_first=True)

        def forward(self, batch: Sequence[Encoded], feature_dropout: float = 0.0) -> tuple[Any, Any]:
            """(sentences, tokens, labels) scores and the mask of real tokens."""
            flat = [ids for sentence in batch for ids in sentence.features]
            sizes = torch.tensor([0] + [len(ids) for ids in flat[:-1]])
            ids = torch.tensor([i for f in flat for i in f])
            if self.training and feature_dropout:
                ids = ids * (torch.rand(ids.shape) >= feature_dropout)
            offsets = sizes.cumsum(0)
            bag, direct = self.bag(ids, offsets), self.direct(ids, offsets)
            width = max(len(c) for s in batch for c in s.chars)
            chars = torch.zeros(len(flat), width, dtype=torch.long)
            row = 0
            for sentence in batch:
                for c in sentence.chars:
                    chars[row, : len(c)] = torch.tensor(c)
                    row += 1
            convolved = self.conv(self.chars(chars).transpose(1, 2))  # (words, filters, width)
            # past a word's end, -inf: its vector must not depend on the longest word beside it
            convolved = convolved.masked_fill((chars == 0)[:, None, :], float("-inf"))
            spelled = convolved.max(dim=2).values
            words = self.words(torch.tensor([w for s in batch for w in s.words]))
            tokens = torch.cat([bag, spelled, words], 1)
            steps = max(len(s.words) for s in batch)
            x = torch.zeros(len(batch), steps, tokens.shape[1])
            linear = torch.zeros(len(batch), steps, shape.n_labels)
            mask = torch.zeros(len(batch), steps, dtype=torch.bool)
            at = 0
            for b, sentence in enumerate(batch):
                n = len(sentence.words)
                x[b, :n], linear[b, :n], mask[b, :n] = tokens[at : at + n], direct[at : at + n], True
                at += n
            packed = nn.utils.rnn.pack_padded_sequence(
                self.drop(x), mask.sum(1), batch_first=True, enforce_sorted=False
            )
            hidden, _ = self.lstm(packed)
            hidden, _ = nn.utils.rnn.pad_packed_sequence(hidden, batch_first=True, total_length=steps)
            return self.out(self.drop(hidden)) + linear, mask

    return Network()


@dataclass(frozen=True)
class Encoded:
    """A sentence as the network reads it: feature ids, character ids and word-vector row per token."""

    features: list[list[int]]
    chars: list[list[int]]
    words: list[int]


class Encoder:
    """Turns tokens into Encoded sentences with the vocabularies learned at training."""

    def __init__(self, crf: CRFExtractor, features: dict[str, int], chars: dict[str, int], words: dict[str, int]):
        self.crf, self.features, self.chars, self.words = crf, features, chars, words

    def word_row(self, key: str) -> int:
        """The row of the word's vector (1-based; 0 none), trying its proclitic readings as the clusters do."""
        for reading in proclitic_readings(key):
            row = self.words.get(reading)
            if row is not None:
                return row + 1
        return 0

    def encode(self, tokens: Sequence[Token], features: Sequence[Sequence[str]]) -> Encoded:
        """The sentence encoded; `features`: its CRF feature strings (featurizer.sentence)."""
        index = self.features
        feature_ids = [[index[f] for f in feats if f in index] or [0] for feats in features]
        chars = [[self.chars.get(c, 1) for c in t.key[:MAX_WORD_CHARS]] or [1] for t in tokens]
        return Encoded(feature_ids, chars, [self.word_row(t.key) for t in tokens])


def train(
    gold: Sequence[LabelledSentence],
    out: str | Path,
    *,
    unlabelled: Iterable[Sequence[str]] = (),
    epochs: int = 8,
    threads: int | None = None,
    seed: int = 0,
    crf_iterations: int = 150,
) -> TrainingReport:
    """Learn word vectors and clusters, train the CRF, then the network beside it; write one model file."""
    import torch

    from tasks.entities.clusters import clusters_of, word_vectors

    started = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    shuffle = random.Random(seed).shuffle
    unlabelled = [list(s) for s in unlabelled]
    vocab, vectors = word_vectors(keyed_sentences(gold, unlabelled))
    clusters = clusters_of(vocab, vectors)  # the clusters `khabar ner train --backend crf` learns: the same CRF
    vectors = vectors.astype(np.float16)  # as the model file keeps them: the network trains on what it reloads
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".tmp-{out.name}")
    train_crf(gold, tmp_out, unlabelled=unlabelled, clusters=clusters, max_iterations=crf_iterations)
    crf = CRFExtractor(tmp_out)
    tokens, sentence_features = zip(*gold_features(crf.featurizer, gold), strict=True)  # counted, then encoded
    feature_counts = Counter(f for sentence in sentence_features for feats in sentence for f in feats)
    char_counts = Counter(c for t in tokens for token in t for c in token.key[:MAX_WORD_CHARS])
    features = {f: i + 1 for i, f in enumerate(sorted(f for f, n in feature_counts.items() if n >= 2))}
    chars = {c: i + 2 for i, c in enumerate(sorted(c for c, n in char_counts.items() if n >= 2))}  # 1: unknown
    labels = list(crf.chain.labels)
    encoder = Encoder(crf, features, chars, {w: i for i, w in enumerate(vocab)})
    data = [
        (encoder.encode(t, f), torch.tensor([labels.index(y) for y in s.labels]))
        for t, f, s in zip(tokens, sentence_features, gold, strict=True)
    ]
    shape = Shape(len(features), len(chars), len(labels), vectors.shape[1])
    network = _network(shape, vectors)
    optimizer = torch.optim.AdamW(network.parameters(), lr=2e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 / (1 + 0.05 * epoch))
    by_length = sorted(range(len(data)), key=lambda i: len(data[i][1]))
    batches = [by_length[i : i + 32] for i in range(0, len(by_length), 32)]  # sentences of like length
    network.train()
    for _ in range(epochs):
        shuffle(batches)
        for batch in batches:
            scores, mask = network([data[i][0] for i in batch], feature_dropout=0.2)
            gold_labels = torch.zeros(mask.shape, dtype=torch.long)
            for b, i in enumerate(batch):
                gold_labels[b, : len(data[i][1])] = data[i][1]
            loss = -network.crf(scores, gold_labels, mask, reduction="mean")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
            optimizer.step()
        schedule.step()
    state = io.BytesIO()
    torch.save({k: v for k, v in network.state_dict().items() if k != _FROZEN}, state)  # vectors: apart, half size
    vector_bytes = io.BytesIO()
    np.save(vector_bytes, vectors)
    meta = {
        "version": version(),
        "shape": dataclasses.asdict(shape),
        "epochs": epochs,
        "features": list(features),
        "chars": list(chars),
        "words": vocab,
    }
    with zipfile.ZipFile(tmp_out, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(_STATE, state.getvalue())
        z.writestr(_VECTORS, vector_bytes.getvalue())
        z.writestr(_META, json.dumps(meta, ensure_ascii=False))
    tmp_out.replace(out)
    return TrainingReport(
        path=out,
        n_sentences=len(gold),
        n_tokens=sum(len(s.words) for s in gold),
        n_unlabelled_sentences=len(unlabelled),
        vocabulary=len(vocab),
        features=len(features),
        epochs=epochs,
        seconds=time.perf_counter() - started,
        model_hash=file_hash(out),
    )


def model_meta(path: str | Path) -> dict:
    """The network's metadata in a model file, once checked it is a bilstm model of this khabar's version."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if _META not in names:
                raise ModelFileError(f"{path} is a CRF model without a BiLSTM; train one with --backend bilstm")
            meta = json.loads(z.read(_META))
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not a khabar bilstm model ({exc})") from None
    if meta.get("version") != version():
        raise ModelFileError(
            f"{path} was trained with bilstm v{meta.get('version')}, this khabar has v{version()}; retrain it"
        )
    return meta


def is_bilstm_model(path: str | Path) -> bool:
    """Whether a file is a model with a network in it (any version), without loading it."""
    try:
        with zipfile.ZipFile(path) as z:
            return _META in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


class BiLSTMExtractor:
    """Tags with a bilstm model file: the network's scores plus the CRF's, one Viterbi per sentence."""

    name = "bilstm"

    def __init__(self, model_path: str | Path, *, threads: int | None = None) -> None:
        import torch

        path = Path(model_path)
        meta = model_meta(path)
        self.crf = CRFExtractor(path)
        with zipfile.ZipFile(path) as z:
            state = torch.load(io.BytesIO(z.read(_STATE)), weights_only=True)
            vectors = np.load(io.BytesIO(z.read(_VECTORS)))
        if threads:
            torch.set_num_threads(threads)
        self.model_hash = self.crf.model_hash  # the same file, hashed once
        self.version = f"{version()}+{self.model_hash[:12]}"
        self.network = _network(Shape(**meta["shape"]), vectors)
        self.network.load_state_dict(state | {_FROZEN: self.network.state_dict()[_FROZEN]})
        self.network.eval()
        words = {w: i for i, w in enumerate(meta["words"])}
        features = {f: i + 1 for i, f in enumerate(meta["features"])}
        chars = {c: i + 2 for i, c in enumerate(meta["chars"])}
        self.encoder = Encoder(self.crf, features, chars, words)
        crf_net = self.network.crf
        self._start = crf_net.start_transitions.detach().numpy().astype(np.float64)
        self._end = crf_net.end_transitions.detach().numpy().astype(np.float64)
        chain = self.crf.chain
        transitions = chain.transitions + crf_net.transitions.detach().numpy().astype(np.float64)
        self.chain = dataclasses.replace(chain, transitions=transitions)

    def scores(
        self, sentences: Sequence[Sequence[Token]], found: Sequence[Sequence[Mention]] | None = None
    ) -> list[np.ndarray]:
        """Each sentence's (tokens, labels) scores, the sentences being one document: the network's and the
        CRF's, with the network's start and end transitions folded into the first and last rows (the chain's
        Viterbi has none)."""
        import torch

        featurizer = self.crf.featurizer
        contexts = featurizer.contexts(sentences, found)
        out: list[np.ndarray] = [np.empty(0)] * len(sentences)
        by_length = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        for at in range(0, len(by_length), BATCH):  # sentences of like length: little padding, bounded memory
            chunk = by_length[at : at + BATCH]
            encoded = [self.encoder.encode(sentences[i], featurizer.sentence(sentences[i], contexts[i])) for i in chunk]
            with torch.inference_mode():
                network, _ = self.network(encoded)
            for b, i in enumerate(chunk):
                n = len(sentences[i])
                s = network[b, :n].numpy().astype(np.float64) + self.crf.state_scores(sentences[i], contexts[i])
                s[0] += self._start
                s[n - 1] += self._end
                out[i] = s
        return out

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        if not tokens:
            return []
        bounds, sentences, found = self.crf.document_sentences(tokens)
        return self.crf.mentions(tokens, bounds, self.chain.viterbi(self.scores(sentences, found)))
