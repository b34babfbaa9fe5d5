import itertools
import os
from dataclasses import replace

import pytest
from conftest import make_raw
from hypothesis import given
from hypothesis import strategies as st

from tasks.documents import content_hash, doc_id_for
from tasks.inventory import (
    DocumentPlanner,
    FileFacts,
    FileRecord,
    FilesTable,
    FileStat,
    Outcome,
    files_to_read,
    next_files_table,
    plan_documents,
    raw_changes,
    read_facts,
    scan_raw,
    split_into_shards,
)


def record(path, status="processed", size=1, mtime=1, digest="h", run="r0", doc_id="d"):
    return FileRecord(path, size, mtime, digest, doc_id, status, None, None, run, run)


def test_scan_finds_txt_files_recursively_in_path_order(tmp_path):
    make_raw(tmp_path, {"b/2.txt": "x", "a/1.TXT": "y", "a/notes.md": "z", "c.txt": ""})
    assert [s.path for s in scan_raw(tmp_path)] == ["a/1.TXT", "b/2.txt", "c.txt"]


def test_unchanged_files_are_not_read_again():
    previous = {"a.txt": record("a.txt", size=3, mtime=10), "b.txt": record("b.txt", size=3, mtime=10)}
    scanned = [FileStat("a.txt", 3, 10), FileStat("b.txt", 4, 10), FileStat("c.txt", 1, 1)]
    assert [s.path for s in files_to_read(scanned, previous)] == ["b.txt", "c.txt"]


def test_files_of_a_failed_shard_are_read_again():
    previous = {"a.txt": record("a.txt", status="failed")}
    assert files_to_read([FileStat("a.txt", 1, 1)], previous) == [FileStat("a.txt", 1, 1)]


def test_read_facts_hashes_and_rejects_oversized_and_outside_links(tmp_path):
    raw = make_raw(tmp_path / "raw", {"a.txt": "نص", "big.txt": "x" * 100})
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, raw / "link.txt")
    facts = {f.stat.path: f for f in read_facts(raw, scan_raw(raw), max_bytes=50)}
    assert facts["a.txt"].content_hash == content_hash("نص".encode())
    assert facts["big.txt"].reason == "too_large"
    assert facts["link.txt"].reason == "outside_raw_folder"


def fact(path, data: bytes):
    return FileFacts(FileStat(path, len(data), 1), content_hash(data))


def test_plan_keeps_one_document_per_content_and_marks_duplicates():
    facts = [fact("b.txt", b"same"), fact("a.txt", b"same"), fact("c.txt", b"other")]
    plan = plan_documents(facts, known_docs={}, quarantined_hashes={})
    assert [p for p, _ in plan.to_process] == ["a.txt", "c.txt"]
    assert plan.duplicates == {"b.txt": doc_id_for(content_hash(b"same"))}


def test_plan_skips_content_already_processed():
    known = {doc_id_for(content_hash(b"old")): "old.txt"}
    plan = plan_documents([fact("copy.txt", b"old"), fact("old.txt", b"old")], known, {})
    assert plan.to_process == []
    assert plan.duplicates == {"copy.txt": doc_id_for(content_hash(b"old"))}


def test_files_table_accounts_for_every_path_and_keeps_first_seen():
    previous = {"gone.txt": record("gone.txt", run="r0"), "same.txt": record("same.txt", run="r0")}
    scanned = [
        FileStat("same.txt", 1, 1),
        FileStat("new.txt", 3, 5),
        FileStat("vdup.txt", 3, 5),
        FileStat("bad.txt", 0, 5),
    ]
    facts = [fact("new.txt", b"abc"), fact("vdup.txt", b"abc"), fact("bad.txt", b"")]
    plan = plan_documents(facts, {}, {})
    doc = doc_id_for(content_hash(b"abc"))
    outcomes = {
        "new.txt": Outcome("new.txt", content_hash(b"abc"), doc, "processed"),
        "bad.txt": Outcome("bad.txt", content_hash(b""), None, "quarantined", "empty_text", "no text"),
    }
    rows = {r.path: r for r in next_files_table(previous, scanned, plan, outcomes, "r1")}
    assert sorted(rows) == ["bad.txt", "gone.txt", "new.txt", "same.txt", "vdup.txt"]
    assert rows["same.txt"].first_seen_run_id == "r0" and rows["same.txt"].last_seen_run_id == "r1"
    assert rows["gone.txt"].last_seen_run_id == "r0"
    assert (rows["gone.txt"].status, rows["gone.txt"].doc_id) == ("missing", previous["gone.txt"].doc_id)  # kept
    assert (rows["new.txt"].status, rows["new.txt"].doc_id) == ("processed", doc)
    assert (rows["vdup.txt"].status, rows["vdup.txt"].doc_id) == ("duplicate", doc)
    assert (rows["bad.txt"].status, rows["bad.txt"].reason, rows["bad.txt"].doc_id) == (
        "quarantined",
        "empty_text",
        None,
    )


