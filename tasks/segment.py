"""Sentences and tokens of a cleaned text, each with [start, end) code-point offsets into it."""

from __future__ import annotations

import itertools
import operator
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tasks.charsets import ALEF_FORMS, AR_DIACRITICS, SPLIT_SYMBOLS_CLASS, regex_class

# Sentence ends: terminal punctuation (and closing quotes or brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?؟…۔]+[\"'”’»)\]]*(?=\s)")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"\S+")  # str.split()'s words: \s and str.isspace() agree
MAX_SENTENCE_CHARS = 2000
_NUMBER_JOINERS = frozenset(".,\u066b\u066c")  # period, comma, Arabic decimal and thousands separators

# camel-tools splits a word at every match of its symbol pattern that is in its symbol set. A match
# is longer than one character only with an emoji modifier (U+1F3FB-1F3FF), a variation selector
# U+FE0F, the keycap U+20E3, a zero-width joiner, tag characters (U+E0020-E007F) or regional
# indicators (U+1F1E6-1F1FF, flags). Text without those (nearly all news) splits at single symbol
# characters, which one regular expression finds, decimals joined in the same pass. The expression
# holds the Basic Multilingual Plane's symbols only (with a character outside it, Python's re
# scans a list of ranges per character, seven times slower), so text beyond the BMP (emoji) and
# text with sequence parts take camel-tools' way, by word (and import camel-tools' tokenizer then).
_SEQUENCE_PARTS = re.compile("[\ufe0f\u20e3\u200d]")
_SPLIT = SPLIT_SYMBOLS_CLASS
_JOINERS = regex_class(ord(c) for c in _NUMBER_JOINERS)
_SIMPLE_TOKEN = re.compile(rf"[{_SPLIT}]|[^\s{_SPLIT}]+(?:(?<=\d)[{_JOINERS}](?=\d)[^\s{_SPLIT}]+)*")
# camel-tools' dediac_ar, normalize_alef_ar, normalize_alef_maksura_ar and normalize_teh_marbuta_ar,
# then digits as ASCII: one table (the mapped characters are disjoint, so the order does not matter).
_KEY_TABLE = str.maketrans(
    {
        **dict.fromkeys(map(ord, AR_DIACRITICS)),
        **dict.fromkeys(map(ord, ALEF_FORMS), "\u0627"),
        ord("\u0649"): "\u064a",
        ord("\u0629"): "\u0647",
        **{ord(d): str(i % 10) for i, d in enumerate("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹")},
    }
)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


class Token(NamedTuple):
    """A word token; a named tuple because a shard makes millions of them (a third of a frozen dataclass's cost)."""

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
    spans: list[tuple[int, int]] = []
    sentence_of: list[int] = []
    simple = _SEQUENCE_PARTS.search(text) is None and (not text or max(text) <= "\uffff")
    for sentence_idx, sentence in enumerate(sentences):
        before = len(spans)
        if simple:  # the hot path: one regular-expression match per token
            spans.extend([m.span() for m in _SIMPLE_TOKEN.finditer(text, sentence.start, sentence.end)])
        else:
            spans.extend(_token_spans(text, sentence))
        sentence_of.extend(itertools.repeat(sentence_idx, len(spans) - before))
    # Columns first, then tokens made by map() and zip(): per token, no Python-level call at all.
    surfaces = [text[start:end] for start, end in spans]
    keys = list(map(_KEYS.get, surfaces))
    if None in keys:
        keys = [match_key(surface) if key is None else key for key, surface in zip(keys, surfaces, strict=True)]
    starts = [start for start, _ in spans]
    ends = [end for _, end in spans]
    rows = zip(range(len(spans)), sentence_of, starts, ends, surfaces, keys, strict=True)
    return list(map(tuple.__new__, itertools.repeat(Token), rows))


def _token_spans(text: str, sentence: Span) -> list[tuple[int, int]]:
    return _join_decimals(text, word_spans(text, sentence.start, sentence.end))


def word_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Offsets of camel-tools' simple_word_tokenize tokens of text[start:end], found in one pass.

    The same tokens as simple_word_tokenize(text[start:end]) (a golden test holds them equal), but
    camel-tools tries its symbol pattern at every character of every word and returns strings whose
    offsets must then be searched for; here the pattern is searched for once per word, from the
    word's offsets.
    """
    from camel_tools.tokenizers.word import _SYMBOLS_ALL, _SYMBOLS_RE  # its own definitions; slow to import

    spans: list[tuple[int, int]] = []
    for word in _WORD.finditer(text, start, end):
        cursor, piece, stop = word.start(), word.start(), word.end()
        while (symbol := _SYMBOLS_RE.search(text, cursor, stop)) is not None:
            first, last = symbol.span()
            if symbol.group() in _SYMBOLS_ALL:  # camel-tools splits only these off a word
                if first != piece:
                    spans.append((piece, first))
                spans.append((first, last))
                cursor = piece = last
            else:
                cursor = first + 1
        if piece < stop:
            spans.append((piece, stop))
    return spans


def _join_decimals(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """simple_word_tokenize splits 1.3 into 1 . 3: join digits, a joiner and digits that touch."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        joined.append((start, end))
        if (
            len(joined) >= 3
            and joined[-2][1] - joined[-2][0] == 1
            and text[joined[-2][0]] in _NUMBER_JOINERS
            and joined[-3][1] == joined[-2][0]
            and joined[-2][1] == start
            and text[joined[-3][1] - 1].isdecimal()
            and text[start].isdecimal()
        ):
            joined[-3:] = [(joined[-3][0], end)]
    return joined


_KEYS: dict[str, str] = {}  # news vocabulary repeats: most words were seen before
_MAX_KEYS = 1 << 19


_SENTENCE_IDX = operator.attrgetter("sentence_idx")


def sentence_ranges(tokens: Sequence[Token]) -> Iterator[tuple[int, int]]:
    """[start, end) of each sentence's tokens in a document's tokens: sentence numbers only grow,
    so counting them is enough."""
    ends = list(itertools.accumulate(Counter(map(_SENTENCE_IDX, tokens)).values()))
    return zip([0, *ends[:-1]], ends, strict=True) if ends else iter(())


def fold(text: str) -> str:
    """Text without diacritics; alef, alef maksura and teh marbuta normalized; digits as ASCII; case folded."""
    return text.translate(_KEY_TABLE).casefold()


def match_key(surface: str) -> str:
    """Matching key of a word (fold), remembered: news vocabulary repeats."""
    key = _KEYS.get(surface)
    if key is None:
        key = fold(surface)
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[surface] = key
    return key
