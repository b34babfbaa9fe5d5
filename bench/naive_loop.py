"""The baseline khabar must beat: a plain single-process loop over a raw folder, no Prefect, no entities.

It reads each file, decodes it as UTF-8, cleans it (Unicode NFKC), tokenizes it
with camel-tools' simple_word_tokenize and writes Parquet: one documents file and one tokens file
per 1,000 articles, as a hand-written script would. Prints `documents seconds tokens`.

Run: .venv/bin/python bench/naive_loop.py RAW OUT
"""

from __future__ import annotations

import hashlib
import sys
import time
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from camel_tools.tokenizers.word import simple_word_tokenize


def main(raw: Path, out: Path) -> None:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
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
        if n_docs % 1000 == 0:
            flush()
    flush()
    print(n_docs, f"{time.perf_counter() - started:.3f}", n_tokens)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
