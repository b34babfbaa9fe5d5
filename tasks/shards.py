"""A shard: a group of files processed together into one Parquet part per document table."""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from schemas import DOCUMENT_TABLES, TABLES
from tasks.boilerplate import Boilerplate
from tasks.documents import Document, content_hash, doc_id_for, process_document, read_document, with_entities
from tasks.entities import EntityExtractor, Mention, NerConfig, decodes_together, extract_many, load_extractor
from tasks.faults import failpoint
from tasks.inventory import Outcome, fs_path
from tasks.quarantine import CHANGED_DURING_RUN, PROCESSING_ERROR, TOO_SLOW, UNREADABLE, QuarantineError
from tasks.storage import Part, to_arrow, write_part


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard task needs, as plain values (it may run in another process or host)."""

    part: str  # deterministic part name: <run_id>-<shard index>
    raw_dir: str
    out_dir: str
    paths: tuple[str, ...]
    hashes: tuple[str, ...]  # content hash of each path when it was planned
    run_id: str
    fingerprint: str
    ner: NerConfig = field(default_factory=NerConfig)
    max_doc_seconds: float = 300.0  # a document still running after this is quarantined too_slow (0: no limit)
    layout: str | None = None  # how source and date are read from a path (tasks.documents.Layout)
    boilerplate: Boilerplate = field(default_factory=dict)  # by source (tasks.boilerplate)


@dataclass
class ShardResult:
    part: str
    outcomes: list[Outcome] = field(default_factory=list)
    parts: dict[str, Part] = field(default_factory=dict)  # table -> written part
    n_documents: int = 0
    n_tokens: int = 0
    n_entities: int = 0
    seconds: float = 0.0


def shard_tables(
    docs: list[Document], extractor: EntityExtractor, run_id: str, fingerprint: str, processed_at: datetime
) -> dict[str, pa.Table]:
    """The four document tables of a shard, each with its explicit schema, built a column at a time."""
    cols: dict[str, dict[str, list]] = {name: {f: [] for f in TABLES[name].names} for name in DOCUMENT_TABLES}
    documents, sentences, tokens, entities = (cols[name] for name in ("documents", "sentences", "tokens", "entities"))
    for doc in docs:
        n_tokens_by_sentence = [0] * len(doc.sentences)
        for token in doc.tokens:
            n_tokens_by_sentence[token.sentence_idx] += 1
        _extend(
            sentences,
            doc.doc_id,
            sentence_idx=range(len(doc.sentences)),
            char_start=[s.start for s in doc.sentences],
            char_end=[s.end for s in doc.sentences],
            text=[doc.text[s.start : s.end] for s in doc.sentences],
            n_tokens=n_tokens_by_sentence,
            is_boilerplate=[n == s.end - s.start for n, s in zip(doc.boilerplate, doc.sentences, strict=True)],
            boilerplate_chars=doc.boilerplate,
        )
        if doc.tokens:  # tokens are named tuples: one zip turns the rows into columns
            idx, in_sentence, start, end, surface, key = zip(*doc.tokens, strict=True)
            _extend(
                tokens,
                doc.doc_id,
                token_idx=idx,
                sentence_idx=in_sentence,
                char_start=start,
                char_end=end,
                surface=surface,
                match_key=key,
            )
        n = len(doc.entities)
        _extend(
            entities,
            doc.doc_id,
            entity_idx=range(n),
            type=[e.type for e in doc.entities],
            surface=[e.surface for e in doc.entities],
            canonical_key=[e.canonical_key for e in doc.entities],
            char_start=[e.char_start for e in doc.entities],
            char_end=[e.char_end for e in doc.entities],
            token_start=[e.token_start for e in doc.entities],
            token_end=[e.token_end for e in doc.entities],
            sentence_idx=[e.sentence_idx for e in doc.entities],
            extractor=[extractor.name] * n,
            extractor_version=[extractor.version] * n,
            extractor_model_hash=[extractor.model_hash] * n,
        )
    documents["doc_id"].extend(d.doc_id for d in docs)
    _extend(
        documents,
        None,
        path=[d.path for d in docs],
        source=[d.source for d in docs],
        published_date=[d.published_date for d in docs],
        title=[d.title for d in docs],
        text=[d.text for d in docs],
        encoding=[d.encoding for d in docs],
        repairs=[list(d.repairs) for d in docs],
        n_chars=[len(d.text) for d in docs],
        n_sentences=[len(d.sentences) for d in docs],
        n_tokens=[len(d.tokens) for d in docs],
        n_entities=[len(d.entities) for d in docs],
        run_id=[run_id] * len(docs),
        processed_at=[processed_at] * len(docs),
    )
    for name in DOCUMENT_TABLES:
        cols[name]["fingerprint"] = [fingerprint] * len(cols[name]["doc_id"])
    return {name: to_arrow(cols[name], TABLES[name]) for name in DOCUMENT_TABLES}


def _extend(columns: dict[str, list], row_doc_id: str | None, **values: Sequence[object]) -> None:
    """Append values to each named column, and row_doc_id once per row when given."""
    n = 0
    for name, column in values.items():
        columns[name].extend(column)
        n = len(column)
    if row_doc_id is not None:
        columns["doc_id"].extend([row_doc_id] * n)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A shard makes millions of small objects (tokens, strings, rows) that form no reference cycles, and
    the cyclic collector would walk them again and again as they pile up: a third of a shard's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[Callable[[], None]]:
    """Quarantine a document (QuarantineError too_slow) that runs past `seconds`.

    In a process's main thread (a worker) a timer signal interrupts the document wherever it is;
    elsewhere (shards run in the flow's process, on a thread) the yielded check, called between
    stages, stops it at the next stage boundary.
    """
    started = time.monotonic()
    too_slow = QuarantineError(TOO_SLOW, f"still running after {seconds:g} s (KHABAR_MAX_DOC_SECONDS)")

    def check() -> None:
        if seconds > 0 and time.monotonic() - started > seconds:
            raise too_slow

    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield check
        return

    def expire(signum: int, frame: object) -> None:
        raise too_slow

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield check
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


FOUND_TOGETHER = 16  # documents whose entities a backend that decodes documents together (the CRF) finds at once


def _process_files(
    files: Sequence[tuple[str, str]], extractor: EntityExtractor, spec: ShardSpec
) -> list[tuple[Outcome, Document | None]]:
    """Each (path, planned hash)'s outcome, and its document when processed, in order.

    One file is processed whole under the time limit. Several (for a backend that decodes documents
    together) are read each under its own, their entities found together under one, and, if that
    fails or runs past it, each document's alone under its own, so that only the one at fault is
    quarantined.
    """
    if len(files) == 1:
        return [_document(spec, *files[0], extractor)]
    read = [_document(spec, path, planned, None) for path, planned in files]
    found: list[list[Mention]] | None = None
    documents = [doc for _, doc in read if doc is not None]
    with contextlib.suppress(Exception), time_limit(spec.max_doc_seconds):
        found = extract_many(extractor, [doc.tokens for doc in documents])
    if found is not None:
        mentions = iter(found)
        return [(outcome, doc if doc is None else with_entities(doc, next(mentions))) for outcome, doc in read]
    return [(outcome, doc) if doc is None else _found_alone(outcome, doc, extractor, spec) for outcome, doc in read]


def _document(
    spec: ShardSpec, path: str, planned: str, extractor: EntityExtractor | None
) -> tuple[Outcome, Document | None]:
    """A file read, checked against its planned hash and made a document under the time limit, whole with the
    extractor's entities, or without them when there is none; or its quarantine: a bad file is never fatal
    to the shard."""
    digest = None
    try:
        data = (Path(spec.raw_dir) / fs_path(path)).read_bytes()
        digest = content_hash(data)
        if digest != planned:  # rewritten since it was hashed: its document would not be the planned one
            raise QuarantineError(CHANGED_DURING_RUN, "the file changed during the run; the next run reads it")
        with time_limit(spec.max_doc_seconds) as deadline:
            if extractor is None:
                doc = read_document(path, data, deadline, spec.layout, spec.boilerplate)
            else:
                doc = process_document(path, data, extractor, deadline, spec.layout, spec.boilerplate)
    except Exception as exc:  # a bug on one input must not cost the other documents
        return _quarantined(path, digest, exc), None
    return Outcome(path, digest, doc_id_for(digest), "processed"), doc


def _found_alone(
    outcome: Outcome, doc: Document, extractor: EntityExtractor, spec: ShardSpec
) -> tuple[Outcome, Document | None]:
    """A read document's entities found alone, under the time limit; or its file's quarantine."""
    try:
        with time_limit(spec.max_doc_seconds) as deadline:
            found = extractor.extract(doc.tokens)
            deadline()
    except Exception as exc:
        return _quarantined(outcome.path, outcome.content_hash, exc), None
    return outcome, with_entities(doc, found)


def _quarantined(path: str, digest: str | None, exc: Exception) -> Outcome:
    if isinstance(exc, QuarantineError):
        return Outcome(path, digest, None, "quarantined", exc.reason, exc.detail)
    if isinstance(exc, OSError):
        return Outcome(path, digest, None, "quarantined", UNREADABLE, str(exc))
    return Outcome(path, digest, None, "quarantined", PROCESSING_ERROR, f"{type(exc).__name__}: {exc}")


def process_shard(spec: ShardSpec) -> ShardResult:
    """Read, process and write one shard; a bad file is quarantined, never fatal to the shard."""
    with _cyclic_gc_paused():
        return _process_shard(spec)


def _process_shard(spec: ShardSpec) -> ShardResult:
    started = time.perf_counter()
    extractor = load_extractor(spec.ner)
    result = ShardResult(spec.part)
    docs: list[Document] = []
    files = list(zip(spec.paths, spec.hashes, strict=True))
    size = FOUND_TOGETHER if decodes_together(extractor) else 1
    for start in range(0, len(files), size):
        for outcome, doc in _process_files(files[start : start + size], extractor, spec):
            result.outcomes.append(outcome)
            if doc is not None:
                docs.append(doc)
    failpoint("shard.before_write")
    if docs:
        tables = shard_tables(docs, extractor, spec.run_id, spec.fingerprint, datetime.now(UTC))
        for name, table in tables.items():  # invisible until the flow commits them (tasks.tables)
            result.parts[name] = write_part(spec.out_dir, name, spec.part, table)
    result.n_documents = len(docs)
    result.n_tokens = sum(len(d.tokens) for d in docs)
    result.n_entities = sum(len(d.entities) for d in docs)
    # Freeing the shard's documents (millions of small objects) is the shard's work too: timed here, not
    # after the return, where it counted as time between shards (about 35 ms a shard of 500 articles).
    del docs
    result.seconds = time.perf_counter() - started
    return result
