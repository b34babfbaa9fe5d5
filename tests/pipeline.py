"""Helpers for flow tests: run the nightly flow in-process and read what it wrote."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq

from flows.nightly import run_nightly
from flows.settings import Settings
from flows.summary import RunSummary

RUN_COLUMNS = ("run_id", "processed_at", "fingerprint")  # a row's columns that are the run's, not the content's


def run_pipeline(raw: Path, out: Path, **settings) -> RunSummary:
    return run_nightly(Settings(raw_dir=raw, out_dir=out, **{"workers": 1, "shard_retry_delay_s": 0, **settings}))


def state_of(out: Path):
    from tasks.runlog import load_state
    from tasks.tables import load_for_reading

    return load_state(out, load_for_reading(out))


def parquet_digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.parquet"))}


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def read_all(out: Path, table: str):
    from tasks.tables import read_table

    return read_table(out, table)


def file_schemas(out: Path) -> dict[str, object]:
    return {str(p.relative_to(out)): pq.read_schema(p) for p in out.rglob("*.parquet")}
