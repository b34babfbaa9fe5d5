"""Every input file ends up a document (repairs named) or quarantined with its reason, and always in files."""

from __future__ import annotations

import pathlib

import pytest
from fixtures.bad_inputs import MAX_BYTES, write_bad_inputs
from pipeline import read_all, run_pipeline

pytestmark = pytest.mark.usefixtures("prefect_api_url")


@pytest.fixture
def outcome(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    expected = write_bad_inputs(raw)
    real = pathlib.Path.read_bytes

    def deny(self):
        if self.name == "unreadable.txt":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", deny)  # tests run as root: chmod cannot deny a read
    summary = run_pipeline(raw, tmp_path / "out", max_file_bytes=MAX_BYTES)
    return expected, summary, tmp_path / "out"


def test_the_run_completes_and_every_file_is_in_the_files_table(outcome):
    expected, summary, out = outcome
    assert summary.status == "completed"
    files = {f["path"]: f for f in read_all(out, "files").to_pylist()}
    assert sorted(files) == sorted(expected)
    assert summary.files_seen == len(expected)


def test_each_file_has_its_expected_outcome(outcome):
    expected, _, out = outcome
    files = {f["path"]: f for f in read_all(out, "files").to_pylist()}
    docs = {d["path"]: d for d in read_all(out, "documents").to_pylist()}
    quarantine = {q["path"]: q for q in read_all(out, "quarantine").to_pylist()}
    for path, want in expected.items():
        row = files[path]
        if want[0] == "document":
            assert row["status"] == "processed", (path, row)
            assert (docs[path]["encoding"], docs[path]["repairs"]) == (want[1], want[2]), path
        elif want[0] == "duplicate":
            assert row["status"] == "duplicate" and row["doc_id"] == files["utf8.txt"]["doc_id"]
        else:
            assert (row["status"], row["reason"]) == ("quarantined", want[1]), (path, row)
            assert quarantine[path]["reason"] == want[1] and quarantine[path]["detail"], path
    assert set(quarantine) == {p for p, w in expected.items() if w[0] == "quarantined"}


def test_cleaning_removed_invisible_marks_and_folded_presentation_forms(outcome):
    _, _, out = outcome
    docs = {d["path"]: d["text"] for d in read_all(out, "documents").to_pylist()}
    assert not any(c in docs["bidi-zero-width.txt"] for c in "\u202b\u202c\u200f\u200e\u200b\u200d\u200c\ufeff")
    assert docs["bidi-zero-width.txt"] == "عنوان\nقال المتحدث إن الوفد وصل."
    assert docs["presentation-forms.txt"] == "السلام\nلا صلى الله عليه وسلم الرسول"
    assert "Siemens" in docs["mixed-scripts.txt"]


def test_digits_match_as_ascii_and_decimals_stay_whole(outcome):
    _, _, out = outcome
    tokens = read_all(out, "tokens").to_pylist()
    docs = {d["doc_id"]: d["path"] for d in read_all(out, "documents").to_pylist()}
    keys = {t["surface"]: t["match_key"] for t in tokens if docs[t["doc_id"]] == "digits.txt"}
    assert keys["٢٠٢٦"] == "2026" and keys["و۳۴"] == "و34" and keys["١٢٫٥"] == "12٫5" and keys["7.5"] == "7.5"


def test_a_long_single_line_becomes_one_document(outcome):
    _, _, out = outcome
    (doc,) = [d for d in read_all(out, "documents").to_pylist() if d["path"] == "long-line.txt"]
    assert doc["n_tokens"] == 12_500 and doc["n_sentences"] == 36  # 70,000 characters in runs of <= 2,000


def test_a_file_name_that_is_not_utf8_is_stored_escaped_and_the_run_goes_on(tmp_path):
    """b'raw/\xff.txt' failed its shard and every later run; now it is a document under an escaped path."""
    import os

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / os.fsdecode(b"\xff-caf\xe9.txt")).write_text("خبر من القاهرة عن الاقتصاد", encoding="utf-8")
    (raw / "plain.txt").write_text("خبر من الرياض", encoding="utf-8")
    first = run_pipeline(raw, tmp_path / "out")
    assert (first.status, first.docs_new, first.docs_failed) == ("completed", 2, 0)
    files = {f["path"]: f for f in read_all(tmp_path / "out", "files").to_pylist()}
    assert set(files) == {"\\xff-caf\\xe9.txt", "plain.txt"}
    assert files["\\xff-caf\\xe9.txt"]["status"] == "processed"
    again = run_pipeline(raw, tmp_path / "out")
    assert (again.status, again.docs_new, again.docs_skipped) == ("completed", 0, 2)
    from tasks.check import check_tables

    assert check_tables(tmp_path / "out").problems == []


