"""Boilerplate: what a source repeats across its documents (site footers, bylines, share prompts).

Found per run from the documents the run reads, before any shard runs: the planner reads every file
whole to hash it, and counts, per source, in how many documents each candidate occurs (over the
first MAX_COUNTED documents of each source, which bounds its time and memory on any corpus).
Candidates come from the first and last EDGE sentences of a document, where footers and bylines
sit: the whole sentence (at most MAX_WHOLE_CHARS long), and its lead, the words before a colon when
there are MIN_LEAD_WORDS to MAX_LEAD_WORDS of them ("رابط الخبر بصحيفة الوئام: <the title again>",
"سبق- الرياض: <the story's first sentence>"). A candidate found in at least MIN_DOCS documents of a
source, and in at least MIN_SHARE of the source's documents counted, is that source's boilerplate.
The shards then mark it in every sentence of the source's documents (sentences.is_boilerplate,
sentences.boilerplate_chars) and keep entities out of it; the text itself is kept.

Sentences are compared without their spacing and invisible characters (which cleaning drops), as a
hash of source and text, so that the planner may read the raw bytes (UTF-8) and the shard the
cleaned text and still agree.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from tasks.layout import path_metadata
from tasks.segment import Span, split_sentences

MIN_DOCS = 5  # a candidate in fewer documents of a source is never boilerplate
MIN_SHARE = 0.05  # nor one in less than this share of the source's documents in the run
EDGE = 3  # sentences at each end of a document where candidates are taken
MIN_LEAD_WORDS, MAX_LEAD_WORDS = 2, 6  # a lead before a colon of 2 to 6 words is a candidate (not وأضاف:)
MAX_WHOLE_CHARS = 300  # a longer sentence is never boilerplate whole (footers and bylines are short)
SAMPLE_BYTES = 1024  # bytes read at each end of a file for its edge sentences (a footer is short)
MAX_COUNTED = 1000  # documents of a source counted per run: a footer on 5% of them is in 50 of these

# A source's boilerplate, as hashes of (source, sentence or lead); None is the documents without a source.
Boilerplate = Mapping[str | None, frozenset[int]]

# What cleaning drops that news text holds (zero-width and direction marks, tatweel, soft hyphen, BOM);
# str.replace per character present: a regular expression over Arabic text costs 10 times more.
_INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c\u0640\u00ad\ufeff"
)
_WHOLE, _LEAD = "s", "l"


def _key(text: str) -> str:
    """Text without spacing and invisible characters."""
    key = "".join(text.split())
    if not key.isascii():
        for char in _INVISIBLE:
            if char in key:
                key = key.replace(char, "")
    return key


def _digest(source: str | None, kind: str, key: str) -> int:
    name = "\x00" if source is None else f"{source}\x01"
    return int.from_bytes(hashlib.blake2b(f"{name}{kind}{key}".encode(), digest_size=8).digest(), "big")


def _lead(sentence: str) -> tuple[str, int] | None:
    """The key of the words before the sentence's first colon, and the length up to and including it."""
    colon = sentence.find(":")
    if colon <= 0 or not MIN_LEAD_WORDS <= len(sentence[:colon].split()) <= MAX_LEAD_WORDS:
        return None
    key = _key(sentence[:colon])
    return (key, colon + 1) if key else None


def _sentence_keys(source: str | None, sentence: str) -> tuple[int | None, tuple[int, int] | None]:
    """A sentence's two candidates, the planner's and the shard's alike: the digest of the whole sentence
    (None past MAX_WHOLE_CHARS), and the digest of its lead with the lead's length (None without one)."""
    whole = _key(sentence) if len(sentence) <= MAX_WHOLE_CHARS else ""
    lead = _lead(sentence)
    return (
        _digest(source, _WHOLE, whole) if whole else None,
        (_digest(source, _LEAD, lead[0]), lead[1]) if lead is not None else None,
    )


def _candidates(source: str | None, text: str, spans: Sequence[Span]) -> set[int]:
    found = set()
    for span in spans:
        whole, lead = _sentence_keys(source, text[span.start : span.end])
        if whole is not None:
            found.add(whole)
        if lead is not None:
            found.add(lead[0])
    return found


