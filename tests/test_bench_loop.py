"""The bench's same-work loop does a shard's work: its tables hold the rows khabar writes for the same
corpus, so the ratio `make bench` prints against it compares like with like."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures.make_sample_corpus import write_corpus
from pipeline import RUN_COLUMNS, read_all

from schemas import DOCUMENT_TABLES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from naive_loop import plain_loop, same_work_loop


def _rows(table) -> list[tuple]:
    keep = [name for name in table.column_names if name not in RUN_COLUMNS]
    return sorted(map(tuple, (row.values() for row in table.select(keep).to_pylist())), key=repr)


@pytest.fixture(scope="module")
def loop_out(tmp_path_factory) -> tuple[Path, tuple[int, int, int]]:
    root = tmp_path_factory.mktemp("same-work-loop")
    write_corpus(root / "raw")
    (root / "out").mkdir()
    return root / "out", same_work_loop(root / "raw", root / "out")


@pytest.mark.parametrize("table", DOCUMENT_TABLES)
def test_same_work_loop_writes_the_rows_khabar_writes(loop_out, sample_output, table):
    out, _ = loop_out
    written = pq.read_table(sorted(out.glob(f"{table}-*.parquet")))
    expected = read_all(sample_output, table)
    assert written.schema.remove_metadata() == expected.schema.remove_metadata()
    assert len(expected) > 0
    assert _rows(written) == _rows(expected)


def _n_rows(out: Path, table: str) -> int:
    return pq.read_table(sorted(out.glob(f"{table}-*.parquet"))).num_rows


def test_loops_count_what_they_wrote(loop_out, tmp_path):
    out, counts = loop_out
    assert counts == tuple(_n_rows(out, name) for name in ("documents", "tokens", "entities"))
    write_corpus(tmp_path / "raw")
    n_docs, _, n_entities = plain_loop(tmp_path / "raw", tmp_path)
    assert n_docs == _n_rows(tmp_path, "documents") > counts[0]  # the plain loop keeps copies of a document
    assert n_entities == 0
