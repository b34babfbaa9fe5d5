"""Named-entity extraction behind one interface; backends are chosen by name and loaded once per process."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from tasks.segment import Token


@dataclass(frozen=True, slots=True)
class Mention:
    """An entity over tokens [token_start, token_end) of one sentence."""

    type: str
    token_start: int
    token_end: int
    canonical_key: str


class EntityExtractor(Protocol):
    name: str
    version: str
    model_hash: str  # sha256 of what the extractor learned or looks up: model file, model folder, lists

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        """Mentions in a document's tokens, in order, non-overlapping, never crossing a sentence."""
        ...


def decodes_together(extractor: EntityExtractor) -> bool:
    """Whether the extractor is faster given several documents at once (extract_many): the CRF decodes
    their sentences in one pass; the wrappers over a backend say what the backend does."""
    return bool(getattr(extractor, "decodes_together", False))


def extract_many(extractor: EntityExtractor, documents: Sequence[Sequence[Token]]) -> list[list[Mention]]:
    """extract() of each document, in order: the same mentions, found together where the extractor can."""
    many = getattr(extractor, "extract_many", None)
    return many(documents) if many is not None else [extractor.extract(tokens) for tokens in documents]


class ExtractorLayer:
    """An extractor that applies its rules to the mentions another one (`inner`) finds, one document at a
    time (over); given several documents, it passes them to the inner one together (extract_many)."""

    inner: EntityExtractor

    def over(self, tokens: Sequence[Token], mentions: list[Mention]) -> list[Mention]:
        """The inner extractor's mentions of a document's tokens, with this layer's rules applied."""
        raise NotImplementedError

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        return self.over(tokens, self.inner.extract(tokens))

    def extract_many(self, documents: Sequence[Sequence[Token]]) -> list[list[Mention]]:
        found = extract_many(self.inner, documents)
        return [self.over(tokens, mentions) for tokens, mentions in zip(documents, found, strict=True)]

    @property
    def decodes_together(self) -> bool:
        return decodes_together(self.inner)


class NerConfigError(ValueError):
    """A backend that cannot be used as asked (unknown, or its model is missing)."""


UnknownBackendError = NerConfigError


@dataclass(frozen=True)
class NerConfig:
    """Which extractor to build: plain values, so shard tasks can carry it to any worker."""

    backend: str = "gazetteer"
    model: str | None = None  # a CRF model file, or a camel-tools NER model folder
    gazetteer_files: tuple[str, ...] = ()  # user lists (a watch list), used by every backend
    threads: int | None = None  # torch threads per worker (camel)
    quantize: bool = False  # int8 dynamic quantization (camel, opt-in)


def resolve(config: NerConfig) -> NerConfig:
    """Turn `auto` into a concrete backend and check that the chosen one can load; fails fast and clearly.

    auto = camel if its model is installed (and --ner-model, if given, is its folder), else bilstm if the
    model file has a network, else crf if a model file is configured, else gazetteer.
    """
    from tasks.entities.backends import AUTO, AUTO_ORDER, BACKENDS, CHOICES

    name = config.backend
    if name == AUTO:
        name = next(n for n in AUTO_ORDER if BACKENDS[n].available(config))
        config = replace(config, backend=name, model=config.model if BACKENDS[name].reads_model else None)
    if name not in BACKENDS:
        raise NerConfigError(f"unknown NER backend {name!r}; choose one of: {', '.join(CHOICES)}")
    config = BACKENDS[name].check(config)
    for path in config.gazetteer_files:
        if not Path(path).is_file():
            raise NerConfigError(f"no gazetteer file at {path}")
    return config


@functools.cache
def load_extractor(config: NerConfig | str = "gazetteer") -> EntityExtractor:
    """The extractor for a configuration, built once per process (workers reuse it across shards): the
    backend, its names found again where they recur (crf, bilstm, camel), the gazetteer's rulings over a
    learned one, then the user's lists over it, then document-level consistency over all."""
    from tasks.entities.backends import BACKENDS, GAZETTEER
    from tasks.entities.consistency import DocumentConsistency, FoundAgain
    from tasks.entities.gazetteer import WatchList, packaged_gazetteer
    from tasks.entities.rulings import Ruled

    if isinstance(config, str):
        config = NerConfig(backend=config)
    config = resolve(config)
    backend = BACKENDS[config.backend]
    extractor = backend.load(config)
    if backend.finds_again:  # before the rulings, which then also judge what was found again
        extractor = FoundAgain(extractor)
    if backend.ruled:
        extractor = Ruled(extractor, packaged_gazetteer())
    if config.gazetteer_files and backend is not GAZETTEER:  # the gazetteer reads them itself
        extractor = WatchList(extractor, config.gazetteer_files)
    return DocumentConsistency(extractor, *_name_words())


@functools.cache
def _name_words() -> tuple[frozenset[str], frozenset[str]]:
    """Given names, and words that never end a name (stopwords, the words of religious formulas), as strict keys."""
    from tasks.entities.gazetteer import word_lists

    words = word_lists()
    return words.given_names, words.stopwords | words.formula_words | {"الله"}


def code_version(config: NerConfig) -> str:
    """The version of the configured extractor's code: its rules, features or predictor, the finding again
    of its names, the gazetteer's rulings over a learned backend, and the document-level consistency over it.

    Bumped in the backend's module when its output changes for the same model; the CRF stacks the
    gazetteer's rules as features, so its version carries both.
    """
    from tasks.entities import consistency, rulings
    from tasks.entities.backends import BACKENDS

    config = resolve(config)
    backend = BACKENDS[config.backend]
    again = f"+again{consistency.AGAIN_VERSION}" if backend.finds_again else ""
    ruled = f"+rulings{rulings.VERSION}" if backend.ruled else ""
    return f"{backend.code_version()}{again}{ruled}+doc{consistency.VERSION}"


def model_hash(config: NerConfig) -> str:
    """sha256 of everything the configured extractor reads, computed without loading a model.

    Equal to the extractor's own model_hash, except for the learned backends, whose features or rulings
    (tasks.entities.rulings) also read the packaged name lists: a change of those lists changes their
    hash here too.
    """
    import hashlib

    from tasks.entities import gazetteer
    from tasks.entities.backends import BACKENDS, GAZETTEER

    config = resolve(config)
    backend = BACKENDS[config.backend]
    base = backend.model_hash(config)
    if config.gazetteer_files and backend is not GAZETTEER:
        user = gazetteer.lists_digest(config.gazetteer_files, packaged=False)
        return hashlib.sha256(f"{base}:{user}".encode()).hexdigest()
    return base
