"""khabar deletes only what it wrote, refuses folders it must not write to, and says so in one sentence.

Real `khabar` processes on real folders; the full-disk and read-only cases run khabar on a small
tmpfs mounted in a private mount namespace (`unshare --mount`), which vanishes with the process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline import files_under, read_all, run_pipeline

from tasks.check import check_tables

KHABAR = str(Path(sys.executable).with_name("khabar"))


def khabar(*args: str, api_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KHABAR_")}
    clean |= {"PREFECT_API_URL": api_url, "KHABAR_SHARD_RETRY_DELAY_S": "0", **env}
    return subprocess.run([KHABAR, *args], capture_output=True, text=True, env=clean, timeout=300, check=False)


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The error output, checked to be one line with no traceback."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def processed(tmp_path, sample_output, raw_corpus) -> tuple[Path, Path]:
    shutil.copytree(sample_output, tmp_path / "out")
    return raw_corpus, tmp_path / "out"


def test_a_foreign_file_in_a_table_folder_is_kept_and_the_run_refused(tmp_path, raw_corpus, prefect_api_url):
    out = tmp_path / "o"
    (out / "files").mkdir(parents=True)
    (out / "files" / "keep.pdf").write_bytes(b"x")
    result = khabar("run", "--raw", str(raw_corpus), "--out", str(out), "-w", "1", api_url=prefect_api_url)
    assert result.returncode == 2
    assert one_sentence(result).startswith(f"Error: {out} holds files khabar did not write in its table folders")
    assert (out / "files" / "keep.pdf").read_bytes() == b"x"
    assert not (out / "_commits").exists()


def test_a_foreign_file_next_to_committed_tables_is_kept_and_check_reports_it(processed, prefect_api_url):
    raw, out = processed
    (out / "runs" / "notes.txt").write_text("mine")
    result = khabar("run", "--raw", str(raw), "--out", str(out), api_url=prefect_api_url)
    assert result.returncode == 2 and "holds files khabar did not write" in one_sentence(result)
    assert (out / "runs" / "notes.txt").read_text() == "mine"
    assert any("notes.txt" in p.message for p in check_tables(out).problems)


@pytest.mark.parametrize("where", ["same", "inside"])
def test_an_output_folder_in_the_raw_folder_is_refused_before_anything_is_touched(tmp_path, prefect_api_url, where):
    raw = tmp_path / "raw"
    (raw / "files").mkdir(parents=True)  # a source folder named like a table
    (raw / "files" / "story.txt").write_text("خبر من القاهرة", encoding="utf-8")
    (raw / "story.txt").write_text("خبر آخر", encoding="utf-8")
    before = files_under(raw)
    out = raw if where == "same" else raw / "out"
    result = khabar("run", "--raw", str(raw), "--out", str(out), api_url=prefect_api_url)
    assert result.returncode == 2
    assert one_sentence(result) == (
        f"Error: the output folder {out} is inside the raw folder {raw}; choose an output folder outside it"
    )
    assert files_under(raw) == before


def last_log(out: Path, table: str) -> Path:
    return sorted((out / table / "_delta_log").glob("*.json"))[-1]


@pytest.mark.parametrize("damage", ["log-removed", "commits-removed", "log-truncated"])
def test_a_lost_delta_log_stops_every_writer_and_fails_check(processed, prefect_api_url, damage):
    raw, out = processed
    khabar("run", "--raw", str(raw), "--out", str(out), api_url=prefect_api_url)  # two runs of history
    assert len(read_all(out, "runs")) == 2
    parts = {name: body for name, body in files_under(out / "runs").items() if name.endswith(".parquet")}
    if damage == "log-removed":
        shutil.rmtree(out / "runs" / "_delta_log")
        expected = "khabar parts without a Delta log"
    elif damage == "commits-removed":
        shutil.rmtree(out / "_commits")
        expected = "no _commits table"
    else:  # the log's last commit lost: the table is older than the snapshot that pins it
        last_log(out, "runs").unlink()
        expected = "restore it"  # the version khabar pinned is gone from the log
    for args in (["run", "--raw", str(raw)], ["reprocess", "--all", "--raw", str(raw)]):
        result = khabar(*args, "--out", str(out), api_url=prefect_api_url)
        assert result.returncode == 2, result.stderr
        assert expected in one_sentence(result)
    assert {n: b for n, b in files_under(out / "runs").items() if n.endswith(".parquet")} == parts  # all kept
    check = khabar("check", "--out", str(out), api_url=prefect_api_url)
    assert check.returncode == 1 and "problem" in check.stderr


def test_a_log_restored_from_an_older_backup_stops_the_writer(processed, prefect_api_url):
    raw, out = processed
    backup = out.parent / "runs-log-backup"
    shutil.copytree(out / "runs" / "_delta_log", backup)
    (raw / "2026-11-03" / "wahat-news" / "new.txt").write_text("خبر جديد من الرياض", encoding="utf-8")
    assert khabar("run", "--raw", str(raw), "--out", str(out), api_url=prefect_api_url).returncode == 0
    shutil.rmtree(out / "runs" / "_delta_log")
    shutil.copytree(backup, out / "runs" / "_delta_log")  # versions go backwards
    result = khabar("run", "--raw", str(raw), "--out", str(out), api_url=prefect_api_url)
    assert result.returncode == 2 and "older than the version" in one_sentence(result)
    assert khabar("check", "--out", str(out), api_url=prefect_api_url).returncode == 1


def untracked(out: Path) -> list[str]:
    """Parquet files that no version of their table names (deltalake's own accounting)."""
    from deltalake import DeltaTable

    found = []
    for folder in sorted(p for p in out.iterdir() if (p / "_delta_log").is_dir()):
        table = DeltaTable(str(folder))
        every = set(table.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False, full=True))
        retired = set(table.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False))
        found += [f"{folder.name}/{name}" for name in sorted(every - retired)]
    return found


