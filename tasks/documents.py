"""One raw file to the rows of one document: decode, clean, split, tokenize, extract entities."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
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


class LayoutError(ValueError):
    pass


@dataclass(frozen=True)
class Layout:
    """How source and date are read from a file's path under the raw folder.

    A template such as "{date}/{source}-{n}.txt" ({date} is YYYY-MM-DD; {year}, {month}, {day} its
    parts; {source} one or more characters of a name; {n} digits; any other {name} one or more
    characters; * anything within a folder), or a regular expression with named groups source, date
    (or year, month, day) matched against the whole path. None keeps the default: the first
    YYYY-MM-DD folder is the date, the file's folder the source.
    """

    spec: str
    pattern: re.Pattern[str]

    @classmethod
    @functools.cache
    def of(cls, spec: str) -> Layout:
        if "(?P<" in spec:
            source = spec
        else:
            parts = re.split(r"(\{\w+\}|\*)", spec)
            source = "".join(_PLACEHOLDERS.get(p, r"[^/]+" if p.startswith("{") else p) if i % 2 else re.escape(p)
                             for i, p in enumerate(parts))  # fmt: skip
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise LayoutError(f"the layout {spec!r} is not a valid pattern ({exc})") from None
        groups = set(pattern.groupindex)
        if not groups & {"source", "date", "year"}:
            raise LayoutError(f"the layout {spec!r} names neither {{source}} nor {{date}}")
        if "year" in groups and not {"month", "day"} <= groups:
            raise LayoutError(f"the layout {spec!r} has {{year}} without {{month}} and {{day}}")
        return cls(spec, pattern)

    def metadata(self, rel_path: str) -> tuple[str | None, date | None]:
        match = self.pattern.fullmatch(rel_path)
        if match is None:
            return None, None
        found = match.groupdict()
        source = found.get("source") or None
        if found.get("date"):
            published = _date_of(*re.split(r"[-/_.]", found["date"])[:3])
        elif found.get("year"):
            published = _date_of(found["year"], found["month"], found["day"])
        else:
            published = None
        return source, published


_PLACEHOLDERS = {
    "{date}": r"(?P<date>\d{4}-\d{2}-\d{2})",
    "{year}": r"(?P<year>\d{4})",
    "{month}": r"(?P<month>\d{1,2})",
    "{day}": r"(?P<day>\d{1,2})",
    "{source}": r"(?P<source>[^/]+)",
    "{n}": r"\d+",
    "*": r"[^/]*",
}


def _date_of(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def path_metadata(rel_path: str, layout: str | None = None) -> tuple[str | None, date | None]:
    """(source, published_date) from a path relative to the raw folder, by `layout` (see Layout).

    Without one: published_date is the first folder named YYYY-MM-DD (a real date); source is the
    parent folder unless that is the date folder or the raw root.
    """
    if layout is not None:
        return Layout.of(layout).metadata(rel_path)
    folders = PurePosixPath(rel_path).parts[:-1]
    published = None
    date_folder_idx = None
    for idx, name in enumerate(folders):
        match = _DATE_FOLDER.match(name)
        if match:
            published = _date_of(*match.groups())
            if published is None:  # not a real date (2026-13-45)
                continue
            date_folder_idx = idx
            break
    if not folders or date_folder_idx == len(folders) - 1:
        return None, published
    return folders[-1], published


def layout_warning(rel_paths: Sequence[str], layout: str | None) -> str | None:
    """A sentence when most of these files would get no source or no date, else None."""
    found = [path_metadata(p, layout) for p in rel_paths]
    missing = [what for what, i in (("source", 0), ("date", 1)) if 2 * sum(f[i] is None for f in found) > len(found)]
    if not missing:
        return None
    n = sum(any(f[i] is None for i in (0, 1) if ("source", "date")[i] in missing) for f in found)
    how = f"the layout {layout!r}" if layout else "the default layout (a YYYY-MM-DD folder, then a source folder)"
    example = "'{date}/{source}-{n}.txt'"
    return (
        f"{n:,} of {len(found):,} files get no {' and no '.join(missing)} from {how}; "
        f"describe how your files are named with --layout, for example {example}"
    )


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
    rel_path: str,
    data: bytes,
    extractor: EntityExtractor,
    deadline: Callable[[], None] = lambda: None,
    layout: str | None = None,
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
    source, published = path_metadata(rel_path, layout)
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