def _edge_sentences(data: bytes) -> list[tuple[str, list[Span]]]:
    """The first and last EDGE sentences of a file, from its first and last SAMPLE_BYTES only (a sentence
    cut by the sample's end is left out)."""
    if len(data) <= 2 * SAMPLE_BYTES:
        text = data.decode("utf-8", "ignore")
        spans = split_sentences(text)
        return [(text, spans if len(spans) <= 2 * EDGE else spans[:EDGE] + spans[-EDGE:])]
    head = data[:SAMPLE_BYTES].decode("utf-8", "ignore")
    tail = data[-SAMPLE_BYTES:].decode("utf-8", "ignore")
    return [(head, split_sentences(head)[:-1][:EDGE]), (tail, split_sentences(tail)[1:][-EDGE:])]


class BoilerplateCounter:
    """Counts, per source, the documents each candidate occurs in, as the planner reads the files.

    Given the paths the run is to read (`expecting`, in the order it reads them) and told which it has
    read (`read`), it knows when the rest can no longer change what it found (`settled`): every source has
    its MAX_COUNTED documents counted, or no file of it is left to read. The planner then starts the
    shards of the files read so far while it reads the others.
    """

    def __init__(self, layout: str | None = None, expecting: Iterable[str] = ()) -> None:
        self.layout = layout  # how a path gives its source (tasks.layout)
        self._seen: set[str] = set()
        self._sources: dict[str | None, int] = {}
        self._docs: list[int] = []  # documents per source number
        self._digests = array("Q")  # one per (document, distinct candidate); 8 bytes, not a dict entry
        self._source_of = array("I")
        self._unread: Counter[str | None] = Counter(self._source(path) for path in expecting)
        self._open = {source for source, n in self._unread.items() if n}  # sources the rest may still change

    def _source(self, rel_path: str) -> str | None:
        return path_metadata(rel_path, self.layout)[0]

    def read(self, rel_paths: Iterable[str]) -> None:
        """These expected files were read (counted with add, or not readable): a source none is left of, or
        with its MAX_COUNTED documents counted, is settled."""
        for path in rel_paths:
            self._unread[self._source(path)] -= 1
        full = {source for source, number in self._sources.items() if self._docs[number] >= MAX_COUNTED}
        self._open = {source for source in self._open - full if self._unread[source] > 0}

    @property
    def settled(self) -> bool:
        """Whether the files still to read can no longer change what detected() finds."""
        return not self._open

    def add(self, rel_path: str, content_hash: str, data: bytes) -> None:
        """Count one file's candidates (once per content: a copy of a document is not a second document), up
        to MAX_COUNTED documents of its source."""
        if content_hash in self._seen:
            return
        source = self._source(rel_path)
        number = self._sources.setdefault(source, len(self._sources))
        if number == len(self._docs):
            self._docs.append(0)
        if self._docs[number] >= MAX_COUNTED:
            return
        self._seen.add(content_hash)
        self._docs[number] += 1
        found = set().union(*(_candidates(source, text, spans) for text, spans in _edge_sentences(data)))
        self._digests.extend(found)
        self._source_of.extend([number] * len(found))

    def detected(self) -> dict[str | None, frozenset[int]]:
        """Each source's boilerplate (sources without any left out)."""
        if not self._digests:
            return {}
        import numpy as np

        digests, first, counts = np.unique(
            np.frombuffer(self._digests, np.uint64), return_index=True, return_counts=True
        )
        sources = np.frombuffer(self._source_of, np.uint32)[first]
        needed = np.array([max(MIN_DOCS, math.ceil(MIN_SHARE * n)) for n in self._docs])
        kept = counts >= needed[sources]
        names = list(self._sources)
        found: dict[str | None, set[int]] = {}
        for digest, number in zip(digests[kept].tolist(), sources[kept].tolist(), strict=True):
            found.setdefault(names[number], set()).add(digest)
        return {source: frozenset(digests) for source, digests in found.items()}


def boilerplate_chars(text: str, sentences: Sequence[Span], source: str | None, found: frozenset[int]) -> list[int]:
    """For each sentence, how many of its leading characters are its source's boilerplate: all of them,
    those of a lead up to its colon, or none."""
    marks = []
    for span in sentences:
        whole, lead = _sentence_keys(source, text[span.start : span.end])
        if whole is not None and whole in found:
            marks.append(span.end - span.start)
        else:
            marks.append(lead[1] if lead is not None and lead[0] in found else 0)
    return marks