def test_content_quarantined_before_gets_the_same_outcome_when_seen_again(tmp_path):
    """A touched quarantined file, or a new file with its bytes, was recorded as processed with a doc_id
    that no document has, and khabar check failed from then on."""
    import os

    from tasks.check import check_tables

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "empty.txt").write_bytes(b"")
    (raw / "story.txt").write_text("خبر من القاهرة", encoding="utf-8")
    first = run_pipeline(raw, tmp_path / "out")
    assert first.quarantined == {"empty_text": 1}
    os.utime(raw / "empty.txt", ns=(1, 1))  # touched
    (raw / "also-empty.txt").write_bytes(b"")  # another file, the same bytes
    second = run_pipeline(raw, tmp_path / "out")
    assert (second.docs_new, second.files_quarantined, second.quarantined) == (0, 2, {"empty_text": 2})
    files = {f["path"]: f for f in read_all(tmp_path / "out", "files").to_pylist()}
    for path in ("empty.txt", "also-empty.txt"):
        assert (files[path]["status"], files[path]["reason"], files[path]["doc_id"]) == (
            "quarantined",
            "empty_text",
            None,
        )
    quarantine = read_all(tmp_path / "out", "quarantine").to_pylist()
    assert sorted((q["path"], q["run_id"]) for q in quarantine) == sorted(
        [("empty.txt", first.run_id), ("empty.txt", second.run_id), ("also-empty.txt", second.run_id)]
    )
    assert check_tables(tmp_path / "out").problems == []


def test_a_document_past_the_time_limit_is_quarantined_too_slow_and_the_run_goes_on(tmp_path):
    """KHABAR_MAX_DOC_SECONDS: a worker stops a document that runs past it; its file is quarantined."""
    raw = tmp_path / "raw"
    (raw / "wire").mkdir(parents=True)
    (raw / "wire" / "huge.txt").write_text("قال الوزير في الرياض إن النمو قوي. " * 150_000, encoding="utf-8")
    for i in range(3):
        (raw / "wire" / f"small-{i}.txt").write_text(f"خبر {i} من القاهرة", encoding="utf-8")
    summary = run_pipeline(raw, tmp_path / "out", workers=2, shard_size=2, max_doc_seconds=0.5)
    assert (summary.status, summary.docs_new, summary.quarantined) == ("completed", 3, {"too_slow": 1})
    files = {f["path"]: f for f in read_all(tmp_path / "out", "files").to_pylist()}
    assert files["wire/huge.txt"]["reason"] == "too_slow"
    assert "0.5 s" in files["wire/huge.txt"]["detail"]


def test_the_time_limit_is_checked_between_stages_when_shards_run_in_process(tmp_path):
    raw = tmp_path / "raw"
    (raw / "wire").mkdir(parents=True)
    (raw / "wire" / "huge.txt").write_text("قال الوزير في الرياض إن النمو قوي. " * 150_000, encoding="utf-8")
    summary = run_pipeline(raw, tmp_path / "out", workers=1, max_doc_seconds=0.2)
    assert summary.quarantined == {"too_slow": 1}
