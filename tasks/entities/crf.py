"""The `crf` backend: a linear-chain CRF (python-crfsuite) over word, affix, clitic, cluster and gazetteer features."""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pycrfsuite

from tasks.entities import Mention, gazetteer
from tasks.entities.bio import LabelledSentence, spans_from_labels, tokens_of_sentences
from tasks.entities.clusters import CLUSTER_SIZES, learn_clusters
from tasks.entities.gazetteer import GazetteerExtractor, strict_key
from tasks.entities.keys import canonical_key, proclitic_readings
from tasks.segment import Token, match_key

FEATURES_VERSION = "2"  # bump when the features change: models trained with others are refused
_MODEL_MEMBER = "model.crfsuite"
_META_MEMBER = "meta.json"
_VOCAB_MEMBER = "vocabulary.json"
_OFFSETS = (-2, -1, 1, 2)


def features_version() -> str:
    """The featurizer's version: its own and that of the gazetteer rules it stacks as features."""
    return f"{FEATURES_VERSION}+gazetteer{gazetteer.VERSION}"


class ModelFileError(ValueError):
    pass


@dataclass(frozen=True)
class TrainingReport:
    path: Path
    n_sentences: int
    n_tokens: int
    n_unlabelled_sentences: int
    vocabulary: int
    seconds: float
    model_hash: str


class Featurizer:
    """Turns a sentence's tokens into crfsuite feature strings; word-level features are cached."""

    def __init__(self, gazetteer: GazetteerExtractor, clusters: dict[str, tuple[int, ...]]) -> None:
        self.gazetteer = gazetteer
        self.clusters = clusters
        self.word = functools.lru_cache(maxsize=1 << 18)(self._word)

    def _cluster_features(self, key: str) -> list[str]:
        for reading in proclitic_readings(key):
            ids = self.clusters.get(reading)
            if ids is not None:
                prefix = "" if reading == key else "stem"
                return [f"{prefix}c{size}={cid}" for size, cid in zip(CLUSTER_SIZES, ids, strict=True)]
        return ["c=none"]

    def _word(self, surface: str) -> tuple[tuple[str, ...], dict[int, tuple[str, ...]]]:
        """(features of the word itself, the subset a neighbour sees of it, by the offset prefix it takes)."""
        key = match_key(surface)
        strict = strict_key(surface)
        g = self.gazetteer
        shape = (
            "latin" if surface.isascii() and surface.isalpha()
            else "digit" if any(c.isdigit() for c in surface)
            else "arabic" if surface.isalpha()
            else "punct" if len(surface) == 1
            else "mixed"
        )  # fmt: skip
        own = [f"w={key}", f"shape={shape}", f"len={min(len(key), 8)}"]
        own += [f"r={r}" for r in proclitic_readings(key)[1:]]
        own += [f"p2={key[:2]}", f"p3={key[:3]}", f"s2={key[-2:]}", f"s3={key[-3:]}", f"s4={key[-4:]}"]
        if surface.isascii() and surface[:1].isupper():
            own.append("latin_capital")
        flags = []
        if key.startswith("ال"):
            flags.append("al")
            if key.endswith(("ي", "يه")):
                flags.append("nisba")
        if strict in g.given_names:
            flags.append("given")
        if any(r in g.given_names for r in proclitic_readings(strict)[1:]):
            flags.append("given_after_clitic")
        if strict in g.stopwords:
            flags.append("stop")
        clusters = self._cluster_features(key)
        context = (f"w={key}", *flags, *clusters[1:2], f"shape={shape}")
        return tuple(own + flags + clusters), {o: tuple(f"{o}:{f}" for f in context) for o in _OFFSETS}

    def sentence(self, tokens: Sequence[Token]) -> list[list[str]]:
        """Features of one sentence's tokens."""
        keys = [t.key for t in tokens]
        n = len(tokens)
        lexicon = ["O"] * n  # longest gazetteer matches as B-X / I-X
        cue = [""] * n
        i = 0
        while i < n:
            found = self.gazetteer.names.longest_at(keys, i, n)
            if found:
                length, _, entry = found
                lexicon[i] = f"B-{entry.type}"
                for k in range(i + 1, i + length):
                    lexicon[k] = f"I-{entry.type}"
                i += length
            else:
                i += 1
        for i in range(n):
            c = self.gazetteer.cues.longest_at(keys, i, n)
            if c:
                for k in range(i, i + c[0]):
                    cue[k] = c[2]
        rules = ["O"] * n  # what the rule-based extractor says (stacking)
        for m in self.gazetteer.extract(tokens):
            rules[m.token_start] = f"B-{m.type}"
            for k in range(m.token_start + 1, m.token_end):
                rules[k] = f"I-{m.type}"
        words = [self.word(t.surface) for t in tokens]
        out = []
        for i in range(n):
            feats = ["bias", *words[i][0], f"gz={lexicon[i]}", f"rule={rules[i]}"]
            if cue[i]:
                feats.append(f"cue={cue[i]}")
            for offset in _OFFSETS:
                j = i + offset
                if j < 0:
                    feats.append(f"{offset}:BOS")
                    continue
                if j >= n:
                    feats.append(f"{offset}:EOS")
                    continue
                feats.extend(words[j][1][offset])
                if cue[j]:
                    feats.append(f"{offset}:cue={cue[j]}")
                if abs(offset) == 1:
                    feats.append(f"{offset}:gz={lexicon[j]}")
                    feats.append(f"{offset}:rule={rules[j]}")
            if i > 0:
                feats.append(f"w-1|w={keys[i - 1]}|{keys[i]}")
            out.append(feats)
        return out


