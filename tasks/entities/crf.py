"""The `crf` backend: a linear-chain CRF (python-crfsuite) over word, affix, clitic, cluster and gazetteer features."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pycrfsuite

from tasks.entities import Mention, gazetteer
from tasks.entities.bio import LabelledSentence, documents, spans_from_labels, tokens_of_sentences
from tasks.entities.chain import ChainModelError, LinearChain, ScoreTable
from tasks.entities.clusters import CLUSTER_SIZES, learn_clusters
from tasks.entities.gazetteer import GazetteerExtractor, packaged_gazetteer, strict_key
from tasks.entities.keys import canonical_key, positions_read_as, proclitic_readings
from tasks.segment import Token, match_key, sentence_ranges

FEATURES_VERSION = "3"  # bump when the features change: models trained with others are refused
_MODEL_MEMBER = "model.crfsuite"
_META_MEMBER = "meta.json"
_VOCAB_MEMBER = "vocabulary.json"
_OFFSETS = (-2, -1, 1, 2)
_BIGRAM = "w-1|w="  # then the previous word's key, "|", the word's key
_CHUNK_TOKENS = 1 << 14  # a document's sentences are scored together, this many tokens at a time at most


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
        self._cluster_names: dict[tuple[str, tuple[int, ...]], tuple[str, ...]] = {}  # 2 per vocabulary word at most

    def _cluster_features(self, key: str) -> tuple[str, ...]:
        for reading in proclitic_readings(key):
            ids = self.clusters.get(reading)
            if ids is not None:
                prefix = "" if reading == key else "stem"
                names = self._cluster_names.get((prefix, ids))
                if names is None:
                    names = tuple(f"{prefix}c{size}={cid}" for size, cid in zip(CLUSTER_SIZES, ids, strict=True))
                    self._cluster_names[prefix, ids] = names
                return names
        return ("c=none",)

    def _word(self, surface: str) -> tuple[tuple[str, ...], dict[int, tuple[str, ...]]]:
        """(features of the word itself, the subset a neighbour sees of it, by the offset prefix it takes)."""
        own, seen = self.word_parts(surface)
        return own, {o: tuple(f"{o}:{f}" for f in seen) for o in _OFFSETS}

    def word_parts(self, surface: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(features of the word itself, the subset a neighbour sees of it before prefixing its offset)."""
        key = match_key(surface)
        strict = strict_key(surface)
        g = self.gazetteer
        shape = (
            "latin" if surface.isascii() and surface.isalpha()
            else "arabic" if surface.isalpha()  # no letter is a digit: never "digit"
            else "digit" if any(c.isdigit() for c in surface)
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
        if not g.given_names.isdisjoint(proclitic_readings(strict)[1:]):
            flags.append("given_after_clitic")
        if strict in g.stopwords:
            flags.append("stop")
        clusters = self._cluster_features(key)
        return (*own, *flags, *clusters), (f"w={key}", *flags, *clusters[1:2], f"shape={shape}")

    def contexts(
        self, sentences: Sequence[Sequence[Token]], found: Sequence[Sequence[Mention]] | None = None
    ) -> list[SentenceContext]:
        """Each sentence's context in its document (the sentences given): what the gazetteer says about the
        sentence, and how it tagged each of its words elsewhere in the document.

        A name the gazetteer's rules find once, after a title or a reporting verb, recurs bare in the same
        document (سيغموند فرويد, then فرويد); the CRF learns how far to trust that (`doc=TYPE`)."""
        if found is None:  # `found`: each sentence's gazetteer mentions, when the caller has them
            found = [self.gazetteer.extract(tokens) for tokens in sentences]
        tagged: dict[str, Counter[str]] = {}  # a word's readings -> how often the gazetteer tagged it, by type
        for tokens, mentions in zip(sentences, found, strict=True):
            for m in mentions:
                for token in tokens[m.token_start : m.token_end]:
                    for reading in proclitic_readings(token.key):
                        tagged.setdefault(reading, Counter())[m.type] += 1
        return [self._context(tokens, mentions, tagged) for tokens, mentions in zip(sentences, found, strict=True)]

    def _context(
        self, tokens: Sequence[Token], mentions: Sequence[Mention], tagged: dict[str, Counter[str]]
    ) -> SentenceContext:
        keys = [t.key for t in tokens]
        n = len(tokens)
        lexicon = ["O"] * n  # longest gazetteer matches as B-X / I-X
        cue = [""] * n
        names = self.gazetteer.names.longest_each(keys)
        free = 0  # the first word after the last match: matches are read left to right, never overlapping
        for i in itertools.compress(range(n), names):
            if i >= free:
                length, _, entry = names[i]  # type: ignore[misc]
                lexicon[i] = f"B-{entry.type}"
                for k in range(i + 1, i + length):
                    lexicon[k] = f"I-{entry.type}"
                free = i + length
        cue_matches = self.gazetteer.cues.longest_each(keys)
        for i in itertools.compress(range(n), cue_matches):
            length, _, kind = cue_matches[i]  # type: ignore[misc]
            cue[i : i + length] = [kind] * length
        rules = ["O"] * n  # what the rule-based extractor says (stacking)
        for m in mentions:
            rules[m.token_start] = f"B-{m.type}"
            for k in range(m.token_start + 1, m.token_end):
                rules[k] = f"I-{m.type}"
        elsewhere: list[tuple[str, ...]] = [()] * n
        for i in positions_read_as(keys, tagged.keys()):  # most words: tagged nowhere
            own = rules[i][2:]  # this token's own tag is not "elsewhere"
            types = {
                type_
                for reading in proclitic_readings(keys[i])
                for type_, count in tagged.get(reading, {}).items()
                if count > (type_ == own)
            }
            elsewhere[i] = tuple(f"doc={type_}" for type_ in sorted(types))
        # Each token's window onto its neighbours' labels and cues; None where the window leaves the sentence.
        lex, rul, cues = [None, *lexicon, None], [None, *rules, None], [None, None, *cue, None, None]
        windows = list(
            zip(
                lex, lex[1:], lex[2:], rul, rul[1:], rul[2:], cues, cues[1:], cues[2:], cues[3:], cues[4:], strict=False
            )
        )
        return SentenceContext(keys, windows, elsewhere)

    @staticmethod
    @functools.lru_cache(maxsize=1 << 16)
    def positional(window: Window) -> tuple[str, ...]:
        """Features of a token from its window: gazetteer matches, rules and cues around it, sentence bounds."""
        lexicon_before, lexicon, lexicon_after, rule_before, rule, rule_after, *cues = window
        feats = [f"gz={lexicon}", f"rule={rule}"]
        if cues[2]:
            feats.append(f"cue={cues[2]}")
        for offset in _OFFSETS:
            cue = cues[2 + offset]
            if cue is None:
                feats.append(f"{offset}:BOS" if offset < 0 else f"{offset}:EOS")
                continue
            if cue:
                feats.append(f"{offset}:cue={cue}")
            if offset == -1:
                feats += [f"-1:gz={lexicon_before}", f"-1:rule={rule_before}"]
            elif offset == 1:
                feats += [f"1:gz={lexicon_after}", f"1:rule={rule_after}"]
        return tuple(feats)

    @staticmethod
    def bigram(previous_key: str, key: str) -> str:
        return f"{_BIGRAM}{previous_key}|{key}"

    def document(self, sentences: Sequence[Sequence[Token]]) -> list[list[list[str]]]:
        """Features of a document's sentences (what crfsuite learns from)."""
        return [self.sentence(t, c) for t, c in zip(sentences, self.contexts(sentences), strict=True)]

    def sentence(self, tokens: Sequence[Token], context: SentenceContext) -> list[list[str]]:
        """Features of one sentence's tokens: the word's own, its neighbours', its window's, the bigram and
        the word's tags elsewhere in the document."""
        n = len(tokens)
        words = [self.word(t.surface) for t in tokens]
        out = []
        for i in range(n):
            feats = ["bias", *words[i][0]]
            for offset in _OFFSETS:
                if 0 <= i + offset < n:
                    feats.extend(words[i + offset][1][offset])
            feats += self.positional(context.windows[i])
            if i > 0:
                feats.append(self.bigram(context.keys[i - 1], context.keys[i]))
            feats += context.elsewhere[i]
            out.append(feats)
        return out


# (gz, rule) of the token before, the token, the token after; then the cues at offsets -2..2.
Window = tuple[str | None, ...]


class SentenceContext(NamedTuple):
    keys: list[str]
    windows: list[Window]
    elsewhere: list[tuple[str, ...]]  # per token: `doc=TYPE` for each type the gazetteer gave its word elsewhere


def train(
    gold: Sequence[LabelledSentence],
    out: str | Path,
    *,
    unlabelled: Iterable[Sequence[str]] = (),
    c1: float = 0.1,
    c2: float = 0.01,
    max_iterations: int = 150,
    clusters: dict[str, tuple[int, ...]] | None = None,
) -> TrainingReport:
    """Learn word clusters (gold words plus unlabelled sentences) unless given, train the CRF, write one model file."""
    started = time.perf_counter()
    unlabelled = [list(s) for s in unlabelled]
    keyed = keyed_sentences(gold, unlabelled)
    counts = Counter(w for s in keyed for w in s)
    if clusters is None:
        clusters = learn_clusters(keyed)
    featurizer = Featurizer(GazetteerExtractor.from_resources(), clusters)
    trainer = pycrfsuite.Trainer(verbose=False)
    for sentence, (_, features) in zip(gold, gold_features(featurizer, gold), strict=True):
        trainer.append(features, list(sentence.labels))
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


def gold_features(
    featurizer: Featurizer, gold: Sequence[LabelledSentence]
) -> list[tuple[list[Token], list[list[str]]]]:
    """Each gold sentence's tokens and features, its document being DOCUMENT_SENTENCES consecutive sentences."""
    out: list[tuple[list[Token], list[list[str]]]] = []
    for document in documents(gold):
        sentences = [tokens_of_sentences([s.words])[1] for s in document]
        out += zip(sentences, featurizer.document(sentences), strict=True)
    return out


def keyed_sentences(gold: Sequence[LabelledSentence], unlabelled: Sequence[Sequence[str]]) -> list[list[str]]:
    """The match keys of the gold and unlabelled sentences' words: what word clusters and vectors learn from."""
    return [[match_key(w) for w in s.words] for s in gold] + [[match_key(w) for w in s] for s in unlabelled]


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


def bigram_rows(attributes: dict[str, int]) -> dict[tuple[str, str], int]:
    """The model's word bigram attributes by (previous key, key), so that a lookup makes no string: the pair
    (a, b) finds the row of Featurizer.bigram(a, b). A key may hold "|": every split of the string is kept."""
    rows: dict[tuple[str, str], int] = {}
    for attribute, row in attributes.items():
        if attribute.startswith(_BIGRAM):
            pair = attribute[len(_BIGRAM) :]
            for at, c in enumerate(pair):
                if c == "|":
                    rows[pair[:at], pair[at + 1 :]] = row
    return rows


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
        self.featurizer = Featurizer(packaged_gazetteer(), {w: tuple(v[1:]) for w, v in vocabulary.items()})
        try:
            self.chain = LinearChain.from_crfsuite(model_bytes)
        except ChainModelError as exc:
            raise ModelFileError(f"{path} is not a khabar CRF model ({exc})") from None
        n_labels = len(self.chain.labels)
        attributes = self.chain.attributes
        # What a word's neighbour at each offset sees of it, without the offset's prefix ("-1:w=X" as "w=X"):
        # the rows crfsuite's strings would find, without making the strings.
        self._seen_by = [
            {a[len(f"{o}:") :]: r for a, r in attributes.items() if a.startswith(f"{o}:")} for o in _OFFSETS
        ]
        self._bigrams = bigram_rows(attributes)
        self._words = ScoreTable(self._scores_of_words, (1 + len(_OFFSETS), n_labels), capacity=1 << 18)
        self._windows: ScoreTable[Window] = ScoreTable(
            lambda windows: self.chain.totals([self.featurizer.positional(w) for w in windows]),
            (n_labels,),
            capacity=1 << 16,
        )
        self._elsewhere: ScoreTable[tuple[str, ...]] = ScoreTable(self.chain.totals, (n_labels,), capacity=1 << 8)

    def _scores_of_words(self, surfaces: list[str]) -> np.ndarray:
        """(words, 1 + offsets, labels): what each word adds to its own token's scores, then to each neighbour's."""
        groups = 1 + len(_OFFSETS)
        own_names: list[str] = []  # every word's own features, then every word's features its neighbours see
        own_groups: list[int] = []
        seen_names: list[str] = []
        seen_words: list[int] = []
        for w, surface in enumerate(surfaces):
            own, seen = self.featurizer.word_parts(surface)
            own_names += ("bias", *own)
            own_groups += [w * groups] * (1 + len(own))
            seen_names += seen
            seen_words += [w * groups] * len(seen)
        parts = [(self.chain.attributes, own_names, own_groups)]
        parts += [(seen_by, seen_names, [g + k for g in seen_words]) for k, seen_by in enumerate(self._seen_by, 1)]
        return self.chain.found_totals(parts, len(surfaces) * groups).reshape(len(surfaces), groups, -1)

    def state_scores(self, tokens: Sequence[Token], context: SentenceContext) -> np.ndarray:
        """The (tokens, labels) scores crfsuite would give featurizer.sentence(tokens, context), word sums
        cached; `context`: the sentence's, from featurizer.contexts over its document."""
        return self._scores([tokens], [context])[0]

    def document_scores(
        self, sentences: Sequence[Sequence[Token]], found: Sequence[Sequence[Mention]] | None = None
    ) -> list[np.ndarray]:
        """state_scores of each sentence of one document (`found`: each one's gazetteer mentions, if known)."""
        contexts = self.featurizer.contexts(sentences, found)
        out: list[np.ndarray] = []
        start = 0
        while start < len(sentences):  # sentences side by side, in chunks: one array step per chunk, not sentence
            end, n = start, 0
            while end < len(sentences) and (end == start or n + len(sentences[end]) <= _CHUNK_TOKENS):
                n += len(sentences[end])
                end += 1
            out += self._scores(sentences[start:end], contexts[start:end])
            start = end
        return out

    def _scores(self, sentences: Sequence[Sequence[Token]], contexts: Sequence[SentenceContext]) -> list[np.ndarray]:
        """state_scores of sentences scored side by side: a word's neighbours stop at its sentence's ends."""
        lengths = np.array([len(t) for t in sentences], dtype=np.intp)
        ends = np.cumsum(lengths)
        position = np.arange(int(ends[-1])) - np.repeat(ends - lengths, lengths)  # each token's, in its sentence
        room = np.repeat(lengths, lengths) - position  # tokens from each token to its sentence's end, itself included
        words = self._words.rows([t.surface for tokens in sentences for t in tokens])
        scores = words[:, 0].copy()
        for k, offset in enumerate(_OFFSETS, start=1):
            seeing = np.flatnonzero(position >= -offset if offset < 0 else room > offset)
            scores[seeing] += words[seeing + offset, k]
        scores += self._windows.rows([w for c in contexts for w in c.windows])
        scores += self._elsewhere.rows([e for c in contexts for e in c.elsewhere])
        keys = [k for c in contexts for k in c.keys]
        pairs = enumerate(map(self._bigrams.get, itertools.pairwise(keys)), start=1)  # (token, its bigram's row)
        known = [(i, row) for i, row in pairs if row is not None and position[i]]  # not across sentences
        if known:
            at, rows = zip(*known, strict=True)
            scores[list(at)] += self.chain.state[list(rows)]
        return np.split(scores, ends[:-1])

    def document_sentences(
        self, tokens: Sequence[Token]
    ) -> tuple[list[tuple[int, int]], list[Sequence[Token]], list[list[Mention]]]:
        """A document's sentence bounds, its sentences and their gazetteer mentions, from one gazetteer pass over
        the document that the rulings over this backend (tasks.entities.rulings) then reuse."""
        bounds = list(sentence_ranges(tokens))
        found = self.featurizer.gazetteer.sentence_mentions(tokens, bounds)
        return bounds, [tokens[a:b] for a, b in bounds], found

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        if not tokens:
            return []
        bounds, sentences, found = self.document_sentences(tokens)
        return self.mentions(tokens, bounds, self.chain.viterbi(self.document_scores(sentences, found)))

    decodes_together = True

    def extract_many(self, documents: Sequence[Sequence[Token]]) -> list[list[Mention]]:
        """extract() of each document, their sentences decoded in one Viterbi pass: a pass costs a few array
        operations per token of its longest sentence, whatever the number of sentences side by side."""
        read = [self.document_sentences(tokens) for tokens in documents]
        scores = [self.document_scores(sentences, found) for _, sentences, found in read]
        labelled = iter(self.chain.viterbi([s for document in scores for s in document]))
        return [
            self.mentions(tokens, bounds, list(itertools.islice(labelled, len(bounds))))
            for tokens, (bounds, _, _) in zip(documents, read, strict=True)
        ]

    def mentions(
        self, tokens: Sequence[Token], bounds: Sequence[tuple[int, int]], labelled: Sequence[Sequence[str]]
    ) -> list[Mention]:
        """A document's mentions from its sentences' labels (sentence i is tokens[bounds[i][0]:bounds[i][1]])."""
        mentions: list[Mention] = []
        for (start, _), labels in zip(bounds, labelled, strict=True):
            for type_, a, b in spans_from_labels(labels):
                keys = [t.key for t in tokens[start + a : start + b]]
                mentions.append(Mention(type_, start + a, start + b, self.canonical(keys)))
        return mentions

    def canonical(self, keys: list[str]) -> str:
        """A gazetteer name's canonical key, else the words with the likeliest proclitic reading of the first."""
        found = self.featurizer.gazetteer.names.longest_at(keys, 0, len(keys))
        if found and found[0] == len(keys):
            return found[2].canonical_key
        first = max(proclitic_readings(keys[0]), key=lambda r: self.counts.get(r, 0))
        return canonical_key([first, *keys[1:]])
