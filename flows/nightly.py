"""The nightly flow: take stock of the raw folder, fan shards out to workers, commit, record the run."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.states import Failed, State
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.settings import Settings
from flows.shard_runner import run_shards, shard_specs, start_run
from flows.summary import RunSummary, publish_artifacts
from reports.query import top_entities
from tasks.entities import NerConfig, resolve
from tasks.faults import failpoint
from tasks.inventory import files_to_read, next_files_table, plan_documents, read_facts, scan_raw, split_into_shards
from tasks.lock import LockedError, output_lock
from tasks.manifest import Manifest, OutputFolderError, Part, commit_manifest
from tasks.runlog import load_state, write_files_table, write_quarantine, write_run_record
from tasks.shards import ShardResult
from tasks.storage import check_folders, finish_writing, open_for_writing, write_failure

# Bookkeeping steps run in the flow's process; shards run on the task runner.
take_stock = task(name="load-state", cache_policy=NONE)(load_state)
scan = task(name="scan-raw", cache_policy=NONE)(scan_raw)
hash_files = task(name="hash-files", cache_policy=NONE)(read_facts)
record_files = task(name="write-files-table", cache_policy=NONE)(write_files_table)
record_run = task(name="write-run-record", cache_policy=NONE)(write_run_record)
record_quarantine = task(name="write-quarantine", cache_policy=NONE)(write_quarantine)


class ManifestCommitter:
    """Makes each finished shard visible at once, so a crash late in a long run keeps earlier shards."""

    def __init__(self, out_dir: str, manifest: Manifest) -> None:
        self.out_dir = out_dir
        self.manifest = manifest

    def add_shard(self, result: ShardResult) -> None:
        if result.parts:
            failpoint("manifest.before_commit")
            self.commit(add={table: [part] for table, part in result.parts.items()})

    def commit(
        self,
        add: dict[str, list[Part]] | None = None,
        remove: list[str] | tuple[str, ...] = (),
        finished: str | None = None,
    ) -> None:
        """Commit parts added and removed; `finished` closes that run, after deleting its uncommitted parts."""
        manifest = self.manifest.changed(add=add, remove=remove)
        if finished:
            self.manifest = finish_writing(self.out_dir, manifest, finished)
        else:
            self.manifest = commit_manifest(self.out_dir, manifest)


@flow(name="khabar-nightly", log_prints=False, task_runner=ProcessPoolTaskRunner())  # type: ignore[arg-type]
def nightly(
    raw_dir: str,
    out_dir: str,
    shard_size: int = 500,
    max_file_bytes: int = 50_000_000,
    ner: NerConfig | None = None,
    kind: str = "nightly",
    workers: int | None = None,
    retries: int = 2,
    retry_delay_s: float = 5.0,
    lock_wait_s: float = 0.0,
) -> RunSummary | State:
    """Process new and changed files under raw_dir into the Parquet tables under out_dir."""
    run = start_run(ner, workers)
    run_id = run.run_id
    try:
        check_folders(raw_dir, out_dir)
        with output_lock(out_dir, f"{kind} run", wait_s=lock_wait_s):
            manifest = open_for_writing(out_dir, run_id)
            state = take_stock(out_dir, manifest)
            scanned = scan(raw_dir)
            facts = hash_files(raw_dir, files_to_read(scanned, state.files), max_file_bytes)
            plan = plan_documents(facts, state.known_docs, state.quarantined_hashes)
            groups = split_into_shards([path for path, _ in plan.to_process], shard_size, run.workers)
            hashes = {path: plan.facts[path].content_hash or "" for path, _ in plan.to_process}
            specs = shard_specs(run, raw_dir, out_dir, groups, hashes)
            committer = ManifestCommitter(out_dir, manifest)
            results, outcomes = run_shards(
                specs, retries=retries, retry_delay_s=retry_delay_s, on_result=committer.add_shard
            )

            failpoint("run.before_record")
            files = next_files_table(state.files, scanned, plan, outcomes, run_id)
            files_part = record_files(out_dir, run_id, files)
            set_aside = [f for f in files if f.status == "quarantined" and f.path in plan.facts]  # this run's
            quarantine_parts = [record_quarantine(out_dir, run_id, set_aside)] if set_aside else []
            seen = {s.path for s in scanned}
            quarantined = dict(Counter(f.reason or "unknown" for f in set_aside))
            docs_failed = sum(o.status == "failed" for o in outcomes.values())
            summary = run.summary(
                kind,
                n_shards=len(specs),
                docs_failed=docs_failed,
                files_seen=len(scanned),
                files_read=len(facts),
                docs_new=sum(r.n_documents for r in results),
                docs_skipped=sum(
                    f.path in seen and f.status in ("processed", "duplicate") and f.path not in outcomes for f in files
                ),
                files_quarantined=sum(quarantined.values()),
                n_tokens=sum(r.n_tokens for r in results),
                n_entities=sum(r.n_entities for r in results),
                quarantined=quarantined,
            )
            run_part = record_run(out_dir, summary.record())
            failpoint("run.after_record")
            committer.commit(
                add={"files": [files_part], "runs": [run_part], "quarantine": quarantine_parts},
                remove=manifest.paths("files"),
                finished=run_id,
            )
    except (LockedError, OutputFolderError) as exc:
        return Failed(message=str(exc))
    except OSError as exc:  # disk full, a folder gone read-only: one sentence, not a traceback
        return Failed(message=write_failure(out_dir, exc))
    publish_artifacts(
        summary, top_entities(out_dir, [r.parts["entities"].path for r in results if "entities" in r.parts])
    )
    if docs_failed:
        return Failed(message=f"{docs_failed} documents in failed shards; the next run retries them", data=summary)
    return summary


def task_runner_for(workers: int) -> TaskRunner[Any]:
    """Worker processes for shards; one worker runs them in-process (no process start-up)."""
    return ThreadPoolTaskRunner(max_workers=1) if workers == 1 else ProcessPoolTaskRunner(max_workers=workers)


def flow_parameters(settings: Settings) -> dict[str, Any]:
    """The parameters both writing flows take from the settings (folders, shards, backend, retries, lock)."""
    return {
        "raw_dir": str(Path(settings.raw_dir)),
        "out_dir": str(Path(settings.out_dir)),
        "shard_size": settings.shard_size,
        "ner": ner_config(settings),
        "workers": settings.workers,
        "retries": settings.shard_retries,
        "retry_delay_s": settings.shard_retry_delay_s,
        "lock_wait_s": settings.lock_wait_s,
    }


def run_nightly(settings: Settings, kind: str = "manual") -> RunSummary:
    """Run the nightly flow here with the settings' task runner; raises RunFailedError if it could not run."""
    state = nightly.with_options(task_runner=task_runner_for(settings.workers))(
        **flow_parameters(settings), max_file_bytes=settings.max_file_bytes, kind=kind, return_state=True
    )
    return summary_of(state)


class RunFailedError(RuntimeError):
    pass


def summary_of(state: State) -> RunSummary:
    """The run's summary, also when the run failed some shards; RunFailedError when there is none."""
    result = state.result(raise_on_failure=False)
    if isinstance(result, RunSummary):
        return result
    raise RunFailedError(state.message or str(result))


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
