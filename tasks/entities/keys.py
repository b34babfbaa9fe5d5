"""Canonical keys of entity names: proclitics (و ف ب ل ك) and the article handled on normalized keys."""

from __future__ import annotations

import functools

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


def phrase_key(phrase: str) -> tuple[str, ...]:
    """Keys of the words of a written phrase, tokenized the way documents are."""
    from tasks.segment import Span, tokenize

    return tuple(token.key for token in tokenize(phrase, [Span(0, len(phrase))]))


def canonical_key(keys: tuple[str, ...] | list[str]) -> str:
    """The canonical key of a multi-word name: its word keys joined by single spaces."""
    return " ".join(keys)


__all__ = ["canonical_key", "match_key", "phrase_key", "proclitic_readings"]
