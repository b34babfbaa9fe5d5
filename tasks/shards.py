"""A shard: a group of files processed together into one Parquet part per document table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NONE

from schemas import DOCUMENT_TABLES, TABLES
from tasks.documents import Document, content_hash, doc_id_for, process_document
from tasks.entities import EntityExtractor, NerConfig, load_extractor
from tasks.faults import failpoint
from tasks.inventory import Outcome, fs_path
from tasks.manifest import Part
from tasks.quarantine import CHANGED_DURING_RUN, PROCESSING_ERROR, UNREADABLE, QuarantineError
from tasks.storage import to_arrow, write_part


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
    """The four document tables of a shard, each with its explicit schema."""
    cols: dict[str, dict[str, list]] = {name: {f: [] for f in TABLES[name].names} for name in DOCUMENT_TABLES}

    def add(table: str, **row: object) -> None:
        for name, value in row.items():
            cols[table][name].append(value)

    for doc in docs:
        add(
            "documents",
            doc_id=doc.doc_id,
            path=doc.path,
            source=doc.source,
            published_date=doc.published_date,
            title=doc.title,
            text=doc.text,
            encoding=doc.encoding,
            repairs=list(doc.repairs),
            n_chars=len(doc.text),
            n_sentences=len(doc.sentences),
            n_tokens=len(doc.tokens),
            n_entities=len(doc.entities),
            run_id=run_id,
            processed_at=processed_at,
        )
        n_tokens_by_sentence = [0] * len(doc.sentences)
        for token in doc.tokens:
            n_tokens_by_sentence[token.sentence_idx] += 1
        for idx, span in enumerate(doc.sentences):
            add(
                "sentences",
                doc_id=doc.doc_id,
                sentence_idx=idx,
                char_start=span.start,
                char_end=span.end,
                text=doc.text[span.start : span.end],
                n_tokens=n_tokens_by_sentence[idx],
            )
        for token in doc.tokens:
            add(
                "tokens",
                doc_id=doc.doc_id,
                token_idx=token.idx,
                sentence_idx=token.sentence_idx,
                char_start=token.start,
                char_end=token.end,
                surface=token.surface,
                match_key=token.key,
            )
        for idx, ent in enumerate(doc.entities):
            add(
                "entities",
                doc_id=doc.doc_id,
                entity_idx=idx,
                type=ent.type,
                surface=ent.surface,
                canonical_key=ent.canonical_key,
                char_start=ent.char_start,
                char_end=ent.char_end,
                token_start=ent.token_start,
                token_end=ent.token_end,
                sentence_idx=ent.sentence_idx,
                extractor=extractor.name,
                extractor_version=extractor.version,
                extractor_model_hash=extractor.model_hash,
            )
    for name in DOCUMENT_TABLES:
        cols[name]["fingerprint"] = [fingerprint] * len(cols[name]["doc_id"])
    return {name: to_arrow(cols[name], TABLES[name]) for name in DOCUMENT_TABLES}


def process_shard(spec: ShardSpec) -> ShardResult:
    """Read, process and write one shard; a bad file is quarantined, never fatal to the shard."""
    started = time.perf_counter()
    extractor = load_extractor(spec.ner)
    result = ShardResult(spec.part)
    docs: list[Document] = []
    for rel_path, planned in zip(spec.paths, spec.hashes, strict=True):
        digest = None
        try:
            data = (Path(spec.raw_dir) / fs_path(rel_path)).read_bytes()
            digest = content_hash(data)
            if digest != planned:  # rewritten since it was hashed: its document would not be the planned one
                raise QuarantineError(CHANGED_DURING_RUN, "the file changed during the run; the next run reads it")
            doc = process_document(rel_path, data, extractor)
        except QuarantineError as exc:
            result.outcomes.append(Outcome(rel_path, digest, None, "quarantined", exc.reason, exc.detail))
            continue
        except OSError as exc:
            result.outcomes.append(Outcome(rel_path, digest, None, "quarantined", UNREADABLE, str(exc)))
            continue
        except Exception as exc:  # a bug on one input must not cost the other documents
            detail = f"{type(exc).__name__}: {exc}"
            result.outcomes.append(Outcome(rel_path, digest, None, "quarantined", PROCESSING_ERROR, detail))
            continue
        docs.append(doc)
        result.outcomes.append(Outcome(rel_path, digest, doc_id_for(digest), "processed"))
    failpoint("shard.before_write")
    if docs:
        tables = shard_tables(docs, extractor, spec.run_id, spec.fingerprint, datetime.now(UTC))
        for name, table in tables.items():  # invisible until the flow commits them in the manifest
            result.parts[name] = write_part(spec.out_dir, name, spec.part, table)
    result.n_documents = len(docs)
    result.n_tokens = sum(len(d.tokens) for d in docs)
    result.n_entities = sum(len(d.entities) for d in docs)
    result.seconds = time.perf_counter() - started
    return result


process_shard_task = task(name="process-shard", cache_policy=NONE)(process_shard)
