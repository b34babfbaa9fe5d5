"""The baselines khabar must beat: plain single-process loops over a raw folder, no Prefect.

Two loops, as a hand-written script would do the work, one Parquet file per table per 1,000
articles:

- plain (the default): read each file, decode it as UTF-8, clean it (Unicode NFKC), tokenize it with
  camel-tools' simple_word_tokenize and write documents and tokens. No sentences, no offsets, no
  entities: the baseline the throughput targets are set against.
- `--same-work`: the work a khabar shard does, called the same way from one loop: khabar's decoding
  and cleaning, sentences, tokens with offsets and match keys, gazetteer entities, and the four
  document tables with their schemas (tasks.documents.process_document, tasks.shards.shard_tables),
  a copy of a document already read skipped as khabar skips it.
  What it leaves out is what orchestration adds: no Prefect, no worker processes, no Delta commits,
  no files table, no boilerplate detection across documents, no time limit per document.

Prints `documents seconds tokens entities`.

Run: .venv/bin/python bench/naive_loop.py RAW OUT [--same-work]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_DOCUMENTS = 1000


def plain_loop(raw: Path, out: Path) -> tuple[int, int, int]:
    from camel_tools.tokenizers.word import simple_word_tokenize

    docs: dict[str, list] = {"doc_id": [], "path": [], "text": []}
    tokens: dict[str, list] = {"doc_id": [], "token_idx": [], "token": []}
    n_docs = n_tokens = part = 0

    def flush() -> None:
        nonlocal part, docs, tokens
        pq.write_table(pa.table(docs), out / f"documents-{part:05d}.parquet", compression="zstd")
        pq.write_table(pa.table(tokens), out / f"tokens-{part:05d}.parquet", compression="zstd")
        part += 1
        docs = {k: [] for k in docs}
        tokens = {k: [] for k in tokens}

    for path in sorted(raw.rglob("*.txt")):
        data = path.read_bytes()
        text = unicodedata.normalize("NFKC", data.decode("utf-8", errors="replace"))
        if not text.strip():
            continue
        doc_id = hashlib.sha256(data).hexdigest()[:32]
        words = simple_word_tokenize(text)
        docs["doc_id"].append(doc_id)
        docs["path"].append(str(path.relative_to(raw)))
        docs["text"].append(text)
        tokens["doc_id"].extend([doc_id] * len(words))
        tokens["token_idx"].extend(range(len(words)))
        tokens["token"].extend(words)
        n_docs += 1
        n_tokens += len(words)
        if n_docs % PART_DOCUMENTS == 0:
            flush()
    flush()
    return n_docs, n_tokens, 0


def same_work_loop(raw: Path, out: Path) -> tuple[int, int, int]:
    from datetime import UTC, datetime

    from tasks.documents import Document, content_hash, doc_id_for, process_document
    from tasks.entities import load_extractor
    from tasks.quarantine import QuarantineError
    from tasks.shards import shard_tables

    extractor = load_extractor("gazetteer")
    docs: list[Document] = []
    seen: set[str] = set()  # a copy of a document already read is skipped, as khabar skips it
    n_docs = n_tokens = n_entities = part = 0

    def flush() -> None:
        nonlocal part, docs
        for name, table in shard_tables(docs, extractor, "loop", "loop", datetime.now(UTC)).items():
            pq.write_table(table, out / f"{name}-{part:05d}.parquet", compression="zstd")
        part += 1
        docs = []

    for path in sorted(raw.rglob("*.txt")):
        data = path.read_bytes()
        doc_id = doc_id_for(content_hash(data))
        if doc_id in seen:
            continue
        seen.add(doc_id)
        try:
            doc = process_document(path.relative_to(raw).as_posix(), data, extractor)
        except QuarantineError:
            continue
        docs.append(doc)
        n_docs += 1
        n_tokens += len(doc.tokens)
        n_entities += len(doc.entities)
        if len(docs) == PART_DOCUMENTS:
            flush()
    if docs:
        flush()
    return n_docs, n_tokens, n_entities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="a folder of .txt articles")
    parser.add_argument("out", type=Path, help="a folder for the Parquet files (made if missing)")
    parser.add_argument("--same-work", action="store_true", help="the work of a khabar shard, not the plain loop")
    args = parser.parse_args()
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    loop = same_work_loop if args.same_work else plain_loop
    n_docs, n_tokens, n_entities = loop(args.raw, args.out)
    print(n_docs, f"{time.perf_counter() - started:.3f}", n_tokens, n_entities)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # khabar's tasks, run as a script
    main()
