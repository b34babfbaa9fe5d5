"""Tables that stay right over years of nightly runs: current versions, prune, compact, vacuum, --as-of.

Real runs of the sample corpus (tests/pipeline.py), then the maintenance commands on their output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pipeline import read_all, run_pipeline
from typer.testing import CliRunner

from flows.cli import app
from reports.query import connect, run_query
from tasks.check import check_tables
from tasks.maintenance import compact, prune_missing, vacuum
from tasks.tables import latest_snapshot, load_for_reading

runner = CliRunner()
REPORT_QUERIES = {
    "documents": "SELECT count(*) FROM documents",
    "entities": "SELECT type, canonical_key, count(*) FROM entities GROUP BY ALL ORDER BY ALL",
    "tokens": "SELECT count(*), sum(char_end - char_start) FROM tokens",
    "sentences": "SELECT count(*) FROM sentences",
    "files": "SELECT path, status, doc_id FROM files ORDER BY path",
    "runs": "SELECT run_id, kind, docs_new FROM runs ORDER BY run_id",
}


def answers(out: Path, as_of: str | None = None) -> dict[str, list]:
    from reports.query import ReadOnlyTables

    with ReadOnlyTables(out, snapshot=load_for_reading(out, as_of=as_of)) as tables:
        return {name: run_query(tables, sql)[1] for name, sql in REPORT_QUERIES.items()}


@pytest.fixture
def processed(tmp_path, sample_output, raw_corpus) -> tuple[Path, Path]:
    shutil.copytree(sample_output, tmp_path / "out")
    return raw_corpus, tmp_path / "out"


def test_a_corrected_article_replaces_its_old_version_in_every_view(processed):
    raw, out = processed
    story = raw / "2026-11-01" / "sahel-daily" / "cairo-water-summit.txt"
    old_doc = next(
        f["doc_id"] for f in read_all(out, "files").to_pylist() if f["path"].endswith("cairo-water-summit.txt")
    )
    story.write_text(
        story.read_text(encoding="utf-8") + "\nتصحيح: عقدت القمة في القاهرة يوم الأحد.\n", encoding="utf-8"
    )
    run_pipeline(raw, out)
    with connect(out) as tables:
        assert run_query(tables, "SELECT count(*) FROM documents")[1] == [(12,)]  # one per input, not 13
        assert run_query(tables, f"SELECT count(*) FROM entities WHERE doc_id = '{old_doc}'")[1] == [(0,)]
        versions = run_query(
            tables, "SELECT doc_id, is_current FROM document_versions WHERE path LIKE '%cairo-water%'"
        )[1]
    assert len(versions) == 2 and (old_doc, False) in versions
    assert len(read_all(out, "documents")) == 13  # the old version is kept, superseded
    status = runner.invoke(app, ["status", "--raw", str(raw), "--out", str(out)])
    assert "documents: 12 (12 current, 0 stale)" in status.output, status.output  # counted once there too


def test_a_file_gone_from_the_raw_folder_keeps_its_document_until_pruned(processed):
    raw, out = processed
    (raw / "2026-11-02" / "wahat-news" / "football-derby.txt").unlink()
    run_pipeline(raw, out)
    files = {f["path"]: f for f in read_all(out, "files").to_pylist()}
    gone = files["2026-11-02/wahat-news/football-derby.txt"]
    assert gone["status"] == "missing" and gone["doc_id"]
    assert answers(out)["documents"] == [(12,)]  # an archive forgets nothing by accident

    planned = prune_missing(out, dry_run=True)
    assert (planned.paths, planned.doc_ids) == (["2026-11-02/wahat-news/football-derby.txt"], [gone["doc_id"]])
    assert answers(out)["documents"] == [(12,)]
    result = prune_missing(out)
    assert result.doc_ids == [gone["doc_id"]]
    after = answers(out)
    assert after["documents"] == [(11,)]
    for table in ("documents", "sentences", "tokens", "entities"):
        assert gone["doc_id"] not in read_all(out, table).column("doc_id").to_pylist()
    assert all(path != gone["path"] for path, _, _ in after["files"])
    assert check_tables(out).problems == []


def test_compact_merges_small_files_in_one_step_and_changes_no_answer(processed):
    raw, out = processed
    (raw / "2026-11-04" / "wahat-news").mkdir(parents=True)
    for i in range(3):  # three more runs: three more files in every table
        (raw / "2026-11-04" / "wahat-news" / f"s{i}.txt").write_text(f"خبر {i}\nزار الوزير الرياض.\n", encoding="utf-8")
        run_pipeline(raw, out)
    before, files_before = answers(out), {t: len(latest_snapshot(out).paths(t)) for t in ("tokens", "runs")}
    versions = {t: v for t, v in latest_snapshot(out).versions.items()}
    result = compact(out)
    assert result.merged["tokens"] == (files_before["tokens"], 1) and result.merged["runs"] == (4, 1)
    after = latest_snapshot(out)
    assert all(after.versions[t] - versions[t] <= 1 for t in versions)  # at most one commit per table
    assert {t: len(after.paths(t)) for t in ("tokens", "runs")} == {"tokens": 1, "runs": 1}
    assert answers(out) == before
    assert check_tables(out).problems == []
    assert compact(out).merged == {}  # nothing left to merge: no commit


def test_as_of_and_vacuum_keep_history_on_purpose_and_say_when_it_is_gone(processed):
    raw, out = processed
    first_run = read_all(out, "runs").column("run_id").to_pylist()[0]
    at_first = answers(out)
    (raw / "2026-11-04" / "wahat-news").mkdir(parents=True)
    (raw / "2026-11-04" / "wahat-news" / "new.txt").write_text("خبر\nزار الوزير الرياض.\n", encoding="utf-8")
    run_pipeline(raw, out)
    then = runner.invoke(app, ["report", "corpus-stats", "--out", str(out), "--as-of", first_run, "--format", "csv"])
    latest = runner.invoke(app, ["report", "corpus-stats", "--out", str(out), "--format", "csv"])
    assert then.exit_code == latest.exit_code == 0
    assert "2026-11-04" in latest.output and "2026-11-04" not in then.output  # report --as-of
    compact(out)
    now = answers(out)
    assert now != at_first and answers(out, as_of=first_run) == at_first  # history on purpose

    kept = vacuum(out, retain_days=7)
    assert kept.deleted == {}  # everything is younger than a week
    assert answers(out, as_of=first_run) == at_first

    planned = vacuum(out, retain_days=0, dry_run=True)
    assert planned.deleted and answers(out, as_of=first_run) == at_first  # a dry run deletes nothing
    vacuum(out, retain_days=0)
    assert answers(out) == now and check_tables(out).problems == []
    result = runner.invoke(app, ["sql", "--out", str(out), "--as-of", first_run, "SELECT count(*) FROM documents"])
    assert result.exit_code == 2 and "were vacuumed; it can no longer be read" in result.output


def test_a_run_compacts_a_table_that_holds_too_many_small_files(processed, monkeypatch):
    raw, out = processed
    monkeypatch.setattr("flows.lifecycle.COMPACT_WHEN_SMALL_FILES", 3)
    before = answers(out)
    (raw / "2026-11-04" / "wahat-news").mkdir(parents=True)
    for i in range(2):
        (raw / "2026-11-04" / "wahat-news" / f"s{i}.txt").write_text(f"خبر {i}\nزار الوزير جدة.\n", encoding="utf-8")
        run_pipeline(raw, out)
    snapshot = latest_snapshot(out)
    assert len(snapshot.paths("runs")) == 1 and len(snapshot.paths("tokens")) == 1  # 3 of each, merged
    assert answers(out)["documents"] == [(14,)] and before["documents"] == [(12,)]
    assert check_tables(out).problems == []
