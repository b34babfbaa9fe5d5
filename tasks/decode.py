"""Raw bytes to text: byte-order marks, strict UTF-8, Arabic legacy code pages, then detection."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from tasks.quarantine import BINARY_CONTENT, EMPTY_TEXT, UNDECODABLE, QuarantineError

_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Signatures of binary formats that turn up under a .txt name.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\x7fELF", "ELF executable"),
)

_ARABIC_LEGACY = ("cp1256", "iso8859-6")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a\u0671-\u06d3]")
_LETTER = re.compile(r"[^\W\d_]")
_COMMON_WORDS = frozenset(
    ["في", "من", "على", "إلى", "أن", "عن", "مع", "التي", "الذي", "هذا", "هذه", "كان", "قال", "بعد"]
)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str


def decode_bytes(data: bytes) -> Decoded:
    """Decode one file's bytes, or raise QuarantineError(empty_text | binary_content | undecodable)."""
    decoded = _decode(data)
    if not decoded.text.strip():
        raise QuarantineError(EMPTY_TEXT, "the file holds no text")
    return decoded


def _decode(data: bytes) -> Decoded:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data[len(bom) :].decode(encoding.removesuffix("-sig")), encoding)
            except UnicodeDecodeError as exc:
                raise QuarantineError(UNDECODABLE, f"{encoding} byte-order mark but {exc.reason}") from None
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise QuarantineError(BINARY_CONTENT, f"looks like a {kind}")
    if b"\x00" in data:
        utf16 = _utf16_without_bom(data)
        if utf16 is not None:
            return utf16
        raise QuarantineError(BINARY_CONTENT, "NUL bytes in a text file")
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    legacy = _best_arabic_legacy(data)
    if legacy is not None:
        return legacy
    match = from_bytes(data).best()
    if match is None:
        raise QuarantineError(UNDECODABLE, "no encoding decodes the bytes as text")
    return Decoded(str(match), codecs.lookup(match.encoding).name)


def arabic_score(text: str) -> float:
    """How much a decoding looks like Arabic prose: Arabic share of letters plus common-word hits."""
    letters = len(_LETTER.findall(text))
    if not letters:
        return 0.0
    arabic = len(_ARABIC_LETTER.findall(text)) / letters
    words = text.split()
    common = sum(w in _COMMON_WORDS or w.startswith("ال") for w in words) / max(len(words), 1)
    controls = sum(0x80 <= ord(c) <= 0x9F for c in text)
    return arabic + common - 10 * controls / len(text)


def _best_arabic_legacy(data: bytes) -> Decoded | None:
    scored = []
    for encoding in _ARABIC_LEGACY:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        scored.append((arabic_score(text), encoding, text))
    if not scored:
        return None
    score, encoding, text = max(scored)
    return Decoded(text, encoding) if score >= 0.6 else None


def _utf16_without_bom(data: bytes) -> Decoded | None:
    """UTF-16 without a mark: NULs fill one byte of most ASCII code units (and Arabic is 0x06XX)."""
    if len(data) % 2:
        return None
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text and arabic_score(text) >= 0.6:
            return Decoded(text, encoding)
    return None