def test_files_table_rows_made_as_shards_finish_equal_those_made_at_the_end():
    """The run makes its files' rows as each shard finishes (0.1 s less after the last one at 20,000 files);
    a row made from an outcome that the run's final outcomes no longer hold is made again."""
    previous = {"old.txt": record("old.txt", run="r0")}
    scanned = [FileStat("old.txt", 1, 1), FileStat("a.txt", 3, 5), FileStat("b.txt", 3, 5), FileStat("c.txt", 1, 5)]
    facts = [fact("a.txt", b"abc"), fact("b.txt", b"abc"), fact("c.txt", b"z")]
    plan = plan_documents(facts, {}, {})
    doc_a, doc_c = doc_id_for(content_hash(b"abc")), doc_id_for(content_hash(b"z"))
    outcomes = {
        "a.txt": Outcome("a.txt", content_hash(b"abc"), doc_a, "processed"),
        "c.txt": Outcome("c.txt", content_hash(b"z"), None, "failed", "shard_failed", "retried next run"),
    }
    table = FilesTable(previous, scanned, plan, "r1")
    table.add([outcomes["a.txt"]])
    table.add([Outcome("c.txt", content_hash(b"z"), doc_c, "processed")])  # not the outcome the run ends with
    rows = table.records(outcomes)
    assert rows == next_files_table(previous, scanned, plan, outcomes, "r1")
    assert [(r.path, r.status) for r in rows] == [
        ("a.txt", "processed"),
        ("b.txt", "duplicate"),
        ("c.txt", "failed"),
        ("old.txt", "processed"),
    ]


def test_duplicates_follow_their_document_into_quarantine():
    facts = [fact("a.txt", b"\x00bin"), fact("b.txt", b"\x00bin")]
    plan = plan_documents(facts, {}, {})
    outcomes = {"a.txt": Outcome("a.txt", facts[0].content_hash, None, "quarantined", "binary_content", "NUL")}
    rows = {r.path: r for r in next_files_table({}, [f.stat for f in facts], plan, outcomes, "r1")}
    assert rows["b.txt"].status == "quarantined" and rows["b.txt"].reason == "binary_content"


@pytest.mark.parametrize(
    ("n", "shard_size", "workers", "sizes"),
    [
        (0, 500, 2, []),
        (13, 500, 2, [13]),  # fits one shard: no second worker is started for it
        (1000, 500, 2, [500, 500]),
        (3271, 1000, 2, [818, 818, 818, 817]),  # 4 shards: two whole rounds per worker
        (4000, 1000, 2, [1000] * 4),  # two rounds: nothing to shrink
        # past two rounds, the last three rounds are a half, a quarter and an eighth of a shard
        (3271, 500, 2, [400] * 3 + [399] * 3 + [250, 250, 125, 125, 62, 62]),
        (20000, 1000, 2, [913] * 10 + [912] * 10 + [500, 500, 250, 250, 125, 125]),
        (21, 5, 2, [4, 4, 4, 3, 2, 2, 1, 1]),  # no eighth of 5 paths: the last round is a quarter
        (10, 3, 1, [3, 3, 2, 2]),  # one worker: no last rounds to shrink
        (10, 3, 4, [3, 3, 2, 2]),
        (3, 1, 2, [1, 1, 1]),
    ],
)
def test_split_into_shards_balances_whole_rounds(n, shard_size, workers, sizes):
    paths = [f"{i:05d}.txt" for i in range(n)]
    groups = split_into_shards(paths, shard_size, workers)
    assert [len(g) for g in groups] == sizes
    assert [p for g in groups for p in g] == paths
    assert all(len(g) <= shard_size for g in groups)


