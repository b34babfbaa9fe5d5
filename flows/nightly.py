"""The nightly flow: take stock of the raw folder, fan shards out to workers, commit, record the run."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Cancelled, Failed, State
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.artifacts import TopEntitiesReader, publish_artifacts
from flows.interrupt import RunInterrupted
from flows.lifecycle import RunFailedError, nightly_run
from flows.settings import Settings, flow_parameters
from flows.summary import RunSummary
from tasks.entities import NerConfig
from tasks.inventory import SHARD_SIZE

__all__ = ["RunFailedError", "nightly", "run_nightly", "summary_of", "task_runner_for"]


@flow(name="khabar-nightly", log_prints=False, task_runner=ThreadPoolTaskRunner())  # type: ignore[arg-type]
def nightly(
    raw_dir: str,
    out_dir: str,
    shard_size: int = SHARD_SIZE,
    max_file_bytes: int = 50_000_000,
    ner: NerConfig | None = None,
    kind: str = "nightly",
    workers: int | None = None,
    retries: int = 2,
    retry_delay_s: float = 5.0,
    lock_wait_s: float = 0.0,
    max_doc_seconds: float = 300.0,
    layout: str | None = None,
    executor: str = "processes",
    dask_address: str | None = None,
) -> RunSummary | State:
    """Process new and changed files under raw_dir into the tables under out_dir; shards run on the
    executor (flows.executors: khabar's worker processes, or a Dask cluster)."""
    with TopEntitiesReader(out_dir) as top:
        try:
            summary, entity_parts = nightly_run(
                retries,
                retry_delay_s,
                top.start,  # the artifact's top entities, read while the run records itself
                raw_dir=raw_dir,
                out_dir=out_dir,
                shard_size=shard_size,
                max_file_bytes=max_file_bytes,
                ner=ner,
                kind=kind,
                workers=workers,
                lock_wait_s=lock_wait_s,
                max_doc_seconds=max_doc_seconds,
                layout=layout,
                executor=executor,
                dask_address=dask_address,
            )
        except RunFailedError as exc:
            return Failed(message=str(exc))
        except RunInterrupted as exc:
            return Cancelled(message=str(exc))
        publish_artifacts(summary, out_dir, entity_parts, top)
    if summary.docs_failed:
        return Failed(
            message=f"{summary.docs_failed} documents in failed shards; the next run retries them", data=summary
        )
    return summary


def task_runner_for(workers: int) -> TaskRunner[Any]:
    """One thread per worker: each shard task waits on its worker process (flows.workers)."""
    return ThreadPoolTaskRunner(max_workers=workers)


def run_nightly(settings: Settings, kind: str = "manual") -> RunSummary:
    """Run the nightly flow here with the settings' task runner; raises RunFailedError if it could not run."""
    state = nightly.with_options(task_runner=task_runner_for(settings.workers))(
        **flow_parameters(settings), max_file_bytes=settings.max_file_bytes, kind=kind, return_state=True
    )
    return summary_of(state)


def summary_of(state: State) -> RunSummary:
    """The run's summary, also when the run failed some shards; RunInterrupted when a signal stopped it,
    RunFailedError when there is none."""
    if state.is_cancelled():
        raise RunInterrupted(state.message)
    result = state.result(raise_on_failure=False)
    if isinstance(result, RunSummary):
        return result
    raise RunFailedError(state.message or str(result))
