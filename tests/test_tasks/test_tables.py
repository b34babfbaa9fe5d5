"""The Delta tables and the snapshots that pin them (tasks.tables), against real Delta logs on disk."""

import polars as pl
import pytest

from schemas import RUNS, TOKENS
from tasks.faults import ENV as FAILPOINT_ENV
from tasks.storage import TMP_PREFIX, OutputFolderError, to_arrow, write_part
from tasks.tables import TableError, TableWriter, load_for_reading, read_table, snapshot_of_run

RUN = "20261129T010203040506Z-abcdef"  # run ids as tasks.runlog.new_run_id makes them
LATER = "20261129T020000000000Z-123456"
LAST = "20261129T030000000000Z-654321"


def tokens_part(out, name, doc_ids):
    cols = {n: [] for n in TOKENS.names}
    for i, doc_id in enumerate(doc_ids):
        row = {"doc_id": doc_id, "token_idx": i, "sentence_idx": 0, "char_start": 0, "char_end": 1}
        for n in TOKENS.names:
            cols[n].append(row.get(n, "x"))
    return write_part(out, "tokens", name, to_arrow(cols, TOKENS))


def runs_part(out, run_id):
    return write_part(out, "runs", run_id, RUNS.empty_table())


def doc_ids(out, snapshot=None):
    return sorted(read_table(out, "tokens", ["doc_id"], snapshot=snapshot).column("doc_id").to_pylist())


def test_only_committed_parts_are_read_by_khabar_and_by_any_delta_reader(tmp_path):
    writer = TableWriter.open(tmp_path, RUN)
    committed = tokens_part(tmp_path, f"{RUN}-00000", ["a", "b"])
    tokens_part(tmp_path, f"{RUN}-00001", ["c"])  # written, never committed
    writer.commit("shard", add={"tokens": [committed]})
    assert doc_ids(tmp_path) == ["a", "b"]
    assert sorted(pl.read_delta(str(tmp_path / "tokens"))["doc_id"].to_list()) == ["a", "b"]


def test_a_step_is_seen_whole_or_not_at_all_and_the_next_writer_undoes_half_a_step(tmp_path, monkeypatch):
    """Killed between the tables of one step: khabar's readers see the step before it, and the next writer
    restores the table that went ahead, so Delta readers of the latest versions agree again."""
    writer = TableWriter.open(tmp_path, RUN)
    writer.commit("shard", add={"tokens": [tokens_part(tmp_path, f"{RUN}-00000", ["a"])]})
    before = load_for_reading(tmp_path)

    crashed = TableWriter.open(tmp_path, LATER)
    half = {"tokens": [tokens_part(tmp_path, f"{LATER}-00000", ["b"])], "runs": [runs_part(tmp_path, LATER)]}
    monkeypatch.setattr("tasks.tables.failpoint", _raise_at("commit.between_tables"))
    with pytest.raises(_Killed):
        crashed.commit("shard", add=half)
    assert sorted(pl.read_delta(str(tmp_path / "tokens"))["doc_id"].to_list()) == ["a", "b"]  # Delta's latest
    assert doc_ids(tmp_path) == ["a"] and load_for_reading(tmp_path).versions == before.versions  # khabar's

    monkeypatch.undo()
    TableWriter.open(tmp_path, LAST)
    assert sorted(pl.read_delta(str(tmp_path / "tokens"))["doc_id"].to_list()) == ["a"]
    assert not (tmp_path / "runs" / f"{LATER}.parquet").exists()  # never committed: deleted
    assert (tmp_path / "tokens" / f"{LATER}-00000.parquet").exists()  # an older version names it: kept for vacuum


class _Killed(BaseException):
    pass


def _raise_at(point):
    def failpoint(name):
        if name == point:
            raise _Killed(name)

    return failpoint


