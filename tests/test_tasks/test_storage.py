import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import RUNS, TOKENS
from tasks.storage import TMP_PREFIX, committed_parts, part_path, read_table, remove_leftovers, to_arrow, write_parquet


def test_to_arrow_uses_the_schema_and_rejects_wrong_types():
    cols = {name: [] for name in TOKENS.names}
    assert to_arrow(cols, TOKENS).schema == TOKENS
    bad = {**cols, "doc_id": ["a"], "token_idx": ["not a number"]}
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        to_arrow(bad, TOKENS)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = part_path(tmp_path, "tokens", "p1")
    write_parquet(to_arrow({n: [] for n in TOKENS.names}, TOKENS), path)
    assert [p.name for p in path.parent.iterdir()] == ["p1.parquet"]
    assert pq.read_schema(path).equals(TOKENS)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_readers_ignore_temporary_files_and_leftovers_are_removed(tmp_path):
    empty_docs = {n: [] for n in TOKENS.names}
    write_parquet(to_arrow(empty_docs, TOKENS), part_path(tmp_path, "tokens", "orphan"))
    (tmp_path / "tokens" / f"{TMP_PREFIX}half.parquet").write_bytes(b"PAR1 half written")
    assert [p.name for p in committed_parts(tmp_path, "tokens")] == ["orphan.parquet"]
    removed = remove_leftovers(tmp_path)
    assert {p.name for p in removed} == {"orphan.parquet", f"{TMP_PREFIX}half.parquet"}
    assert committed_parts(tmp_path, "tokens") == []


def test_reading_a_missing_table_gives_an_empty_table_of_its_schema(tmp_path):
    assert read_table(tmp_path, "runs").schema.equals(RUNS)
