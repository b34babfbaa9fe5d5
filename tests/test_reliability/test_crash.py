"""kill -9 at many points of a run, rerun, and the tables equal those of an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline import read_all, run_pipeline

from tasks.check import check_tables
from tasks.faults import POINTS

KHABAR = str(Path(sys.executable).with_name("khabar"))
pytestmark = pytest.mark.slow

# Each failpoint, and some of them at a later pass (a later shard, a later part, a later commit).
CRASHES = [*POINTS, "parquet.before_rename:3", "commit.before_tables:2", "commit.between_tables:3"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, prefect_api_url):
    from fixtures.make_sample_corpus import write_corpus

    root = tmp_path_factory.mktemp("crash")
    raw = root / "raw"
    write_corpus(raw)
    for i in range(30):
        story = raw / "2026-11-05" / "wire" / f"story-{i:02d}.txt"
        story.parent.mkdir(parents=True, exist_ok=True)
        story.write_text(
            f"خبر رقم {i}\nقال الوزير سامر الخطيب في الرياض إن المشروع {i} يبدأ قريبا.\n", encoding="utf-8"
        )
    reference = run_pipeline(raw, root / "reference", shard_size=5)
    assert reference.docs_new == 42
    return raw, tables_of(root / "reference")


def tables_of(out: Path) -> dict[str, object]:
    docs = read_all(out, "documents").column("doc_id").to_pylist()
    return {
        "doc_ids": sorted(docs),
        "rows": {t: read_all(out, t).num_rows for t in ("documents", "sentences", "tokens", "entities")},
        "files": sorted((f["path"], f["status"], f["doc_id"]) for f in read_all(out, "files").to_pylist()),
    }


def khabar_run(
    raw: Path, out: Path, api_url: str, failpoint: str | None = None, workers: int = 2
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHABAR_")}
    env |= {"PREFECT_API_URL": api_url, "KHABAR_SHARD_RETRY_DELAY_S": "0"}
    if failpoint:
        env["KHABAR_FAILPOINT"] = failpoint
    args = [KHABAR, "run", "--raw", str(raw), "--out", str(out), "--workers", str(workers), "--shard-size", "5"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def assert_recovers(raw: Path, out: Path, api_url: str, expected: dict) -> None:
    rerun = khabar_run(raw, out, api_url, workers=1)  # in-process shards: the quickest clean rerun
    output = rerun.communicate(timeout=300)[0].decode()
    assert rerun.returncode == 0, output
    assert check_tables(out).problems == []
    assert tables_of(out) == expected
    assert not list(out.rglob(".tmp-*")), "the rerun cleans temporary files"


def assert_consistent_while_crashed(out: Path) -> None:
    """Before any rerun, khabar's readers see whole steps only: every document with all its rows."""
    if (out / "_commits" / "_delta_log").is_dir():
        assert check_tables(out).problems == []


@pytest.mark.parametrize("failpoint", CRASHES)
def test_killed_at_a_failpoint_then_rerun_equals_a_clean_run(tmp_path, corpus, prefect_api_url, failpoint):
    raw, expected = corpus
    crashed = khabar_run(raw, tmp_path / "out", prefect_api_url, failpoint)
    crashed.communicate(timeout=300)
    assert crashed.returncode == -signal.SIGKILL, f"{failpoint} was not reached"
    assert_consistent_while_crashed(tmp_path / "out")
    assert_recovers(raw, tmp_path / "out", prefect_api_url, expected)


def test_killed_at_random_moments_then_rerun_equals_a_clean_run(tmp_path, corpus, prefect_api_url):
    raw, expected = corpus
    rng = random.Random(20261129)
    out = tmp_path / "out"
    for _ in range(3):  # kill the same folder three times in a row, at random moments
        run = khabar_run(raw, out, prefect_api_url)
        time.sleep(rng.uniform(1.0, 6.0))
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.communicate(timeout=60)
    assert_recovers(raw, out, prefect_api_url, expected)