def train(
    gold: Sequence[LabelledSentence],
    out: str | Path,
    *,
    unlabelled: Iterable[Sequence[str]] = (),
    c1: float = 0.1,
    c2: float = 0.01,
    max_iterations: int = 150,
) -> TrainingReport:
    """Learn word clusters (gold words plus unlabelled sentences), train the CRF, write one model file."""
    started = time.perf_counter()
    unlabelled = [list(s) for s in unlabelled]
    keyed = [[match_key(w) for w in s.words] for s in gold] + [[match_key(w) for w in s] for s in unlabelled]
    counts = Counter(w for s in keyed for w in s)
    clusters = learn_clusters(keyed)
    featurizer = Featurizer(GazetteerExtractor.from_resources(), clusters)
    trainer = pycrfsuite.Trainer(verbose=False)
    for sentence in gold:
        _, tokens = tokens_of_sentences([sentence.words])
        trainer.append(featurizer.sentence(tokens), list(sentence.labels))
    trainer.set_params({"c1": c1, "c2": c2, "max_iterations": max_iterations, "feature.possible_transitions": True})
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / _MODEL_MEMBER
        trainer.train(str(model))
        meta = {
            "features_version": features_version(),
            "gazetteer_version": featurizer.gazetteer.version,
            "n_sentences": len(gold),
            "n_tokens": sum(len(s.words) for s in gold),
            "n_unlabelled_sentences": len(unlabelled),
            "params": {"c1": c1, "c2": c2, "max_iterations": max_iterations},
        }
        vocabulary = {w: [counts[w], *ids] for w, ids in clusters.items()}
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_name(f".tmp-{out.name}")
        with zipfile.ZipFile(tmp_out, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.write(model, _MODEL_MEMBER)
            z.writestr(_META_MEMBER, json.dumps(meta, indent=1))
            z.writestr(_VOCAB_MEMBER, json.dumps(vocabulary, ensure_ascii=False))
        tmp_out.replace(out)
    return TrainingReport(
        path=out,
        n_sentences=len(gold),
        n_tokens=sum(len(s.words) for s in gold),
        n_unlabelled_sentences=len(unlabelled),
        vocabulary=len(clusters),
        seconds=time.perf_counter() - started,
        model_hash=file_hash(out),
    )


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _members(path: str | Path, *names: str) -> list[Any]:
    """Members of a model file, in one opening: .json members decoded, others as bytes."""
    try:
        with zipfile.ZipFile(path) as z:
            return [json.loads(z.read(n)) if n.endswith(".json") else z.read(n) for n in names]
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not a khabar CRF model ({exc})") from None


def _checked(path: str | Path, meta: dict) -> dict:
    if meta.get("features_version") != features_version():
        raise ModelFileError(
            f"{path} was trained with features v{meta.get('features_version')}, "
            f"this khabar has v{features_version()}; retrain it"
        )
    return meta


def model_meta(path: str | Path) -> dict:
    """A model file's metadata, once checked that it is a khabar CRF model with this khabar's features."""
    (meta,) = _members(path, _META_MEMBER)
    return _checked(path, meta)


class CRFExtractor:
    """Tags with a trained model file; the model is opened once per process."""

    name = "crf"

    def __init__(self, model_path: str | Path) -> None:
        path = Path(model_path)
        meta, vocabulary, model_bytes = _members(path, _META_MEMBER, _VOCAB_MEMBER, _MODEL_MEMBER)
        _checked(path, meta)
        self.model_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        self.version = f"{features_version()}+{self.model_hash[:12]}"
        self.meta = meta
        self.counts = {w: v[0] for w, v in vocabulary.items()}
        self.featurizer = Featurizer(
            GazetteerExtractor.from_resources(), {w: tuple(v[1:]) for w, v in vocabulary.items()}
        )
        self._model_file = Path(tempfile.gettempdir()) / f"khabar-crf-{self.model_hash[:16]}.crfsuite"
        if not self._model_file.exists():
            tmp = self._model_file.with_name(f"{self._model_file.name}.{id(self)}.tmp")
            tmp.write_bytes(model_bytes)
            tmp.replace(self._model_file)
        self.tagger = pycrfsuite.Tagger()
        self.tagger.open(str(self._model_file))

    def tag_sentence(self, tokens: Sequence[Token]) -> list[str]:
        return list(self.tagger.tag(self.featurizer.sentence(tokens))) if tokens else []

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        mentions: list[Mention] = []
        start = 0
        for i in range(1, len(tokens) + 1):
            if i == len(tokens) or tokens[i].sentence_idx != tokens[start].sentence_idx:
                labels = self.tag_sentence(tokens[start:i])
                for type_, a, b in spans_from_labels(labels):
                    keys = [t.key for t in tokens[start + a : start + b]]
                    mentions.append(Mention(type_, start + a, start + b, self.canonical(keys)))
                start = i
        return mentions

    def canonical(self, keys: list[str]) -> str:
        """A gazetteer name's canonical key, else the words with the likeliest proclitic reading of the first."""
        found = self.featurizer.gazetteer.names.longest_at(keys, 0, len(keys))
        if found and found[0] == len(keys):
            return found[2].canonical_key
        first = max(proclitic_readings(keys[0]), key=lambda r: self.counts.get(r, 0))
        return canonical_key([first, *keys[1:]])
