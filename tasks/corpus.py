"""Unlabelled sentences from a folder of raw articles, decoded, cleaned and tokenized as documents are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tasks.clean import clean_text
from tasks.decode import decode_bytes
from tasks.quarantine import QuarantineError
from tasks.segment import split_sentences, tokenize


def unlabelled_sentences(folder: str | Path) -> Iterator[list[str]]:
    """Token surfaces of every sentence of every readable *.txt under folder, in path order."""
    for path in sorted(Path(folder).rglob("*.txt")):
        try:
            text = clean_text(decode_bytes(path.read_bytes()).text)
        except (QuarantineError, OSError):
            continue
        sentence: list[str] = []
        current = None
        for token in tokenize(text, split_sentences(text)):
            if token.sentence_idx != current and sentence:
                yield sentence
                sentence = []
            current = token.sentence_idx
            sentence.append(token.surface)
        if sentence:
            yield sentence
