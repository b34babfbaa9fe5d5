"""The nightly flow: take stock of the raw folder, fan shards out to workers, record the run."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows import progress
from flows.settings import Settings
from tasks.entities import NerConfig, resolve
from tasks.inventory import (
    Outcome,
    files_to_read,
    next_files_table,
    plan_documents,
    read_facts,
    scan_raw,
    split_into_shards,
)
from tasks.runlog import load_state, new_run_id, write_files_table, write_run_record
from tasks.shards import ShardResult, ShardSpec, process_shard_task
from tasks.storage import remove_leftovers

SHARD_FAILED = "shard_failed"


@dataclass
class RunSummary:
    run_id: str
    flow_run_id: str | None
    started_at: datetime
    finished_at: datetime
    status: str
    files_seen: int
    files_read: int
    docs_new: int
    docs_skipped: int
    docs_failed: int
    files_quarantined: int
    n_shards: int
    workers: int
    duration_s: float
    n_tokens: int = 0
    n_entities: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> files


# Bookkeeping steps run in the flow's process; shards run on the task runner.
take_stock = task(name="load-state", cache_policy=NONE)(load_state)
scan = task(name="scan-raw", cache_policy=NONE)(scan_raw)
hash_files = task(name="hash-files", cache_policy=NONE)(read_facts)
record_files = task(name="write-files-table", cache_policy=NONE)(write_files_table)
record_run = task(name="write-run-record", cache_policy=NONE)(write_run_record)


@flow(name="khabar-nightly", log_prints=False)
def nightly(
    raw_dir: str,
    out_dir: str,
    workers: int,
    shard_size: int,
    max_file_bytes: int,
    ner: NerConfig,
) -> RunSummary:
    """Process new and changed files under raw_dir into the Parquet tables under out_dir."""
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    run_id = new_run_id(started_at)
    remove_leftovers(out_dir)
    state = take_stock(out_dir)
    scanned = scan(raw_dir)
    facts = hash_files(raw_dir, files_to_read(scanned, state.files), max_file_bytes)
    plan = plan_documents(facts, state.known_docs, state.quarantined_hashes)

    groups = split_into_shards([path for path, _ in plan.to_process], shard_size, workers)
    specs = [
        ShardSpec(f"{run_id}-{i:05d}", raw_dir, out_dir, tuple(group), run_id, ner) for i, group in enumerate(groups)
    ]
    results, outcomes = _run_shards(specs)

    files = next_files_table(state.files, scanned, plan, outcomes, run_id)
    record_files(out_dir, run_id, files)
    seen = {s.path for s in scanned}
    this_run = [f for f in files if f.path in seen]
    quarantined: dict[str, int] = {}
    for f in this_run:
        if f.status == "quarantined" and f.path in plan.facts:
            quarantined[f.reason or "unknown"] = quarantined.get(f.reason or "unknown", 0) + 1
    docs_failed = sum(o.status == "failed" for o in outcomes.values())
    summary = RunSummary(
        run_id=run_id,
        flow_run_id=flow_run.get_id(),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        status="completed_with_failures" if docs_failed else "completed",
        files_seen=len(scanned),
        files_read=len(facts),
        docs_new=sum(r.n_documents for r in results),
        docs_skipped=sum(f.status in ("processed", "duplicate") and f.path not in outcomes for f in this_run),
        docs_failed=docs_failed,
        files_quarantined=sum(quarantined.values()),
        n_shards=len(specs),
        workers=min(workers, max(len(specs), 1)),
        duration_s=0.0,
        n_tokens=sum(r.n_tokens for r in results),
        n_entities=sum(r.n_entities for r in results),
        quarantined=quarantined,
    )
    summary.duration_s = round(time.perf_counter() - clock, 3)
    summary.finished_at = datetime.now(UTC)
    record_run(out_dir, asdict(summary))
    create_markdown_artifact(markdown=summary_markdown(summary), key="khabar-run-summary", description="khabar run")
    return summary


def _run_shards(specs: list[ShardSpec]) -> tuple[list[ShardResult], dict[str, Outcome]]:
    """Submit every shard, collect results as they finish; a failed shard marks its files failed."""
    results: list[ShardResult] = []
    outcomes: dict[str, Outcome] = {}
    futures = {process_shard_task.submit(spec): spec for spec in specs}
    progress.report(0, len(specs), 0)
    for done, future in enumerate(as_completed(list(futures)), start=1):
        spec = futures[future]
        try:
            result = future.result()
        except Exception as exc:  # retried on the next run: failed files are re-read
            detail = f"{type(exc).__name__}: {exc}"
            outcomes.update((p, Outcome(p, None, None, "failed", SHARD_FAILED, detail)) for p in spec.paths)
        else:
            results.append(result)
            outcomes.update((o.path, o) for o in result.outcomes)
        progress.report(done, len(specs), sum(r.n_documents for r in results))
    return results, outcomes


def summary_markdown(s: RunSummary) -> str:
    lines = [
        f"# khabar run `{s.run_id}`",
        "",
        "| metric | value |",
        "|---|---|",
        f"| status | {s.status} |",
        f"| files seen | {s.files_seen} |",
        f"| files read (new or changed) | {s.files_read} |",
        f"| documents new | {s.docs_new} |",
        f"| documents skipped (already processed) | {s.docs_skipped} |",
        f"| documents failed | {s.docs_failed} |",
        f"| files quarantined | {s.files_quarantined} |",
        f"| tokens / entities written | {s.n_tokens} / {s.n_entities} |",
        f"| shards / workers | {s.n_shards} / {s.workers} |",
        f"| duration | {s.duration_s:.1f} s |",
    ]
    if s.quarantined:
        lines += ["", "Quarantined by reason: " + ", ".join(f"`{k}` {v}" for k, v in sorted(s.quarantined.items()))]
    return "\n".join(lines) + "\n"


def run_nightly(settings: Settings) -> RunSummary:
    """Run the nightly flow with the task runner the settings ask for."""
    n_workers = settings.workers
    runner: TaskRunner[Any] = (
        ThreadPoolTaskRunner(max_workers=1) if n_workers == 1 else ProcessPoolTaskRunner(max_workers=n_workers)
    )
    return nightly.with_options(task_runner=runner)(
        raw_dir=str(Path(settings.raw_dir)),
        out_dir=str(Path(settings.out_dir)),
        workers=n_workers,
        shard_size=settings.shard_size,
        max_file_bytes=settings.max_file_bytes,
        ner=ner_config(settings),
    )


def ner_config(settings: Settings) -> NerConfig:
    """The entity backend the settings ask for, resolved (auto made concrete) and checked to load."""
    return resolve(
        NerConfig(
            backend=settings.ner,
            model=str(settings.ner_model) if settings.ner_model else None,
            gazetteer_files=tuple(str(p) for p in settings.gazetteers),
            threads=max(1, (os.cpu_count() or 1) // settings.workers),
            quantize=settings.ner_quantize,
        )
    )
