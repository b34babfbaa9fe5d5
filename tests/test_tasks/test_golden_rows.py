"""The rows a shard writes for the sample corpus and the bad-inputs folder equal the golden rows, exactly.

Speed work on decoding, tokenizing, entities or row building must not change a single row or
offset. The golden files in tests/golden/rows/ hold, per table and document, the row count and the
sha256 of the rows as canonical JSON (and every entity row in full, to read); after a deliberate change to what
the pipeline produces (with PROCESSING_VERSION or a backend VERSION bumped), regenerate them with
`KHABAR_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_tasks/test_golden_rows.py` and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from fixtures.bad_inputs import write_bad_inputs
from fixtures.make_sample_corpus import write_corpus
from pipeline import RUN_COLUMNS

from schemas import DOCUMENT_TABLES
from tasks.documents import content_hash
from tasks.inventory import scan_raw
from tasks.shards import ShardSpec, process_shard
from tasks.storage import read_parts

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "rows"


@pytest.fixture(scope="module")
def shard_rows(tmp_path_factory) -> dict[str, list[dict]]:
    root = tmp_path_factory.mktemp("golden")
    raw = root / "raw"
    write_corpus(raw / "sample")
    write_bad_inputs(raw / "bad")
    paths = [s.path for s in scan_raw(raw) if (raw / s.path).is_file() and not (raw / s.path).is_symlink()]
    hashes = tuple(content_hash((raw / p).read_bytes()) for p in paths)
    spec = ShardSpec("20261129T000000000000Z-000000-00000", str(raw), str(root / "out"), tuple(paths), hashes, "r", "f")
    result = process_shard(spec)
    assert result.n_documents >= 25
    rows = {}
    for table in DOCUMENT_TABLES:
        data = read_parts([root / "out" / result.parts[table].path], table)
        data = data.drop_columns([c for c in RUN_COLUMNS if c in data.column_names])
        rows[table] = [{k: _plain(v) for k, v in row.items()} for row in data.to_pylist()]
    return rows


def _plain(value):
    return value if value is None or isinstance(value, int | float | str | list) else str(value)


def digests(rows: list[dict]) -> list[str]:
    """One line per document: doc_id, row count, sha256 of its rows as sorted-key JSON lines."""
    by_doc: dict[str, list[str]] = {}
    for row in rows:
        by_doc.setdefault(row["doc_id"], []).append(json.dumps(row, ensure_ascii=False, sort_keys=True))
    return [
        f"{doc_id} {len(lines)} {hashlib.sha256(chr(10).join(lines).encode()).hexdigest()}"
        for doc_id, lines in sorted(by_doc.items())
    ]


def check_golden(name: str, lines: list[str]) -> None:
    golden = GOLDEN / name
    if os.environ.get("KHABAR_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = golden.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(expected), name
    for got, want in zip(lines, expected, strict=True):
        assert got == want, name


@pytest.mark.parametrize("table", DOCUMENT_TABLES)
def test_a_shard_writes_exactly_the_golden_rows(shard_rows, table):
    check_golden(f"{table}.digests", digests(shard_rows[table]))


def test_every_entity_row_is_the_golden_one(shard_rows):
    check_golden("entities.jsonl", [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in shard_rows["entities"]])
