"""Raw bytes to text: byte-order marks, strict UTF-8, repairable UTF-8, then charset-normalizer with Arabic checks."""

from __future__ import annotations

import codecs
import re
import unicodedata
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
    (b"\xd0\xcf\x11\xe0", "Office document"),
)

_ARABIC_CODE_PAGES = ("cp1256", "iso8859-6")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a\u0671-\u06d3]")
_LETTER = re.compile(r"[^\W\d_]")
_COMMON_WORDS = frozenset(
    ["في", "من", "على", "إلى", "أن", "عن", "مع", "التي", "الذي", "هذا", "هذه", "كان", "قال", "بعد"]
)
_ARABIC_ENOUGH = 0.6
_REPAIRABLE = 0.01  # at most this share of bad bytes (invalid UTF-8, stray NULs) is repaired
# C0 control bytes other than NUL, tab, newline, form feed and carriage return: text has almost none.
_BINARY_CONTROLS = bytes(sorted(set(range(1, 32)) - {9, 10, 12, 13} | {0x7F}))
_BINARY_SHARE = 0.05

# Repair codes, as written to documents.repairs.
DROPPED_INVALID_UTF8 = "dropped_invalid_utf8"
DROPPED_NUL_BYTES = "dropped_nul_bytes"
ENCODING_GUESSED = "encoding_guessed"  # no BOM, not UTF-8, no clear Arabic reading: a statistical guess
_WESTERN_ENOUGH = 0.5  # share of letters that are ASCII in a Latin-script text read as Windows-1252


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    repairs: tuple[str, ...] = ()


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
    controls = len(data) - len(data.translate(None, _BINARY_CONTROLS))
    if controls > _BINARY_SHARE * len(data):
        raise QuarantineError(BINARY_CONTENT, f"{controls} control bytes in {len(data)}: not text")
    repairs: tuple[str, ...] = ()
    if b"\x00" in data:
        nuls = data.count(b"\x00")
        if nuls > _REPAIRABLE * len(data):
            raise QuarantineError(BINARY_CONTENT, f"{nuls} NUL bytes in {len(data)}")
        data, repairs = data.replace(b"\x00", b""), (DROPPED_NUL_BYTES,)
    try:
        return Decoded(data.decode("utf-8"), "utf-8", repairs)
    except UnicodeDecodeError:
        pass
    mostly_utf8 = _mostly_utf8(data)
    if mostly_utf8 is not None:
        return Decoded(mostly_utf8, "utf-8", (*repairs, DROPPED_INVALID_UTF8))
    return _detect(data, repairs)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 text with a few broken sequences (a truncated copy, a bad byte): drop them, keep the rest."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = sum(ord(c) > 0x7F for c in text) - bad
    if multibyte > 0 and bad <= _REPAIRABLE * len(text):
        return text.replace("\ufffd", "")
    return None


def _detect(data: bytes, repairs: tuple[str, ...]) -> Decoded:
    """charset-normalizer's candidates plus the Arabic code pages; an Arabic reading that reads as Arabic wins.

    Statistical detection alone picks Cyrillic or Thai code pages for short Arabic files, so the
    candidates are checked for Arabic letters and common Arabic words.
    """
    matches = list(from_bytes(data))
    candidates: dict[str, str] = {codecs.lookup(m.encoding).name: str(m) for m in matches}
    for encoding in _ARABIC_CODE_PAGES:
        if encoding not in candidates:
            try:
                candidates[encoding] = data.decode(encoding)
            except UnicodeDecodeError:
                continue
    scored = sorted(((arabic_score(t), e, t) for e, t in candidates.items()), reverse=True)
    if scored and scored[0][0] >= _ARABIC_ENOUGH:
        _, encoding, text = scored[0]
        return Decoded(text, encoding, repairs)
    western = _western(data)
    if western is not None:
        return Decoded(western, "cp1252", (*repairs, ENCODING_GUESSED))
    if matches:
        best = matches[0]
        return Decoded(str(best), codecs.lookup(best.encoding).name, (*repairs, ENCODING_GUESSED))
    raise QuarantineError(UNDECODABLE, "no encoding decodes the bytes as text")


def _western(data: bytes) -> str | None:
    """Windows-1252 (a superset of Latin-1's printable range) when the bytes read as Latin-script prose.

    charset-normalizer cannot tell the Western code pages apart on short text and picks one by
    its own order (cp1250 made "naïve" "naďve"); Windows-1252 is by far the most common. Text in
    another script (Cyrillic in cp1251, say) reads as accented Latin letters without ASCII ones.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    letters = [c for c in text if c.isalpha()]
    if not letters or any(ord(c) > 0x7F and not unicodedata.name(c, "").startswith("LATIN") for c in letters):
        return None
    ascii_letters = sum(c.isascii() for c in letters)
    return text if ascii_letters >= _WESTERN_ENOUGH * len(letters) else None


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


def _utf16_without_bom(data: bytes) -> Decoded | None:
    """UTF-16 without a mark: NULs fill one byte of most ASCII code units (and Arabic is 0x06XX)."""
    if len(data) % 2:
        return None
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text and arabic_score(text) >= _ARABIC_ENOUGH:
            return Decoded(text, encoding)
    return None
