import hashlib
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import RUNS, TOKENS
from tasks.manifest import (
    Manifest,
    ManifestError,
    OutputFolderError,
    Part,
    commit_manifest,
    load_manifest,
    manifest_path,
)
from tasks.storage import (
    TMP_PREFIX,
    audit,
    load_for_reading,
    open_for_writing,
    read_table,
    remove_strays,
    run_of,
    to_arrow,
    write_part,
)

RUN = "20261129T010203040506Z-abcdef"  # a run id as tasks.runlog.new_run_id makes them


def empty_part(out, table, name):
    return write_part(out, table, name, to_arrow({n: [] for n in TOKENS.names}, TOKENS))


def test_to_arrow_uses_the_schema_and_rejects_wrong_types():
    cols = {name: [] for name in TOKENS.names}
    assert to_arrow(cols, TOKENS).schema == TOKENS
    bad = {**cols, "doc_id": ["a"], "token_idx": ["not a number"]}
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        to_arrow(bad, TOKENS)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    part = empty_part(tmp_path, "tokens", "p1")
    path = tmp_path / part.path
    assert [p.name for p in path.parent.iterdir()] == ["p1.parquet"]
    assert pq.read_schema(path).equals(TOKENS)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert (part.size, part.sha256) == (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())


def test_only_parts_in_the_manifest_are_read(tmp_path):
    first = commit_manifest(tmp_path, Manifest())  # writers commit an empty manifest before any part
    committed = empty_part(tmp_path, "tokens", "a")
    empty_part(tmp_path, "tokens", "uncommitted")
    assert load_for_reading(tmp_path).parts(tmp_path, "tokens") == []
    commit_manifest(tmp_path, first.changed(add={"tokens": [committed]}))
    assert [p.name for p in load_for_reading(tmp_path).parts(tmp_path, "tokens")] == ["a.parquet"]


def test_commits_count_up_and_refuse_missing_files(tmp_path):
    first = commit_manifest(tmp_path, Manifest())
    assert first.version == 1 and load_manifest(tmp_path).version == 1
    with pytest.raises(ManifestError, match="references missing files"):
        commit_manifest(tmp_path, first.changed(add={"tokens": [Part("tokens/ghost.parquet", 1, "x")]}))
    assert load_manifest(tmp_path).version == 1


def test_run_names_are_recognised_and_nothing_else():
    from tasks.runlog import new_run_id

    run_id = new_run_id(datetime.now(UTC))
    for name in (run_id, f"{run_id}-00003", f"{run_id}-kept-00000", f"{TMP_PREFIX}{'0' * 32}-{run_id}-00001"):
        assert run_of(f"{name}.parquet") == run_id
    for name in ("keep.pdf", f"{run_id}.parquet.bak", f"x{run_id}.parquet", "orphan.parquet", f"{run_id}.csv"):
        assert run_of(name) is None


def test_a_writer_deletes_only_what_khabar_left_behind(tmp_path):
    """Retired parts and the stray parts of a run that never finished go; nothing else is deleted."""
    first = commit_manifest(tmp_path, Manifest().started(RUN))
    old = empty_part(tmp_path, "tokens", f"{RUN}-00000")
    commit_manifest(tmp_path, first.changed(add={"tokens": [old]}).finished(RUN))
    crashed = "20261129T020000000000Z-123456"
    start = commit_manifest(tmp_path, load_manifest(tmp_path).started(crashed))
    new = empty_part(tmp_path, "tokens", f"{crashed}-kept-00000")
    stray = empty_part(tmp_path, "tokens", f"{crashed}-00001")  # written, never committed: the run was killed
    (tmp_path / "tokens" / f"{TMP_PREFIX}{'a' * 32}-{crashed}-00002.parquet").write_bytes(b"PAR1 half written")
    (tmp_path / f"{TMP_PREFIX}{'b' * 32}-_manifest.json").write_text("{")
    replaced = commit_manifest(tmp_path, start.changed(add={"tokens": [new]}, remove=[old.path]))
    assert replaced.retired == (old.path,) and replaced.open_runs == (crashed,)

    found = audit(tmp_path, load_manifest(tmp_path))
    assert found.problems(tmp_path) == []
    assert {p.name for p in found.garbage} == {
        f"{RUN}-00000.parquet",
        f"{crashed}-00001.parquet",
        f"{TMP_PREFIX}{'a' * 32}-{crashed}-00002.parquet",
        f"{TMP_PREFIX}{'b' * 32}-_manifest.json",
    }
    after = open_for_writing(tmp_path, "20261129T030000000000Z-654321")
    assert after.open_runs == ("20261129T030000000000Z-654321",) and after.retired == ()
    assert sorted(p.name for p in (tmp_path / "tokens").iterdir()) == [f"{crashed}-kept-00000.parquet"]
    assert not (tmp_path / stray.path).exists()


