"""IOB2 labels <-> mentions over tokens, and CoNLL files (one `TOKEN TAG` per line, blank line between sentences)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tasks.entities import Mention
from tasks.segment import Token, match_key

OUTSIDE = "O"
# A CoNLL corpus has no document bounds: this many consecutive sentences are read as one document, when a
# model learns its document features and when `evaluate` tags (about a dozen ANERcorp articles).
DOCUMENT_SENTENCES = 200
S = TypeVar("S")


@dataclass(frozen=True)
class LabelledSentence:
    words: tuple[str, ...]
    labels: tuple[str, ...]


class ConllFormatError(ValueError):
    pass


def read_conll(path: str | Path) -> list[LabelledSentence]:
    """Sentences of a CoNLL/IOB2 file: the first column is the word, the last the tag."""
    sentences: list[LabelledSentence] = []
    words: list[str] = []
    labels: list[str] = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            cells = line.split()
            if not cells:
                if words:
                    sentences.append(LabelledSentence(tuple(words), tuple(labels)))
                    words, labels = [], []
                continue
            if len(cells) < 2:
                raise ConllFormatError(f"{path}:{number}: expected `TOKEN TAG`, got {line.strip()!r}")
            tag = cells[-1]
            if tag != OUTSIDE and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
                raise ConllFormatError(f"{path}:{number}: {tag!r} is not an IOB2 tag (O, B-X or I-X)")
            words.append(cells[0])
            labels.append(tag)
    if words:
        sentences.append(LabelledSentence(tuple(words), tuple(labels)))
    return sentences


def documents(sentences: Sequence[S], size: int = DOCUMENT_SENTENCES) -> Iterator[Sequence[S]]:
    """A corpus's sentences as documents of `size` consecutive sentences."""
    for at in range(0, len(sentences), size):
        yield sentences[at : at + size]


def tokens_of_sentences(sentences: Sequence[Sequence[str]]) -> tuple[str, list[Token]]:
    """Given words, a text (words joined by spaces, sentences by newlines) and its tokens."""
    tokens: list[Token] = []
    lines: list[str] = []
    offset = 0
    for sentence_idx, words in enumerate(sentences):
        for word in words:
            tokens.append(Token(len(tokens), sentence_idx, offset, offset + len(word), word, match_key(word)))
            offset += len(word) + 1
        lines.append(" ".join(words))
        offset += 0 if words else 1  # an empty sentence is an empty line
    return "\n".join(lines), tokens


def labels_from_mentions(n_tokens: int, mentions: Sequence[Mention], offset: int = 0) -> list[str]:
    """IOB2 labels for tokens [offset, offset + n_tokens) from mentions over document token indexes."""
    labels = [OUTSIDE] * n_tokens
    for m in mentions:
        start, end = m.token_start - offset, m.token_end - offset
        if 0 <= start < end <= n_tokens:
            labels[start] = f"B-{m.type}"
            for i in range(start + 1, end):
                labels[i] = f"I-{m.type}"
    return labels


def spans_from_labels(labels: Sequence[str]) -> Iterator[tuple[str, int, int]]:
    """(type, start, end) spans of IOB2 labels; a stray I-X starts a span, as seqeval's lenient mode reads it."""
    if labels.count(OUTSIDE) == len(labels):  # most sentences
        return
    start, current = None, None
    for i, label in enumerate([*labels, OUTSIDE]):
        kind = label[2:] if label != OUTSIDE else None
        begins = label.startswith("B-") or (label.startswith("I-") and kind != current)
        if current is not None and (label == OUTSIDE or begins):
            yield current, start, i  # type: ignore[misc]
            current = None
        if begins:
            start, current = i, kind
    return
