"""Stale detection and reprocessing: rows are replaced in one commit, nothing lost or duplicated."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from pipeline import files_under, read_all, run_pipeline

from flows.reprocess import run_reprocess
from flows.settings import Settings
from tasks.reprocess import Selection, select_documents
from tasks.storage import read_parts
from tasks.tables import latest_snapshot

pytestmark = pytest.mark.usefixtures("prefect_api_url")


@pytest.fixture
def processed(tmp_path, sample_output) -> tuple[Path, Path]:
    """A private copy of the sample output (and its raw folder) to change."""
    from fixtures.make_sample_corpus import write_corpus

    write_corpus(tmp_path / "raw")
    shutil.copytree(sample_output, tmp_path / "out")
    return tmp_path / "raw", tmp_path / "out"


def watch_list(tmp_path: Path) -> Path:
    path = tmp_path / "watch.tsv"
    path.write_text("ORG\tمنتدى التقنية الخليجي\nPERS\tهشام عبد الفتاح\n", encoding="utf-8")
    return path


def settings(raw, out, **extra) -> Settings:
    return Settings(raw_dir=raw, out_dir=out, workers=1, shard_retry_delay_s=0, **extra)


def doc_rows(out: Path) -> dict[str, int]:
    return {table: read_all(out, table).num_rows for table in ("documents", "sentences", "tokens")}


def fingerprints(out: Path) -> dict[str, set[str]]:
    return {
        t: set(read_all(out, t).column("fingerprint").to_pylist())
        for t in ("documents", "sentences", "tokens", "entities")
    }


def test_a_gazetteer_change_makes_documents_stale_and_reprocess_brings_them_current(tmp_path, processed):
    raw, out = processed
    before_ids = sorted(read_all(out, "documents").column("doc_id").to_pylist())
    before_rows = doc_rows(out)
    (old_fp,) = fingerprints(out)["documents"]
    changed = settings(raw, out, gazetteers=(watch_list(tmp_path),))

    summary = run_reprocess(changed, Selection(stale=True))

    assert summary.docs_reprocessed == 12 and summary.docs_failed == 0 and summary.kind == "reprocess"
    assert sorted(read_all(out, "documents").column("doc_id").to_pylist()) == before_ids
    assert doc_rows(out) == before_rows  # same text, same sentences and tokens
    assert all(fps == {summary.fingerprint} for fps in fingerprints(out).values())
    assert summary.fingerprint != old_fp
    keys = set(read_all(out, "entities").column("canonical_key").to_pylist())
    assert "منتدي التقنيه الخليجي" in keys and "هشام عبد الفتاح" in keys

    before_again = files_under(out)
    again = run_reprocess(changed, Selection(stale=True))
    assert again.docs_reprocessed == 0
    assert files_under(out).keys() == before_again.keys()  # a second call writes nothing (but the lock's holder)
    assert {k: v for k, v in files_under(out).items() if k != ".khabar.lock"} == {
        k: v for k, v in before_again.items() if k != ".khabar.lock"
    }
    kinds = read_all(out, "runs").column("kind").to_pylist()
    assert sorted(kinds) == ["manual", "reprocess"]


def test_readers_of_the_old_snapshot_keep_a_consistent_view(tmp_path, processed):
    raw, out = processed
    old = latest_snapshot(out)
    run_reprocess(settings(raw, out, gazetteers=(watch_list(tmp_path),)), Selection(everything=True))
    new = latest_snapshot(out)
    for snapshot in (old, new):  # both complete: every document once, every row with its document
        docs = read_parts(snapshot.files("documents"), "documents").column("doc_id").to_pylist()
        assert len(docs) == len(set(docs)) == 12
        for table in ("sentences", "tokens", "entities"):
            ids = set(read_parts(snapshot.files(table), table).column("doc_id").to_pylist())
            assert ids <= set(docs)
    assert not set(old.paths("documents")) & set(new.paths("documents"))


def test_only_the_chosen_documents_are_replaced(tmp_path, processed):
    raw, out = processed
    chosen = select_documents(out, latest_snapshot(out), Selection(source="wahat-news", since=date(2026, 11, 2)), "x")
    assert [c.path.split("/")[1] for c in chosen] == ["wahat-news"] * 4
    summary = run_reprocess(
        settings(raw, out, gazetteers=(watch_list(tmp_path),)), Selection(doc_ids=(chosen[0].doc_id,))
    )
    assert summary.docs_reprocessed == 1
    docs = read_all(out, "documents")
    assert docs.num_rows == 12 and len(set(docs.column("fingerprint").to_pylist())) == 2


def test_a_document_whose_file_is_gone_keeps_its_rows(tmp_path, processed):
    raw, out = processed
    gone = raw / "2026-11-01" / "wahat-news" / "riyadh-tech-forum.txt"
    gone.unlink()
    summary = run_reprocess(settings(raw, out, gazetteers=(watch_list(tmp_path),)), Selection(stale=True))
    assert summary.docs_reprocessed == 11 and len(summary.docs_missing) == 1
    docs = read_all(out, "documents").to_pylist()
    assert len(docs) == 12
    stale = [d for d in docs if d["fingerprint"] != summary.fingerprint]
    assert [d["path"] for d in stale] == ["2026-11-01/wahat-news/riyadh-tech-forum.txt"]


def test_a_run_with_a_flaky_shard_succeeds_on_retry(tmp_path, monkeypatch):
    import tasks.shards

    raw = tmp_path / "raw"
    (raw / "src").mkdir(parents=True)
    (raw / "src" / "a.txt").write_text("خبر من القاهرة", encoding="utf-8")
    real = tasks.shards.write_part
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(5, "Input/output error")
        return real(*args)

    monkeypatch.setattr(tasks.shards, "write_part", flaky)
    summary = run_pipeline(raw, tmp_path / "out", shard_retries=1)
    assert summary.status == "completed" and summary.docs_new == 1


def test_a_failed_shard_fails_the_flow_run_in_prefect(tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client

    import tasks.shards

    raw = tmp_path / "raw"
    (raw / "src").mkdir(parents=True)
    (raw / "src" / "a.txt").write_text("خبر", encoding="utf-8")

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tasks.shards, "write_part", broken)
    summary = run_pipeline(raw, tmp_path / "out", shard_retries=0)
    assert summary.docs_failed == 1
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(summary.flow_run_id).state
    assert state.is_failed() and "1 documents in failed shards" in state.message
    runs = read_all(tmp_path / "out", "runs").to_pylist()
    assert runs[0]["status"] == "completed_with_failures" and runs[0]["docs_failed"] == 1


def test_a_run_and_a_reprocess_find_a_sources_footer_and_keep_entities_out_of_it(tmp_path):
    """Eight articles of one source end with the site's footer (رابط الخبر بصحيفة الوئام: <title>): the run
    marks its lead in sentences and finds no entity there (الخبر, the city of Khobar, was one); a reprocess of
    the source finds the same."""
    from test_tasks.test_boilerplate import FOOTER, wiam

    raw, out = tmp_path / "raw", tmp_path / "out"
    for rel, data in wiam(8, footer_in=8).items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_bytes(data)

    def marked() -> tuple[list, set[str]]:
        sentences = read_all(out, "sentences").to_pylist()
        footers = sorted((s["is_boilerplate"], s["boilerplate_chars"]) for s in sentences if FOOTER in s["text"])
        return footers, {e["surface"] for e in read_all(out, "entities").to_pylist()}

    run_pipeline(raw, out)
    footers, surfaces = marked()
    assert footers == [(False, len(FOOTER))] * 8 and "الخبر" not in surfaces and "موسكو" in surfaces
    run_reprocess(settings(raw, out), Selection(source="alweeam"))
    assert marked() == (footers, surfaces)
