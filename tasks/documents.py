"""One raw file to the rows of one document: decode, clean, split, tokenize, extract entities."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from tasks.boilerplate import Boilerplate, boilerplate_chars
from tasks.clean import clean_text
from tasks.decode import decode_bytes
from tasks.entities import EntityExtractor, Mention
from tasks.layout import path_metadata
from tasks.quarantine import EMPTY_TEXT, QuarantineError
from tasks.segment import Span, Token, split_sentences, tokenize

# Bump when decoding, cleaning, sentence splitting or tokenizing changes the rows they produce:
# every document made before becomes stale (khabar status, khabar reprocess --stale).
# 2: titles capped, text without letters or digits quarantined, Western code pages; 3: boilerplate marked.
PROCESSING_VERSION = "3"
MAX_TITLE_CHARS = 300


def content_hash(data: bytes) -> str:
    """sha256 of a file's bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def doc_id_for(hash_hex: str) -> str:
    """A document's id: the first 32 hex chars of its content hash."""
    return hash_hex[:32]


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
    boilerplate: list[int] = field(default_factory=list)  # per sentence: leading characters that are boilerplate


def process_document(
    rel_path: str,
    data: bytes,
    extractor: EntityExtractor,
    deadline: Callable[[], None] = lambda: None,
    layout: str | None = None,
    boilerplate: Boilerplate | None = None,
) -> Document:
    """Bytes of one file to a Document; raises QuarantineError when there is no usable text.

    deadline() is called between stages and raises QuarantineError(too_slow) once time is up.
    boilerplate: each source's boilerplate found by the run (tasks.boilerplate), marked in the
    sentences and kept out of the entities.
    """
    document = read_document(rel_path, data, deadline, layout, boilerplate)
    found = extractor.extract(document.tokens)
    deadline()
    return with_entities(document, found)


def read_document(
    rel_path: str,
    data: bytes,
    deadline: Callable[[], None] = lambda: None,
    layout: str | None = None,
    boilerplate: Boilerplate | None = None,
) -> Document:
    """process_document's stages before the entities: the Document without them (with_entities adds them)."""
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
    source, published = path_metadata(rel_path, layout)
    found_here = (boilerplate or {}).get(source)
    marks = boilerplate_chars(text, sentences, source, found_here) if found_here else [0] * len(sentences)
    deadline()
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
        boilerplate=marks,
    )


def with_entities(document: Document, found: Sequence[Mention]) -> Document:
    """The document, its entities the mentions found in its tokens outside its source's boilerplate."""
    text, tokens, sentences, marks = document.text, document.tokens, document.sentences, document.boilerplate
    entities = []
    for mention in found:
        first, last = tokens[mention.token_start], tokens[mention.token_end - 1]
        if first.start < sentences[first.sentence_idx].start + marks[first.sentence_idx]:
            continue  # in a footer, byline or lead its source repeats
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
    document.entities = entities
    return document
