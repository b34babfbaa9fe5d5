import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import RUNS, TOKENS
from tasks.manifest import Manifest, ManifestError, commit_manifest, load_manifest, manifest_path
from tasks.storage import (
    TMP_PREFIX,
    collect_garbage,
    committed_parts,
    part_path,
    read_table,
    relative,
    to_arrow,
    write_parquet,
)


def empty_part(out, table, name):
    path = part_path(out, table, name)
    write_parquet(to_arrow({n: [] for n in TOKENS.names}, TOKENS), path)
    return relative(out, path)


def test_to_arrow_uses_the_schema_and_rejects_wrong_types():
    cols = {name: [] for name in TOKENS.names}
    assert to_arrow(cols, TOKENS).schema == TOKENS
    bad = {**cols, "doc_id": ["a"], "token_idx": ["not a number"]}
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        to_arrow(bad, TOKENS)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    rel = empty_part(tmp_path, "tokens", "p1")
    path = tmp_path / rel
    assert [p.name for p in path.parent.iterdir()] == ["p1.parquet"]
    assert pq.read_schema(path).equals(TOKENS)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_only_parts_in_the_manifest_are_read(tmp_path):
    first = commit_manifest(tmp_path, Manifest())  # writers commit an empty manifest before any part
    committed = empty_part(tmp_path, "tokens", "a")
    empty_part(tmp_path, "tokens", "uncommitted")
    assert committed_parts(tmp_path, "tokens") == []
    commit_manifest(tmp_path, first.changed(add={"tokens": [committed]}))
    assert [p.name for p in committed_parts(tmp_path, "tokens")] == ["a.parquet"]


def test_commits_count_up_and_refuse_missing_files(tmp_path):
    first = commit_manifest(tmp_path, Manifest())
    assert first.version == 1 and load_manifest(tmp_path).version == 1
    with pytest.raises(ManifestError, match="references missing files"):
        commit_manifest(tmp_path, first.changed(add={"tokens": ["tokens/ghost.parquet"]}))
    assert load_manifest(tmp_path).version == 1


def test_garbage_is_what_no_manifest_references(tmp_path):
    keep = empty_part(tmp_path, "tokens", "keep")
    empty_part(tmp_path, "tokens", "orphan")
    (tmp_path / "tokens" / f"{TMP_PREFIX}half.parquet").write_bytes(b"PAR1 half written")
    (tmp_path / f"{TMP_PREFIX}x-_manifest.json").write_text("{")
    manifest = commit_manifest(tmp_path, Manifest().changed(add={"tokens": [keep]}))
    removed = {p.name for p in collect_garbage(tmp_path, manifest)}
    assert removed == {"orphan.parquet", f"{TMP_PREFIX}half.parquet", f"{TMP_PREFIX}x-_manifest.json"}
    assert [p.name for p in (tmp_path / "tokens").iterdir()] == ["keep.parquet"]


def test_a_corrupt_manifest_is_reported_not_guessed(tmp_path):
    manifest_path(tmp_path).write_text("{not json")
    with pytest.raises(ManifestError, match=r"_manifest\.json is unreadable"):
        load_manifest(tmp_path)
    manifest_path(tmp_path).write_text(json.dumps({"format": 99, "version": 1, "tables": {}}))
    with pytest.raises(ManifestError, match="has format 99"):
        load_manifest(tmp_path)


def test_tables_without_a_manifest_are_refused(tmp_path):
    empty_part(tmp_path, "tokens", "old")
    with pytest.raises(ManifestError, match="written by an older khabar"):
        load_manifest(tmp_path)


def test_reading_a_missing_table_gives_an_empty_table_of_its_schema(tmp_path):
    assert read_table(tmp_path, "runs").schema.equals(RUNS)
