"""The nightly flow end to end on the sample corpus, in-process against the session's Prefect server."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from pipeline import parquet_digests, read_all, run_pipeline, state_of

from schemas import TABLES

pytestmark = pytest.mark.usefixtures("prefect_api_url")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, prefect_api_url):
    """The sample corpus processed once with two worker processes and small shards."""
    from fixtures.make_sample_corpus import write_corpus

    root = tmp_path_factory.mktemp("sample")
    raw, out = root / "raw", root / "out"
    write_corpus(raw)
    summary = run_pipeline(raw, out, workers=2, shard_size=5)
    return raw, out, summary


def test_every_parquet_file_has_its_tables_exact_schema(sample_run):
    import pyarrow.parquet as pq

    _, out, _ = sample_run
    from tasks.tables import load_for_reading

    snapshot = load_for_reading(out)
    parts = [path for table in TABLES for path in snapshot.files(table)]
    assert {p.parent.name for p in parts} == set(TABLES)
    for part in parts:
        assert pq.read_schema(part).equals(TABLES[part.parent.name], check_metadata=False), part


def test_the_run_summary_counts_the_sample_corpus(sample_run):
    _, _, s = sample_run
    assert (s.files_seen, s.files_read, s.docs_new, s.docs_failed, s.files_quarantined) == (14, 14, 12, 0, 1)
    assert s.n_shards == 4 and s.workers == 2  # 12 documents, shards of at most 5, whole rounds for 2 workers
    assert s.quarantined == {"empty_text": 1}
    assert s.status == "completed"


def test_offsets_of_every_row_point_into_the_document_text(sample_run):
    _, out, _ = sample_run
    texts = dict(zip(*(read_all(out, "documents").column(c).to_pylist() for c in ("doc_id", "text")), strict=True))
    for table in ("sentences", "tokens", "entities"):
        rows = read_all(out, table).to_pylist()
        assert rows, table
        text_col = "text" if table == "sentences" else "surface"
        for row in rows:
            assert texts[row["doc_id"]][row["char_start"] : row["char_end"]] == row[text_col], (table, row)


def test_documents_counts_match_their_child_tables(sample_run):
    import collections

    _, out, _ = sample_run
    docs = {d["doc_id"]: d for d in read_all(out, "documents").to_pylist()}
    for table, column in (("sentences", "n_sentences"), ("tokens", "n_tokens"), ("entities", "n_entities")):
        counts = collections.Counter(read_all(out, table).column("doc_id").to_pylist())
        assert {k: v[column] for k, v in docs.items() if v[column]} == dict(counts), table


def test_every_input_file_is_accounted_for(sample_run):
    raw, out, _ = sample_run
    files = {f["path"]: f for f in read_all(out, "files").to_pylist()}
    on_disk = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.txt"))
    assert sorted(files) == on_disk
    assert files["2026-11-03/wahat-news/empty-draft.txt"]["status"] == "quarantined"
    assert files["2026-11-03/wahat-news/empty-draft.txt"]["reason"] == "empty_text"
    copy = files["2026-11-03/wahat-news/wire-copy-of-opec-meeting.txt"]
    assert copy["status"] == "duplicate"
    assert copy["doc_id"] == files["2026-11-03/wahat-news/opec-meeting.txt"]["doc_id"]


def test_encodings_sources_and_dates_are_recorded(sample_run):
    _, out, _ = sample_run
    docs = {d["path"].rsplit("/", 1)[1]: d for d in read_all(out, "documents").to_pylist()}
    assert docs["amman-book-fair.txt"]["encoding"] == "cp1256"
    assert docs["football-derby.txt"]["encoding"] == "utf-16-le"
    assert docs["amman-book-fair.txt"]["title"].startswith("معرض عمّان للكتاب")
    assert {d["source"] for d in docs.values()} == {"wahat-news", "sahel-daily"}
    assert len({d["published_date"] for d in docs.values()}) == 3
    harvest = docs["baghdad-date-harvest.txt"]["text"]
    assert "\u0640" not in harvest and "\u200f" not in docs["tunis-health-campaign.txt"]["text"]


def test_entities_carry_extractor_name_and_version(sample_run):
    _, out, _ = sample_run
    entities = read_all(out, "entities")
    assert set(entities.column("extractor").to_pylist()) == {"gazetteer"}
    assert len(set(entities.column("extractor_version").to_pylist())) == 1
    assert set(entities.column("type").to_pylist()) <= {"PERS", "LOC", "ORG", "MISC"}


def test_second_run_processes_nothing_and_leaves_every_parquet_file_identical(tmp_path, sample_run):
    raw, out, _ = sample_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    before = parquet_digests(copy)
    again = run_pipeline(raw, copy)
    assert (again.files_read, again.docs_new, again.n_shards) == (0, 0, 0)
    assert again.docs_skipped == 13
    after = parquet_digests(copy)
    assert {k: after[k] for k in before} == before
    # The run adds its own record, a files snapshot and the step that pins them, nothing else.
    assert sorted(set(after) - set(before)) == [
        f"_commits/{again.run_id}-00000.parquet",
        f"files/{again.run_id}.parquet",
        f"runs/{again.run_id}.parquet",
    ]
    assert len(read_all(copy, "runs")) == 2


def test_adding_one_file_processes_only_that_file(tmp_path, sample_run):
    raw, out, _ = sample_run
    raw2, out2 = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(raw, raw2)
    shutil.copytree(out, out2)
    before = parquet_digests(out2)
    new = raw2 / "2026-11-04" / "wahat-news" / "new-story.txt"
    new.parent.mkdir(parents=True)
    new.write_text("خبر جديد\nزار الوفد روسيا والصين أمس.\n", encoding="utf-8")
    s = run_pipeline(raw2, out2)
    assert (s.files_read, s.docs_new, s.n_shards) == (1, 1, 1)
    after = parquet_digests(out2)
    assert {k: after[k] for k in before} == before
    added = {k.split("/")[0] for k in set(after) - set(before)}
    assert added == {*TABLES, "_commits"} - {"quarantine"}  # nothing was quarantined this time
    state = state_of(out2)
    assert state.files["2026-11-04/wahat-news/new-story.txt"].status == "processed"
    assert len(state.known_docs) == 13


def test_a_file_that_breaks_processing_is_quarantined_and_the_run_goes_on(tmp_path, monkeypatch):
    import tasks.shards

    def explode(rel_path, data, *args):
        if "bad" in rel_path:
            raise RuntimeError("boom")
        return real(rel_path, data, *args)

    real = tasks.shards.process_document
    monkeypatch.setattr(tasks.shards, "process_document", explode)
    raw = tmp_path / "raw"
    (raw / "src").mkdir(parents=True)
    (raw / "src" / "bad.txt").write_text("نص سيئ", encoding="utf-8")
    (raw / "src" / "good.txt").write_text("نص جيد عن مصر", encoding="utf-8")
    (raw / "src" / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    s = run_pipeline(raw, tmp_path / "out")
    assert s.status == "completed" and s.docs_new == 1
    assert s.quarantined == {"processing_error": 1, "binary_content": 1}
    files = state_of(tmp_path / "out").files
    assert files["src/bad.txt"].detail == "RuntimeError: boom"


def test_a_failing_shard_marks_its_files_failed_and_the_next_run_retries_them(tmp_path, monkeypatch):
    import tasks.shards

    raw = tmp_path / "raw"
    (raw / "src").mkdir(parents=True)
    for i in range(3):
        (raw / "src" / f"{i}.txt").write_text(f"خبر رقم {i} من القاهرة", encoding="utf-8")
    out = tmp_path / "out"

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tasks.shards, "write_part", disk_full)
    failed = run_pipeline(raw, out, shard_size=2, shard_retries=0)
    assert failed.status == "completed_with_failures"
    assert failed.docs_failed == 3 and failed.docs_new == 0
    assert {r.status for r in state_of(out).files.values()} == {"failed"}
    monkeypatch.undo()
    retried = run_pipeline(raw, out)
    assert (retried.files_read, retried.docs_new, retried.status) == (3, 3, "completed")


def test_the_run_leaves_a_markdown_summary_artifact(sample_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, ArtifactFilterType

    _, _, summary = sample_run
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["khabar-run-summary"]), type=ArtifactFilterType(any_=["markdown"])
            )
        )
    mine = [a for a in artifacts if summary.run_id in str(a.data)]
    assert len(mine) == 1
    assert "| documents new | 12 |" in str(mine[0].data)
    assert str(mine[0].flow_run_id) == summary.flow_run_id
    with get_client(sync_client=True) as client:
        tables = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["khabar-run-top-entities"]))
        )
    (table,) = [a for a in tables if str(a.flow_run_id) == summary.flow_run_id]
    rows = json.loads(table.data)
    assert rows[0].keys() == {"type", "name", "canonical_key", "mentions", "documents"}
    assert rows == sorted(rows, key=lambda r: -r["mentions"])


def test_the_artifacts_top_entities_are_read_while_the_run_records_itself(tmp_path, monkeypatch):
    """The flow starts reading its artifact's top entities once the last shard is committed, before the files
    table and the run record are written (on a thread, beside them); the table it gets is the one read after."""
    from fixtures.make_sample_corpus import write_corpus

    from flows.artifacts import TopEntitiesReader
    from reports.query import top_entities

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_corpus(raw)
    handed: list[tuple[list[str], int, bool]] = []
    start, result = TopEntitiesReader.start, TopEntitiesReader.result
    got = []

    def start_spy(self, parts):
        handed.append(
            (list(parts), len(list((out / "runs").glob("*.parquet"))), all((out / p).is_file() for p in parts))
        )
        start(self, parts)

    monkeypatch.setattr(TopEntitiesReader, "start", start_spy)
    monkeypatch.setattr(TopEntitiesReader, "result", lambda self, parts: got.append(result(self, parts)) or got[-1])
    summary = run_pipeline(raw, out, workers=2, shard_size=5)
    ((parts, records_then, parts_there),) = handed
    assert (records_then, parts_there, len(parts)) == (0, True, summary.n_shards)
    assert len(list((out / "runs").glob("*.parquet"))) == 1
    assert got == [top_entities(out, parts)] and len(got[0]) == 10


def test_shards_are_committed_first_at_once_then_in_steps_of_several(monkeypatch):
    """A step costs five Delta commits: after the first shard, shards finishing close together share one."""
    from flows.lifecycle import ShardCommitter
    from tasks.shards import ShardResult
    from tasks.storage import Part

    class Writer:
        def __init__(self):
            self.steps = []

        def commit(self, kind, add):
            self.steps.append((kind, {table: [p.path for p in parts] for table, parts in add.items()}))

    clock = [100.0]
    monkeypatch.setattr("flows.lifecycle.time.monotonic", lambda: clock[0])
    writer = Writer()
    committer = ShardCommitter(writer)

    def shard(n):
        return ShardResult(f"p{n}", parts={"documents": Part(f"documents/p{n}.parquet", 1, "h", 1)})

    committer(shard(0))
    assert len(writer.steps) == 1  # the first shard at once
    clock[0] += 1
    committer(shard(1))
    committer(shard(2))
    assert len(writer.steps) == 1  # within COMMIT_EVERY_S: pending
    clock[0] += ShardCommitter.COMMIT_EVERY_S
    committer(shard(3))
    assert writer.steps[-1] == (
        "shard",
        {"documents": ["documents/p1.parquet", "documents/p2.parquet", "documents/p3.parquet"]},
    )
    committer(ShardResult("empty"))  # a shard that wrote nothing adds nothing
    committer.flush()
    assert len(writer.steps) == 2


def _wait_for_parts(out, specs, timeout_s=120.0):
    """Until every shard of the specs has written its documents part (shards run with no flow yet)."""

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        written = {p.stem for p in (out / "documents").glob("*.parquet")}
        if all(spec.part in written for spec in specs):
            return
        time.sleep(0.05)
    raise AssertionError(f"shards not written in {timeout_s} s: {sorted(written)}")


def test_a_run_planned_ahead_runs_its_shards_while_prefect_starts_and_the_flow_takes_them(tmp_path):
    """The CLI plans the run and starts its shards before Prefect is ready; the flow then commits those."""
    from fixtures.make_sample_corpus import write_corpus

    from flows.lifecycle import plan_ahead
    from flows.nightly import run_nightly
    from flows.settings import Settings

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_corpus(raw)
    settings = Settings(raw_dir=raw, out_dir=out, workers=2, shard_size=5, shard_retry_delay_s=0)
    with plan_ahead(settings) as planned:
        assert len(planned.specs) == 4 and planned.executor is not None
        _wait_for_parts(out, planned.specs)  # done before any flow run exists
        summary = run_nightly(settings)
    assert summary.run_id == planned.run.run_id  # the flow took the plan, not one of its own
    assert (summary.docs_new, summary.docs_failed, summary.n_shards, summary.files_quarantined) == (12, 0, 4, 1)
    assert read_all(out, "documents").num_rows == 12
    assert state_of(out).files.keys() == {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()}
    assert run_pipeline(raw, out, workers=2).docs_new == 0


def _last_file(raw):
    """The last file a run reads, in path order, as the planner names it."""
    return max(p.relative_to(raw).as_posix() for p in raw.rglob("*.txt"))


def _a_part_written(out, timeout_s=20.0):
    """Whether a shard writes its documents part within timeout_s (shards run with no flow yet)."""
    deadline = time.monotonic() + timeout_s
    while not list((out / "documents").glob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(list((out / "documents").glob("*.parquet")))


def test_a_run_planned_ahead_starts_its_first_shards_before_it_has_read_every_file(tmp_path, monkeypatch):
    """Reading and hashing every file to read took a core for 0.5 s at 20,000 files before any shard could
    start; the plan now queues each shard once its files are read and the boilerplate is settled. The last
    shard's files are read here only once the first shard's part is written (fails when shards start after
    the plan: it waits out its timeout)."""
    from fixtures.make_sample_corpus import write_corpus

    from flows import lifecycle
    from flows.nightly import run_nightly
    from flows.settings import Settings

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_corpus(raw)
    monkeypatch.setattr("tasks.boilerplate.MAX_COUNTED", 2)  # both sources' boilerplate settled by the first shard
    read_facts, first_written = lifecycle.read_facts, []

    def read_facts_after_the_first_shard(raw_dir, stats, *args):
        if stats[-1].path == _last_file(raw):
            first_written.append(_a_part_written(out))
        return read_facts(raw_dir, stats, *args)

    monkeypatch.setattr(lifecycle, "read_facts", read_facts_after_the_first_shard)
    settings = Settings(raw_dir=raw, out_dir=out, workers=2, shard_size=5, shard_retry_delay_s=0)
    with lifecycle.plan_ahead(settings) as planned:
        summary = run_nightly(settings)
    assert first_written == [True]
    assert summary.run_id == planned.run.run_id and (summary.docs_new, summary.docs_failed) == (12, 0)
    assert run_pipeline(raw, out, workers=2).docs_new == 0


def test_with_one_worker_a_run_planned_ahead_still_runs_its_shards_while_prefect_starts(tmp_path):
    """One worker ran its shards in the flow's own process, so they waited for Prefect's start (1.2 s of a
    300-article run's 7.8 s); planned ahead, the one worker is a process of its own, as two are."""
    from fixtures.make_sample_corpus import write_corpus

    from flows.lifecycle import plan_ahead
    from flows.nightly import run_nightly
    from flows.settings import Settings

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_corpus(raw)
    settings = Settings(raw_dir=raw, out_dir=out, workers=1, shard_size=5, shard_retry_delay_s=0)
    with plan_ahead(settings) as planned:
        _wait_for_parts(out, planned.specs)  # done before any flow run exists
        summary = run_nightly(settings)
    assert summary.run_id == planned.run.run_id
    assert (summary.docs_new, summary.docs_failed, summary.n_shards, summary.workers) == (12, 0, 3, 1)
    assert run_pipeline(raw, out).docs_new == 0


def test_a_run_planned_ahead_that_no_flow_takes_leaves_nothing_behind(tmp_path):
    """Prefect failed to start, or Ctrl-C before the flow: the early shards' parts go, the folder is free."""
    from fixtures.make_sample_corpus import write_corpus

    from flows.lifecycle import plan_ahead
    from flows.settings import Settings

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_corpus(raw)
    settings = Settings(raw_dir=raw, out_dir=out, workers=2, shard_size=5, shard_retry_delay_s=0)
    with pytest.raises(RuntimeError, match="no Prefect"), plan_ahead(settings) as planned:
        _wait_for_parts(out, planned.specs[:2])
        raise RuntimeError("no Prefect")
    assert not [p for p in out.rglob("*.parquet") if p.name.startswith(planned.run.run_id)]
    summary = run_pipeline(raw, out, workers=2, shard_size=5)  # the lock was released
    assert (summary.docs_new, summary.docs_failed) == (12, 0)


def test_a_run_releases_its_workers_once_its_shards_are_done_before_its_files_table(tmp_path, monkeypatch):
    """The workers held 800 MB at 50,000 articles while the run wrote its files table and read its top
    entities, the peak of the whole run: they are let go with the last shard (fails without it)."""
    from fixtures.make_sample_corpus import write_corpus

    from flows.lifecycle import plan_ahead
    from flows.nightly import run_nightly
    from flows.settings import Settings
    from flows.workers import ShardWorkers

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_corpus(raw)
    files_parts_then, release = [], ShardWorkers.release

    def release_seen(self):
        files_parts_then.append(sorted((out / "files").glob("*.parquet")))
        release(self)

    monkeypatch.setattr(ShardWorkers, "release", release_seen)
    settings = Settings(raw_dir=raw, out_dir=out, workers=2, shard_size=5, shard_retry_delay_s=0)
    with plan_ahead(settings):
        summary = run_nightly(settings)
    assert files_parts_then == [[]]  # once, before the files table
    assert (summary.docs_new, summary.docs_failed) == (12, 0)


def test_a_plan_that_fails_after_its_first_shards_started_stops_them_and_leaves_nothing_behind(tmp_path, monkeypatch):
    """A disk error while the last files are read, the first shards already running: they are stopped and
    their parts deleted before the folder's lock is released (fails if the workers are left to run)."""
    from fixtures.make_sample_corpus import write_corpus

    from flows import lifecycle
    from flows.settings import Settings

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_corpus(raw)
    monkeypatch.setattr("tasks.boilerplate.MAX_COUNTED", 2)
    read_facts = lifecycle.read_facts

    def failing_once_a_shard_runs(raw_dir, stats, *args):
        if stats[-1].path == _last_file(raw):
            _a_part_written(out)
            raise OSError(5, "Input/output error")
        return read_facts(raw_dir, stats, *args)

    monkeypatch.setattr(lifecycle, "read_facts", failing_once_a_shard_runs)
    settings = Settings(raw_dir=raw, out_dir=out, workers=2, shard_size=5, shard_retry_delay_s=0)
    with pytest.raises(lifecycle.RunFailedError, match="Input/output error"), lifecycle.plan_ahead(settings):
        pass
    time.sleep(1)  # a worker left running would write its part meanwhile
    assert not list(out.rglob("*.parquet"))
    monkeypatch.setattr(lifecycle, "read_facts", read_facts)
    summary = run_pipeline(raw, out, workers=2, shard_size=5)  # the lock was released
    assert (summary.docs_new, summary.docs_failed) == (12, 0)


def test_planning_a_first_run_into_a_new_folder_imports_neither_pandas_nor_prefect(tmp_path):
    """The workers wait for the plan: an import there is paid before any shard starts. Reading the state of
    a new output folder (empty tables) imported pandas, 0.6 to 1 s of a 20,000-article run's start."""
    import subprocess
    import sys

    from fixtures.make_sample_corpus import write_corpus

    write_corpus(tmp_path / "raw")
    code = (
        "import sys\n"
        "from flows.lifecycle import planned_run\n"
        f"with planned_run({str(tmp_path / 'raw')!r}, {str(tmp_path / 'out')!r}) as planned:\n"
        "    assert planned.specs\n"
        "print(sorted({'pandas', 'prefect'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_run_planned_after_a_look_scans_the_raw_folder_once_unless_a_run_committed_since(tmp_path, monkeypatch):
    """The look before the lock (which tells whether there is anything to read) is the run's scan: 0.2 s at
    20,000 files, before the first shard. A file that arrived since is the next run's; a run that committed
    since may have read files the look missed, so then the folder is scanned again."""
    from fixtures.make_sample_corpus import write_corpus

    import flows.lifecycle
    from flows.lifecycle import planned_run
    from tasks.runlog import raw_status

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_corpus(raw)
    scans = []
    scan_raw = flows.lifecycle.scan_raw
    monkeypatch.setattr(flows.lifecycle, "scan_raw", lambda folder: scans.append(folder) or scan_raw(folder))

    look = raw_status(raw, out)  # before the first run: no output folder yet
    (raw / "late.txt").write_text("وصل هذا الخبر بعد النظرة.", encoding="utf-8")
    with planned_run(str(raw), str(out), looked=look) as planned:
        assert scans == [] and [s.path for s in planned.scanned] == [s.path for s in look.scanned]
        assert "late.txt" not in {s.path for s in planned.scanned}

    assert run_pipeline(raw, out).docs_new == 13  # this run commits, late.txt with the rest
    scans.clear()
    (raw / "later.txt").write_text("وصل هذا الخبر بعد ذلك.", encoding="utf-8")
    with planned_run(str(raw), str(out), looked=look) as planned:  # the look is older than that commit
        assert scans == [str(raw)] and "later.txt" in {s.path for s in planned.scanned}
