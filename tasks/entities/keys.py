"""Canonical keys of entity names: proclitics (و ف ب ل ك) and the article handled on normalized keys."""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet

from tasks.segment import match_key

_CONJUNCTIONS = ("", "و", "ف")
_PREPOSITIONS = ("ب", "ل", "ك")
_MIN_STEM = 3  # a two-letter stem makes common words names: بين ("between") -> ب + ين (the yen)


@functools.lru_cache(maxsize=1 << 18)
def proclitic_readings(key: str) -> tuple[str, ...]:
    """Possible stems of a word key once proclitics are removed, the literal reading first.

    وروسيا -> [وروسيا, روسيا]; للامم -> [للامم, لامم, الامم]; وبالرياض -> [..., الرياض].
    Callers keep only a reading that is a known word, so stripping never invents a name.
    """
    readings = [key]
    for conjunction in _CONJUNCTIONS:
        if not key.startswith(conjunction):
            continue
        rest = key[len(conjunction) :]
        if conjunction and len(rest) >= _MIN_STEM:
            readings.append(rest)
        for preposition in _PREPOSITIONS:
            if rest.startswith(preposition) and len(rest) - 1 >= _MIN_STEM:
                stem = rest[1:]
                readings.append(stem)
                if preposition == "ل" and stem.startswith("ل"):
                    readings.append("ا" + stem)  # لل = ل + ال with the alef dropped: للامم -> الامم
    return tuple(dict.fromkeys(readings))


def positions_read_as(keys: Sequence[str], known: AbstractSet[str]) -> Iterator[int]:
    """The indexes of the keys one of whose proclitic readings (the key itself included) is in `known`, in
    order; looked up in C, as most words of a document have none."""
    unknown = map(known.isdisjoint, map(proclitic_readings, keys))
    return itertools.compress(range(len(keys)), map(operator.not_, unknown))


def phrase_key(phrase: str) -> tuple[str, ...]:
    """Keys of the words of a written phrase, tokenized the way documents are."""
    from tasks.segment import Span, tokenize

    return tuple(token.key for token in tokenize(phrase, [Span(0, len(phrase))]))


def canonical_key(keys: tuple[str, ...] | list[str]) -> str:
    """The canonical key of a multi-word name: its word keys joined by single spaces."""
    return " ".join(keys)


def display_name(surface: str, key: str) -> str:
    """A mention as written, without the proclitics its canonical key left out.

    وروسيا -> روسيا, وبالرياض -> الرياض, للأمم المتحدة -> الأمم المتحدة (لل is ل + ال); spelling,
    hamza and teh marbuta stay as written (السعودية, not the key's السعوديه). Where the key is another
    name than the one written (an alias: والمملكة العربية السعودية under السعوديه), a proclitic is
    dropped only before the article.
    """
    words = surface.split(maxsplit=1)  # a mention starts with a word: its first token, or more of it
    if not words:
        return surface
    first_key = match_key(words[0])
    readings = proclitic_readings(first_key)
    stem = key.split(" ", 1)[0]
    reading = stem if stem in readings else next((r for r in readings[1:] if r.startswith("ال")), first_key)
    if reading == first_key:
        return surface
    if first_key.endswith(reading):
        restored, dropped = "", len(first_key) - len(reading)
    else:  # لل: the article's alef was dropped after ل
        restored, dropped = "ا", len(first_key) - len(reading) + 1
    return restored + surface[_chars_for_key_length(surface, dropped) :]


def _chars_for_key_length(surface: str, n: int) -> int:
    """How many leading characters of surface make the first n characters of its key, with their diacritics."""
    i, covered = 0, 0
    while i < len(surface) and covered < n:
        covered += len(match_key(surface[i]))
        i += 1
    while i < len(surface) and not match_key(surface[i]):  # a diacritic on the last proclitic
        i += 1
    return i


__all__ = ["canonical_key", "display_name", "match_key", "phrase_key", "positions_read_as", "proclitic_readings"]