def test_a_run_with_nothing_new_leaves_no_khabar_leftovers(processed, prefect_api_url):
    raw, out = processed
    assert khabar("run", "--raw", str(raw), "--out", str(out), api_url=prefect_api_url).returncode == 0
    assert untracked(out) == []
    assert not list(out.glob("*/.tmp-*"))


def test_the_output_folder_naming_a_file_is_one_sentence(tmp_path, raw_corpus, prefect_api_url):
    (tmp_path / "out").write_text("a file")
    result = khabar("run", "--raw", str(raw_corpus), "--out", str(tmp_path / "out"), api_url=prefect_api_url)
    assert result.returncode == 2
    assert one_sentence(result) == f"Error: the output folder {tmp_path / 'out'} is a file; name a folder"


def unshare_available() -> bool:
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(
    not shutil.which("unshare") or not unshare_available(),
    reason="needs `unshare --mount` (a private mount namespace) to mount a small or read-only tmpfs",
)


def in_private_mounts(script: str, api_url: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KHABAR_")}
    env = clean | {"PREFECT_API_URL": api_url, "KHABAR_SHARD_RETRY_DELAY_S": "0", "KHABAR": KHABAR}
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=600, check=False
    )


@needs_mounts
def test_a_read_only_output_folder_is_one_sentence(tmp_path, raw_corpus, prefect_api_url):
    out = tmp_path / "out"
    out.mkdir()
    script = f'mount -t tmpfs -o ro tmpfs {out} && "$KHABAR" run --raw {raw_corpus} --out {out} -w 1'
    result = in_private_mounts(script, prefect_api_url)
    assert result.returncode == 2, result.stderr
    assert one_sentence(result) == f"Error: cannot write to the output folder {out}: Read-only file system"


@needs_mounts
def test_a_full_disk_is_one_sentence_and_a_rerun_with_room_loses_nothing(tmp_path, raw_corpus, prefect_api_url):
    """The sample's tables need about 90 KB; a 48 KB tmpfs fills up mid-run, then it grows and khabar reruns."""
    out, copy = tmp_path / "out", tmp_path / "copy"
    out.mkdir()
    script = (
        f"mount -t tmpfs -o size=48k tmpfs {out} && "
        f'"$KHABAR" run --raw {raw_corpus} --out {out} -w 1; echo "first=$?" >&2; '
        f"mount -o remount,size=16m {out} && "
        f'"$KHABAR" run --raw {raw_corpus} --out {out} -w 1 && cp -a {out} {copy}'
    )
    result = in_private_mounts(script, prefect_api_url)
    first, _, rest = result.stderr.partition("first=")
    assert rest.startswith("1"), result.stderr
    assert "Traceback" not in first and "ERROR" not in first, first
    errors = [line for line in first.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: could not write to the output folder {out} (No space left on device); "
        "what was committed is kept, and the next run goes on from there"
    ]
    assert result.returncode == 0, result.stderr
    assert check_tables(copy).problems == []
    reference = tmp_path / "reference"
    run_pipeline(raw_corpus, reference)
    for table in ("documents", "sentences", "tokens", "entities"):
        assert read_all(copy, table).num_rows == read_all(reference, table).num_rows, table
    statuses = {f["path"]: f["status"] for f in read_all(copy, "files").to_pylist()}
    assert statuses == {f["path"]: f["status"] for f in read_all(reference, "files").to_pylist()}
