"""Text cleaning: the cleaned string becomes documents.text, which every offset points into."""

from __future__ import annotations

import re
import unicodedata

from camel_tools.utils.normalize import normalize_unicode

TATWEEL = "\u0640"

# Format characters (Unicode category Cf: bidi marks, zero-width chars, BOM, soft hyphen, ...),
# tatweel, and control characters other than tab, newline and carriage return.
_DROP = re.compile(
    "["
    + "".join(
        re.escape(chr(c))
        for c in range(0x110000)
        if (unicodedata.category(chr(c)) == "Cf" or (unicodedata.category(chr(c)) == "Cc" and chr(c) not in "\t\n\r"))
    )
    + TATWEEL
    + "]+"
)
_CAMEL_FIXES = frozenset("\ufdfc\ufdfd")
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
    """camel-tools normalize_unicode (NFKC plus ﷼ and ﷽ spelled out), skipped when it would change nothing."""
    if unicodedata.is_normalized("NFKC", text) and not _CAMEL_FIXES.intersection(text):
        return text  # most news text: is_normalized is a fast C check, the camel char mapper is a Python loop
    return normalize_unicode(text)
