"""Sentences and tokens of a cleaned text, each with [start, end) code-point offsets into it."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from camel_tools.tokenizers.word import simple_word_tokenize
from camel_tools.utils.dediac import dediac_ar
from camel_tools.utils.normalize import (
    normalize_alef_ar,
    normalize_alef_maksura_ar,
    normalize_teh_marbuta_ar,
)

# Sentence ends: terminal punctuation (and closing quotes or brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?؟…۔]+[\"'”’»)\]]*(?=\s)")
_LETTER = re.compile(r"[^\W\d_]")
MAX_SENTENCE_CHARS = 2000
_NUMBER_JOINERS = frozenset(".,\u066b\u066c")  # period, comma, Arabic decimal and thousands separators
_DIGITS_TO_ASCII = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Token:
    idx: int
    sentence_idx: int
    start: int
    end: int
    surface: str
    key: str


def split_sentences(text: str) -> list[Span]:
    """Sentence spans: every line break ends a sentence, and so does terminal punctuation before a space."""
    spans: list[Span] = []
    line_start = 0
    for line in text.split("\n"):
        start = 0
        for match in _SENTENCE_END.finditer(line):
            if match.group() == "." and _is_abbreviation(line, match.start()):
                continue
            _append_trimmed(spans, line, line_start, start, match.end())
            start = match.end()
        _append_trimmed(spans, line, line_start, start, len(line))
        line_start += len(line) + 1
    return spans


def _is_abbreviation(line: str, period: int) -> bool:
    """A single letter before a period is an abbreviation (د. for doctor, أ. for professor, U.S.).

    Looks at the two characters before the period only, so splitting stays linear in the line.
    """
    if period < 1 or not _LETTER.fullmatch(line[period - 1]):
        return False
    return period < 2 or line[period - 2].isspace() or line[period - 2] == "."


def _append_trimmed(spans: list[Span], line: str, offset: int, start: int, end: int) -> None:
    """Add line[start:end] without its surrounding whitespace; cut runs longer than MAX_SENTENCE_CHARS.

    Text without punctuation (a scraped page on one line) would otherwise be one sentence of
    millions of tokens, which the CRF and BERT backends hold in memory at once.
    """
    while start < end:
        while start < end and line[start].isspace():
            start += 1
        stop = end
        if stop - start > MAX_SENTENCE_CHARS:
            cut = line.rfind(" ", start + 1, start + MAX_SENTENCE_CHARS)
            stop = cut if cut > start else start + MAX_SENTENCE_CHARS
        last = stop
        while last > start and line[last - 1].isspace():
            last -= 1
        if last > start:
            spans.append(Span(offset + start, offset + last))
        start = stop


def tokenize(text: str, sentences: list[Span]) -> list[Token]:
    """camel-tools word tokens of each sentence, with offsets; decimals such as 1.3 or ٣٫٥ stay one token."""
    tokens: list[Token] = []
    for sentence_idx, sentence in enumerate(sentences):
        for start, end in _token_spans(text, sentence):
            surface = text[start:end]
            tokens.append(Token(len(tokens), sentence_idx, start, end, surface, match_key(surface)))
    return tokens


def _token_spans(text: str, sentence: Span) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = sentence.start
    for token in simple_word_tokenize(text[sentence.start : sentence.end]):
        start = text.index(token, cursor)
        cursor = start + len(token)
        spans.append((start, cursor))
        # simple_word_tokenize splits 1.3 into 1 . 3: join digits, a joiner and digits that touch.
        if (
            len(spans) >= 3
            and spans[-2][1] - spans[-2][0] == 1
            and text[spans[-2][0]] in _NUMBER_JOINERS
            and spans[-3][1] == spans[-2][0]
            and spans[-2][1] == start
            and text[spans[-3][1] - 1].isdecimal()
            and text[start].isdecimal()
        ):
            spans[-3:] = [(spans[-3][0], cursor)]
    return spans


@functools.lru_cache(maxsize=1 << 18)  # news vocabulary repeats: most calls are hits
def match_key(surface: str) -> str:
    """Matching key of a word: no diacritics; alef, alef maksura and teh marbuta normalized; ASCII digits."""
    key = dediac_ar(surface)
    key = normalize_teh_marbuta_ar(normalize_alef_maksura_ar(normalize_alef_ar(key)))
    return key.translate(_DIGITS_TO_ASCII).casefold()