@given(n=st.integers(0, 5000), shard_size=st.integers(1, 1200), workers=st.integers(1, 8))
def test_split_into_shards_keeps_every_path_once_in_order_and_ends_small(n, shard_size, workers):
    paths = [str(i) for i in range(n)]
    groups = split_into_shards(paths, shard_size, workers)
    sizes = [len(g) for g in groups]
    assert [p for g in groups for p in g] == paths and all(0 < s <= shard_size for s in sizes)
    if workers > 1 and shard_size >= 4 and n > 2 * workers * shard_size:
        last = shard_size // 8 or shard_size // 4
        assert sizes[-workers:] == [last] * workers  # what a worker may wait for at the end
        assert len(sizes) % workers == 0


def test_a_file_that_vanishes_or_changes_while_read_is_not_hashed(tmp_path, monkeypatch):
    import tasks.inventory

    raw = make_raw(tmp_path / "raw", {"gone.txt": "x", "growing.txt": "نص"})
    stats = scan_raw(raw)
    (raw / "gone.txt").unlink()
    real = tasks.inventory._read_whole

    def append_while_reading(full, size):
        if full.endswith("growing.txt"):  # grows after its first look, before its read ends
            with open(full, "ab") as f:
                f.write("مزيد".encode())
        return real(full, size)

    monkeypatch.setattr(tasks.inventory, "_read_whole", append_while_reading)
    facts = {f.stat.path: f for f in read_facts(raw, stats, max_bytes=1000)}
    assert (facts["gone.txt"].reason, facts["gone.txt"].content_hash) == ("vanished", None)
    assert facts["growing.txt"].reason == "changed_during_run"


def test_fifos_and_dangling_links_are_not_read(tmp_path):
    raw = make_raw(tmp_path / "raw", {"a.txt": "نص"})
    os.mkfifo(raw / "pipe.txt")
    os.symlink(raw / "missing.txt", raw / "dangling.txt")
    facts = {f.stat.path: f for f in read_facts(raw, scan_raw(raw), max_bytes=1000)}
    assert facts["pipe.txt"].reason == "not_a_regular_file"
    assert (facts["dangling.txt"].reason, facts["dangling.txt"].detail) == ("unreadable", "dangling symbolic link")
    assert facts["a.txt"].reason is None


def test_content_quarantined_before_is_quarantined_again_with_its_reason():
    """A touched quarantined file, or a new file with the same bytes, is not recorded as processed."""
    empty = content_hash(b"")
    before = FileRecord("a.txt", 0, 1, empty, None, "quarantined", "empty_text", "the file holds no text", "r0", "r0")
    facts = [FileFacts(FileStat("a.txt", 0, 2), empty), FileFacts(FileStat("c.txt", 0, 2), empty)]
    plan = plan_documents(facts, known_docs={}, quarantined_hashes={empty: before})
    assert plan.to_process == []
    rows = next_files_table({"a.txt": before}, [f.stat for f in facts], plan, {}, "r1")
    assert [(r.path, r.status, r.reason, r.doc_id) for r in rows] == [
        ("a.txt", "quarantined", "empty_text", None),
        ("c.txt", "quarantined", "empty_text", None),
    ]


def test_a_file_name_that_is_not_utf8_is_stored_escaped_and_read_back(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / os.fsdecode(b"caf\xe9.txt")).write_bytes("نص".encode())
    (raw / "back\\slash.txt").write_bytes(b"x")
    (raw / "plain.txt").write_bytes(b"y")
    stats = scan_raw(raw)
    assert [s.path for s in stats] == ["back\\\\slash.txt", "caf\\xe9.txt", "plain.txt"]
    for s in stats:
        s.path.encode("utf-8")  # storable in Arrow and JSON: no surrogates
    facts = {f.stat.path: f for f in read_facts(raw, stats, max_bytes=100)}
    assert facts["caf\\xe9.txt"].content_hash == content_hash("نص".encode())
    assert facts["back\\\\slash.txt"].content_hash == content_hash(b"x")


@pytest.mark.parametrize("name", [b"plain.txt", b"caf\xe9.txt", b"a\\xe9.txt", b"\\\\.txt", "مقال.txt".encode()])
def test_stored_paths_map_back_to_the_same_bytes(name):
    from tasks.inventory import fs_path, stored_path

    stored = stored_path(os.fsdecode(name))
    stored.encode("utf-8")
    assert os.fsencode(fs_path(stored)) == name