def test_a_writer_deletes_only_the_parts_no_commit_took(tmp_path):
    writer = TableWriter.open(tmp_path, RUN)
    old = tokens_part(tmp_path, f"{RUN}-00000", ["a"])
    writer.commit("shard", add={"tokens": [old]})
    replacing = TableWriter.open(tmp_path, LATER)
    new = tokens_part(tmp_path, f"{LATER}-kept-00000", ["a2"])
    replacing.commit("reprocess", add={"tokens": [new]}, remove=[old.path])
    stray = tokens_part(tmp_path, f"{LATER}-00001", ["z"])  # written, never committed: the run was killed
    temporary = tmp_path / "tokens" / f"{TMP_PREFIX}{'a' * 32}-{LATER}-00002.parquet"
    temporary.write_bytes(b"PAR1 half written")

    TableWriter.open(tmp_path, LAST)
    left = sorted(p.name for p in (tmp_path / "tokens").iterdir() if p.suffix == ".parquet")
    assert left == [f"{RUN}-00000.parquet", f"{LATER}-kept-00000.parquet"]  # the retired part waits for vacuum
    assert not (tmp_path / stray.path).exists() and not temporary.exists()
    assert doc_ids(tmp_path) == ["a2"]


def test_a_finished_run_removes_its_own_stray_parts(tmp_path):
    writer = TableWriter.open(tmp_path, RUN)
    kept = tokens_part(tmp_path, f"{RUN}-00000", ["a"])
    stray = tokens_part(tmp_path, f"{RUN}-00001", ["b"])  # a shard that failed after writing one table
    writer.commit("shard", add={"tokens": [kept]})
    writer.finish()
    assert not (tmp_path / stray.path).exists() and (tmp_path / kept.path).exists()


def test_a_finished_run_removes_the_temporary_file_of_its_worker_killed_mid_write(tmp_path):
    """Ctrl-C kills the workers at once: one may leave a part under its temporary name (write_parquet).
    The run's end deletes it with the parts no commit took; another run's is left to the next writer."""
    writer = TableWriter.open(tmp_path, RUN)
    ours = tmp_path / "tokens" / f"{TMP_PREFIX}{'a' * 32}-{RUN}-00002.parquet"
    ours.write_bytes(b"PAR1 half written")
    writer.finish()
    assert not ours.exists()
    assert [p.name for p in (tmp_path / "tokens").iterdir() if p.suffix == ".parquet"] == []


def test_as_of_reads_the_tables_as_a_run_committed_them(tmp_path):
    writer = TableWriter.open(tmp_path, RUN)
    old = tokens_part(tmp_path, f"{RUN}-00000", ["a"])
    writer.commit("shard", add={"tokens": [old]})
    later = TableWriter.open(tmp_path, LATER)
    later.commit("reprocess", add={"tokens": [tokens_part(tmp_path, f"{LATER}-00000", ["b"])]}, remove=[old.path])
    assert doc_ids(tmp_path) == ["b"]
    assert doc_ids(tmp_path, snapshot_of_run(tmp_path, RUN)) == ["a"]
    with pytest.raises(TableError, match="no run 2026"):
        snapshot_of_run(tmp_path, LAST)


def test_a_foreign_file_in_a_table_folder_stops_the_writer_and_is_kept(tmp_path):
    TableWriter.open(tmp_path, RUN)
    (tmp_path / "files" / "keep.pdf").write_bytes(b"%PDF")
    with pytest.raises(OutputFolderError, match="holds files khabar did not write in its table folders"):
        TableWriter.open(tmp_path, LATER)
    assert (tmp_path / "files" / "keep.pdf").read_bytes() == b"%PDF"


def test_parts_without_a_delta_log_are_refused_not_guessed(tmp_path):
    tokens_part(tmp_path, f"{RUN}-00000", ["a"])
    with pytest.raises(OutputFolderError, match="khabar parts without a Delta log"):
        load_for_reading(tmp_path)
    with pytest.raises(OutputFolderError, match="khabar parts without a Delta log"):
        TableWriter.open(tmp_path, RUN)
    assert (tmp_path / "tokens" / f"{RUN}-00000.parquet").exists()


def test_tables_without_their_commits_table_are_refused(tmp_path):
    import shutil

    writer = TableWriter.open(tmp_path, RUN)
    writer.commit("shard", add={"tokens": [tokens_part(tmp_path, f"{RUN}-00000", ["a"])]})
    shutil.rmtree(tmp_path / "_commits")
    with pytest.raises(OutputFolderError, match="no _commits table"):
        TableWriter.open(tmp_path, LATER)
    assert doc_ids_in_delta(tmp_path) == ["a"]


