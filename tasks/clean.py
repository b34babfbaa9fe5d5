"""Text cleaning: the cleaned string becomes documents.text, which every offset points into."""

from __future__ import annotations

import re
import unicodedata

from tasks.charsets import DROPPED_CLASS

_DROP = re.compile(f"[{DROPPED_CLASS}]+")  # format and control characters, tatweel
_CAMEL_FIX_SPELLINGS = {"\ufdfc": "ريال", "\ufdfd": "بسم الله الرحمن الرحيم"}  # camel-tools' _UNICODE_CHAR_FIX
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85]")


def clean_text(text: str) -> str:
    """Drop invisible and control characters and tatweel, fold presentation forms (NFKC), unify newlines.

    Idempotent: clean_text(clean_text(t)) == clean_text(t).
    """
    previous = None
    # Dropping a mark can bring a letter and a combining mark together, which NFKC then
    # composes, and NFKC can yield tatweel (U+FE71 -> tatweel + fathatan): repeat to a fixed point.
    while text != previous:
        previous = text
        text = _fold(_DROP.sub("", _NEWLINES.sub("\n", text)))
    return text


def _fold(text: str) -> str:
    """camel-tools normalize_unicode: NFKC after spelling out ﷼ and ﷽, which NFKC leaves alone.

    The same result (a test holds them equal), but camel-tools spells them out with a Python loop
    over every character; str.replace and unicodedata do it in C.
    """
    if any(char in text for char in _CAMEL_FIX_SPELLINGS):
        for char, spelled in _CAMEL_FIX_SPELLINGS.items():
            text = text.replace(char, spelled)
    elif unicodedata.is_normalized("NFKC", text):
        return text  # most news text
    return unicodedata.normalize("NFKC", text)