def test_a_finished_run_removes_its_own_stray_parts(tmp_path):
    start = commit_manifest(tmp_path, Manifest().started(RUN))
    kept = empty_part(tmp_path, "tokens", f"{RUN}-00000")
    stray = empty_part(tmp_path, "sentences", f"{RUN}-00001")  # a shard that failed after writing one table
    manifest = start.changed(add={"tokens": [kept]})
    assert [p.name for p in remove_strays(tmp_path, manifest, RUN)] == [f"{RUN}-00001.parquet"]
    assert not (tmp_path / stray.path).exists() and (tmp_path / kept.path).exists()


def test_a_foreign_file_in_a_table_folder_stops_the_writer_and_is_kept(tmp_path):
    commit_manifest(tmp_path, Manifest())
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "keep.pdf").write_bytes(b"%PDF")
    with pytest.raises(OutputFolderError, match="holds files khabar did not write in its table folders"):
        open_for_writing(tmp_path, RUN)
    assert (tmp_path / "files" / "keep.pdf").read_bytes() == b"%PDF"


def test_a_manifest_emptier_than_the_parts_on_disk_stops_the_writer(tmp_path):
    start = commit_manifest(tmp_path, Manifest().started(RUN))
    part = empty_part(tmp_path, "runs", RUN)
    commit_manifest(tmp_path, start.changed(add={"runs": [part]}).finished(RUN))
    manifest_path(tmp_path).write_text(
        json.dumps(
            {
                "format": 2,
                "version": 7,
                "updated_at": "",
                "open_runs": [],
                "retired": [],
                "tables": {
                    name: [] for name in ("documents", "sentences", "tokens", "entities", "files", "quarantine", "runs")
                },
            }
        )
    )
    with pytest.raises(OutputFolderError, match="is older or emptier than the parts on disk"):
        open_for_writing(tmp_path, "20261130T010203040506Z-abcdef")
    assert (tmp_path / part.path).exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", r"_manifest\.json is unreadable"),
        (json.dumps({"format": 99, "version": 1, "tables": {}}), "format 99"),
        (json.dumps({"format": 1}), "not a valid khabar manifest"),
        (json.dumps({"format": 1, "version": 7, "tables": {}}), "it lists no documents, sentences"),
        (json.dumps({"format": 2, "version": 3, "tables": {"documents": None}}), "not a valid khabar manifest"),
        (json.dumps([1, 2]), "not a valid khabar manifest"),
    ],
)
def test_a_corrupt_manifest_is_reported_not_guessed(tmp_path, body, message):
    manifest_path(tmp_path).write_text(body)
    with pytest.raises(ManifestError, match=message):
        load_manifest(tmp_path)


def test_tables_without_a_manifest_are_refused(tmp_path):
    empty_part(tmp_path, "tokens", f"{RUN}-00000")
    with pytest.raises(OutputFolderError, match=r"holds khabar tables .* but no _manifest\.json"):
        load_for_reading(tmp_path)


def test_reading_a_missing_table_gives_an_empty_table_of_its_schema(tmp_path):
    assert read_table(tmp_path, "runs").schema.equals(RUNS)