def doc_ids_in_delta(out):
    return sorted(pl.read_delta(str(out / "tokens"))["doc_id"].to_list())


def test_a_table_older_than_its_snapshot_is_refused(tmp_path):
    writer = TableWriter.open(tmp_path, RUN)
    writer.commit("shard", add={"tokens": [tokens_part(tmp_path, f"{RUN}-00000", ["a"])]})
    (tmp_path / "tokens" / "_delta_log" / f"{1:020d}.json").unlink()  # a log restored from an older backup
    with pytest.raises(TableError, match="older than the version 1 khabar committed"):
        TableWriter.open(tmp_path, LATER)


def test_reading_a_folder_never_written_gives_empty_tables_of_their_schema(tmp_path):
    assert read_table(tmp_path, "runs").schema.equals(RUNS)
    assert read_table(tmp_path / "missing", "tokens").num_rows == 0


def test_failpoint_names_exist():
    from tasks.faults import POINTS

    assert FAILPOINT_ENV == "KHABAR_FAILPOINT"
    assert {"commit.before_tables", "commit.between_tables", "commit.before_snapshot"} <= set(POINTS)


def test_a_folder_written_before_a_table_gained_columns_is_upgraded_when_next_written(tmp_path, monkeypatch):
    """sentences gained is_boilerplate and boilerplate_chars. A folder whose sentences table lacks them gets
    them added to its Delta schema by the next writer (an "upgrade" step); its earlier files read them as
    nulls, through khabar, khabar check, the DuckDB export and any Delta reader."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from reports.export import export_duckdb
    from schemas import SENTENCES, TABLES
    from tasks.check import check_tables
    from tasks.documents import content_hash
    from tasks.shards import ShardSpec, process_shard

    raw, out = tmp_path / "raw", tmp_path / "out"
    (raw / "2026-11-01" / "wahat").mkdir(parents=True)
    older = pa.schema([f for f in SENTENCES if f.name not in ("is_boilerplate", "boilerplate_chars")])

    def shard(run_id, name, text):
        path = raw / "2026-11-01" / "wahat" / name
        path.write_text(text, encoding="utf-8")
        rel = f"2026-11-01/wahat/{name}"
        spec = ShardSpec(f"{run_id}-00000", str(raw), str(out), (rel,), (content_hash(path.read_bytes()),), run_id, "f")
        return process_shard(spec).parts

    monkeypatch.setitem(TABLES, "sentences", older)  # the khabar before: tables created without the columns
    writer = TableWriter.open(out, RUN)
    monkeypatch.undo()
    parts = shard(RUN, "a.txt", "زار الوزير الرياض.\nثم عاد.\n")
    old_part = out / parts["sentences"].path
    parts["sentences"] = write_part(out, "sentences", f"{RUN}-00000", pq.read_table(old_part).select(older.names))
    writer.commit("shard", add={table: [part] for table, part in parts.items()})
    assert "is_boilerplate" not in pl.read_delta(str(out / "sentences")).columns
    assert check_tables(out).problems == [] and read_table(out, "sentences").column("is_boilerplate").null_count == 2

    writer = TableWriter.open(out, LATER)
    assert writer.snapshot.run_id == LATER  # the upgrade is a step of its own
    writer.commit("shard", add={table: [part] for table, part in shard(LATER, "b.txt", "افتتح معرض في جدة.\n").items()})

    assert check_tables(out).problems == []
    marks = read_table(out, "sentences").sort_by("char_start").column("is_boilerplate").to_pylist()
    assert sorted(marks, key=str) == [False, None, None]
    delta = pl.read_delta(str(out / "sentences"))
    assert delta.columns == SENTENCES.names and delta["boilerplate_chars"].null_count() == 2
    exported = export_duckdb(load_for_reading(out), tmp_path / "khabar.duckdb")
    with duckdb.connect(str(exported), read_only=True) as con:
        rows = con.execute("SELECT count(*), count(is_boilerplate) FROM _sentences").fetchone()
    assert rows == (3, 1)
