"""One raw file to the rows of one document: decode, clean, split, tokenize, extract entities."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath

from tasks.clean import clean_text
from tasks.decode import decode_bytes
from tasks.entities import EntityExtractor
from tasks.quarantine import EMPTY_TEXT, QuarantineError
from tasks.segment import Span, Token, split_sentences, tokenize

# Bump when decoding, cleaning, sentence splitting or tokenizing changes the rows they produce:
# every document made before becomes stale (khabar status, khabar reprocess --stale).
PROCESSING_VERSION = "2"  # 2: titles capped, text without letters or digits quarantined, Western code pages
MAX_TITLE_CHARS = 300

_DATE_FOLDER = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def content_hash(data: bytes) -> str:
    """sha256 of a file's bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def doc_id_for(hash_hex: str) -> str:
    """A document's id: the first 32 hex chars of its content hash."""
    return hash_hex[:32]


def path_metadata(rel_path: str) -> tuple[str | None, date | None]:
    """(source, published_date) from a path relative to the raw folder.

    published_date: the first folder named YYYY-MM-DD (a real date); source: the parent folder
    unless that is the date folder or the raw root.
    """
    folders = PurePosixPath(rel_path).parts[:-1]
    published = None
    date_folder_idx = None
    for idx, name in enumerate(folders):
        match = _DATE_FOLDER.match(name)
        if match:
            try:
                published = date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                continue
            date_folder_idx = idx
            break
    if not folders or date_folder_idx == len(folders) - 1:
        return None, published
    return folders[-1], published


def title_of(text: str) -> str:
    """The first non-empty line, cut at a word boundary to at most MAX_TITLE_CHARS (a page on one line
    would otherwise be its own title)."""
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if len(line) <= MAX_TITLE_CHARS:
            return line
        cut = line.rfind(" ", 0, MAX_TITLE_CHARS + 1)
        return line[:cut].rstrip() if cut > 0 else line[:MAX_TITLE_CHARS]
    return ""


@dataclass(frozen=True)
class EntityRow:
    type: str
    surface: str
    canonical_key: str
    char_start: int
    char_end: int
    token_start: int
    token_end: int
    sentence_idx: int


@dataclass
class Document:
    """A processed document: cleaned text and everything that points into it."""

    doc_id: str
    path: str
    source: str | None
    published_date: date | None
    title: str
    text: str
    encoding: str
    repairs: tuple[str, ...] = ()
    sentences: list[Span] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)
    entities: list[EntityRow] = field(default_factory=list)


def process_document(
    rel_path: str, data: bytes, extractor: EntityExtractor, deadline: Callable[[], None] = lambda: None
) -> Document:
    """Bytes of one file to a Document; raises QuarantineError when there is no usable text.

    deadline() is called between stages and raises QuarantineError(too_slow) once time is up.
    """
    decoded = decode_bytes(data)
    text = clean_text(decoded.text)
    if not text.strip():
        raise QuarantineError(EMPTY_TEXT, "no text left after cleaning")
    if not any(c.isalnum() for c in text):
        raise QuarantineError(EMPTY_TEXT, "no letters or digits, only marks, punctuation or spaces")
    deadline()
    sentences = split_sentences(text)
    tokens = tokenize(text, sentences)
    deadline()
    found = extractor.extract(tokens)
    deadline()
    entities = []
    for mention in found:
        first, last = tokens[mention.token_start], tokens[mention.token_end - 1]
        entities.append(
            EntityRow(
                type=mention.type,
                surface=text[first.start : last.end],
                canonical_key=mention.canonical_key,
                char_start=first.start,
                char_end=last.end,
                token_start=mention.token_start,
                token_end=mention.token_end,
                sentence_idx=first.sentence_idx,
            )
        )
    source, published = path_metadata(rel_path)
    return Document(
        doc_id=doc_id_for(content_hash(data)),
        path=rel_path,
        source=source,
        published_date=published,
        title=title_of(text),
        text=text,
        encoding=decoded.encoding,
        repairs=decoded.repairs,
        sentences=sentences,
        tokens=tokens,
        entities=entities,
    )
