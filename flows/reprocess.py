"""The reprocess flow: recompute chosen documents and swap their rows in every table in one commit."""

from __future__ import annotations

from prefect import flow
from prefect.states import Cancelled, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.artifacts import publish_artifacts
from flows.executors import ExecutorError
from flows.interrupt import RunInterrupted
from flows.nightly import summary_of, task_runner_for
from flows.settings import Settings, flow_parameters
from flows.shard_runner import run_shards, shard_specs, start_run
from flows.summary import RunSummary
from tasks.boilerplate import BoilerplateCounter
from tasks.entities import NerConfig
from tasks.inventory import SHARD_SIZE, split_into_shards
from tasks.lock import LockedError, output_lock
from tasks.reprocess import Selection, parts_without, readable_sources, select_documents
from tasks.runlog import write_run_record
from tasks.storage import OutputFolderError, check_folders, write_failure
from tasks.tables import TableWriter, load_for_reading


@flow(name="khabar-reprocess", log_prints=False, task_runner=ThreadPoolTaskRunner())  # type: ignore[arg-type]
def reprocess(
    raw_dir: str,
    out_dir: str,
    selection: Selection,
    shard_size: int = SHARD_SIZE,
    ner: NerConfig | None = None,
    workers: int | None = None,
    retries: int = 2,
    retry_delay_s: float = 5.0,
    lock_wait_s: float = 0.0,
    max_doc_seconds: float = 300.0,
    layout: str | None = None,
    executor: str = "processes",
    dask_address: str | None = None,
) -> RunSummary | State:
    """Recompute the selected documents from their raw files with the current pipeline.

        New rows are written to new parts; the parts that held the old rows are rewritten without
        them; one step commits the new parts and retires the old ones in every table, and readers through
    khabar see the old rows or the new ones, never both. A document whose file is gone or changed
        keeps its old rows, and so does one that fails: nothing is lost or duplicated.
    """
    run = start_run(ner, workers, max_doc_seconds, layout, executor, dask_address)
    try:
        check_folders(raw_dir, out_dir)
        with output_lock(out_dir, "reprocess", wait_s=lock_wait_s):
            chosen = select_documents(out_dir, load_for_reading(out_dir), selection, run.fingerprint)
            if not chosen:  # nothing selected: nothing written, not even a run record
                return run.summary("reprocess", n_shards=0, docs_failed=0)
            writer = TableWriter.open(out_dir, run.run_id)
            counter = BoilerplateCounter(layout)
            ready, missing = readable_sources(raw_dir, chosen, counter.add)
            hashes = {c.path: c.content_hash for c in ready}
            groups = split_into_shards(list(hashes), shard_size, run.workers)
            specs = shard_specs(run, raw_dir, out_dir, enumerate(groups), hashes, counter.detected())
            try:
                results, outcomes = run_shards(specs, run, retries=retries, retry_delay_s=retry_delay_s)
            except RunInterrupted:  # a reprocess commits once, at its end: nothing of it was committed
                writer.finish()
                return Cancelled(message="interrupted before the reprocess committed: nothing changed; run it again")
            wanted = {c.doc_id for c in ready}
            replaced = {o.doc_id for o in outcomes.values() if o.status == "processed" and o.doc_id in wanted}
            add, remove = parts_without(out_dir, writer.snapshot, replaced, run.run_id)
            for result in results:
                for table, part in result.parts.items():
                    add[table].append(part)
            failed = sum(o.status != "processed" for o in outcomes.values())
            summary = run.summary(
                "reprocess",
                n_shards=len(specs),
                docs_failed=failed,
                docs_reprocessed=len(replaced),
                n_tokens=sum(r.n_tokens for r in results),
                n_entities=sum(r.n_entities for r in results),
                shard_seconds=round(sum(r.seconds for r in results), 3),
                docs_missing=[c.doc_id for c in missing],
            )
            add["runs"] = [write_run_record(out_dir, summary.record())]
            writer.commit("reprocess", add=add, remove=remove)
            writer.finish()
    except (LockedError, OutputFolderError, ExecutorError) as exc:
        return Failed(message=str(exc))
    except OSError as exc:  # disk full, a folder gone read-only: one sentence, not a traceback
        return Failed(message=write_failure(out_dir, exc))
    publish_artifacts(summary, out_dir, [r.parts["entities"].path for r in results if "entities" in r.parts])
    if failed:
        return Failed(message=f"{failed} documents could not be reprocessed and keep their old rows", data=summary)
    return summary


def run_reprocess(settings: Settings, selection: Selection) -> RunSummary:
    state = reprocess.with_options(task_runner=task_runner_for(settings.workers))(
        **flow_parameters(settings), selection=selection, return_state=True
    )
    return summary_of(state)
