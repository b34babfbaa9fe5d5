"""Entity-level scores of an extractor against gold IOB2 sentences, computed by seqeval (strict IOB2)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from tasks.entities import EntityExtractor
from tasks.entities.bio import (
    DOCUMENT_SENTENCES,
    LabelledSentence,
    documents,
    labels_from_mentions,
    tokens_of_sentences,
)


@dataclass
class Scores:
    backend: str
    micro: dict[str, float]
    per_type: dict[str, dict[str, float]]
    n_sentences: int
    n_tokens: int
    seconds: float
    predicted: list[list[str]] = field(default_factory=list, repr=False)

    def as_json(self) -> dict:
        return {
            "backend": self.backend,
            "micro": self.micro,
            "per_type": self.per_type,
            "n_sentences": self.n_sentences,
            "n_tokens": self.n_tokens,
            "seconds": round(self.seconds, 3),
        }


def predict_labels(
    extractor: EntityExtractor, sentences: Sequence[Sequence[str]], document_sentences: int = DOCUMENT_SENTENCES
) -> list[list[str]]:
    """IOB2 labels per sentence for the given words (tokens as given, not re-tokenized), each
    `document_sentences` consecutive sentences tagged as one document."""
    predicted: list[list[str]] = []
    for chunk in documents(sentences, document_sentences):
        _, tokens = tokens_of_sentences(chunk)
        mentions = extractor.extract(tokens)
        offset = 0
        by_sentence: list[list] = [[] for _ in chunk]
        for m in mentions:
            by_sentence[tokens[m.token_start].sentence_idx].append(m)
        for words, ms in zip(chunk, by_sentence, strict=True):
            predicted.append(labels_from_mentions(len(words), ms, offset))
            offset += len(words)
    return predicted


def evaluate(
    extractor: EntityExtractor, gold: Sequence[LabelledSentence], document_sentences: int = DOCUMENT_SENTENCES
) -> Scores:
    """Tag the gold words (`document_sentences` at a time as one document) and score entity spans per type
    and micro-averaged (strict IOB2)."""
    started = time.perf_counter()
    predicted = predict_labels(extractor, [s.words for s in gold], document_sentences)
    seconds = time.perf_counter() - started
    truth = [list(s.labels) for s in gold]
    report = classification_report(truth, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    keep = ("precision", "recall", "f1-score", "support")

    def scores(row: dict) -> dict[str, float]:
        return {
            ("f1" if k == "f1-score" else k): (int(row[k]) if k == "support" else round(float(row[k]), 4)) for k in keep
        }

    per_type = {k: scores(v) for k, v in report.items() if not k.endswith(" avg")}
    return Scores(
        backend=f"{extractor.name} {extractor.version}",
        micro=scores(report["micro avg"]),
        per_type=per_type,
        n_sentences=len(gold),
        n_tokens=sum(len(s.words) for s in gold),
        seconds=seconds,
        predicted=predicted,
    )