def test_a_transient_quarantine_does_not_stick_to_the_content():
    """A file that changed while it was read is read again; other files with those bytes are processed."""
    data = b"\xd9\x86\xd8\xb5"
    before = FileRecord("a.txt", 4, 1, content_hash(data), None, "quarantined", "changed_during_run", "x", "r0", "r0")
    from tasks.runlog import State

    state_hashes = State({"a.txt": before}, {}).quarantined_hashes
    assert state_hashes == {}
    plan = plan_documents([fact("b.txt", data)], known_docs={}, quarantined_hashes=state_hashes)
    assert [p for p, _ in plan.to_process] == ["b.txt"]


def test_raw_changes_sort_the_folder_against_the_last_run():
    previous = {
        "same.txt": record("same.txt", size=3, mtime=10, run="r2"),
        "edited.txt": record("edited.txt", size=3, mtime=10, run="r2"),
        "failed.txt": record("failed.txt", status="failed", run="r2"),
        "gone.txt": record("gone.txt", run="r2"),
        "gone-long-ago.txt": record("gone-long-ago.txt", run="r1"),
    }
    scanned = [
        FileStat("edited.txt", 4, 10),
        FileStat("failed.txt", 1, 1),
        FileStat("fresh.txt", 1, 1),
        FileStat("same.txt", 3, 10),
    ]
    changes = raw_changes(scanned, previous)
    assert [s.path for s in changes.new] == ["fresh.txt"]
    assert [s.path for s in changes.changed] == ["edited.txt"]
    assert [s.path for s in changes.retried] == ["failed.txt"]
    assert [s.path for s in changes.unchanged] == ["same.txt"]
    assert changes.missing == ["gone.txt"]  # not the file already gone before the last run
    assert [s.path for s in changes.to_read] == ["edited.txt", "failed.txt", "fresh.txt"]


def test_a_missing_file_that_comes_back_is_read_again():
    previous = {"back.txt": replace(record("back.txt", run="r0"), status="missing")}
    changes = raw_changes(
        [FileStat("back.txt", previous["back.txt"].size_bytes, previous["back.txt"].mtime_us)], previous
    )
    assert [s.path for s in changes.to_read] == ["back.txt"]


def test_the_fast_path_of_stored_path_stores_what_the_mapping_says():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tasks.inventory import stored_path

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=12) | st.text(max_size=8).map(os.fsencode))
    def check(name):
        fs_name = os.fsdecode(name)
        assert stored_path(fs_name) == os.fsencode(fs_name).replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")

    check()


def test_a_row_seen_again_changes_only_its_last_run():
    from dataclasses import replace

    row = FileRecord("a.txt", 4, 1, "h", "d", "quarantined", "empty_text", "detail", "r0", "r1")
    assert row.seen_by("r2") == replace(row, last_seen_run_id="r2")


@given(
    contents=st.lists(st.sampled_from([b"a", b"b", b"c", b"d", None]), max_size=30),
    cuts=st.lists(st.integers(0, 30), max_size=5),
)
def test_planning_files_a_few_at_a_time_plans_them_as_all_at_once(contents, cuts):
    """The planner reads the files a shard's worth at a time and plans each group as it is read: copies of a
    document are duplicates whichever group its first file is in (None: a file that could not be read)."""
    known = {doc_id_for(content_hash(b"d")): "z-old.txt"}
    quarantined = {content_hash(b"c"): replace(record("q.txt", status="quarantined"), reason="binary_content")}
    facts = [
        fact(f"{i:03d}.txt", data)
        if data is not None
        else FileFacts(FileStat(f"{i:03d}.txt", 1, 1), None, "unreadable")
        for i, data in enumerate(contents)
    ]
    whole = plan_documents(facts, known, quarantined)
    planner = DocumentPlanner(known, quarantined)
    bounds = [0, *sorted(cuts), len(facts)]
    new = [doc for start, end in itertools.pairwise(bounds) for doc in planner.add(facts[start:end])]
    assert new == whole.to_process == planner.plan.to_process
    assert (planner.plan.duplicates, planner.plan.rejected, planner.plan.facts) == (
        whole.duplicates,
        whole.rejected,
        whole.facts,
    )
