"""What every writing flow shares: the start of a run, its shard specs, and fanning shards out."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows import interrupt, progress
from flows.executors import ShardExecutor, shard_executor
from flows.summary import RunSummary, trigger_of_this_run
from flows.workers import ShardWorkers, run_shard
from tasks.boilerplate import Boilerplate
from tasks.entities import NerConfig, resolve
from tasks.fingerprint import fingerprint_detail, fingerprint_of
from tasks.inventory import Outcome
from tasks.runlog import new_run_id
from tasks.shards import ShardResult, ShardSpec


@functools.cache
def shard_task() -> Any:
    """The Prefect task of a shard: it runs on one of the flow's threads and hands its shard to a worker
    process (flows.workers). Made on first use, so that a run without shards never imports Prefect."""
    from prefect import task
    from prefect.cache_policies import NONE

    return task(name="process-shard", cache_policy=NONE)(run_shard)


SHARD_FAILED = "shard_failed"


@dataclass
class RunStart:
    """A run's identity and the pipeline it writes with, fixed when it starts."""

    run_id: str
    started_at: datetime
    workers: int
    ner: NerConfig  # resolved: never auto
    fingerprint: str
    fingerprint_detail: str  # JSON
    max_doc_seconds: float = 300.0
    layout: str | None = None
    executor: str = "processes"  # flows.executors
    dask_address: str | None = None
    clock: float = field(default_factory=time.perf_counter)

    def elapsed_s(self) -> float:
        return round(time.perf_counter() - self.clock, 3)

    def summary(self, kind: str, n_shards: int, docs_failed: int, **counts: Any) -> RunSummary:
        """The run's summary: its identity from here, its counts from the caller; finished now."""
        flow_run_id = None
        if in_flow_run():
            from prefect.runtime import flow_run

            flow_run_id = flow_run.get_id()
        return RunSummary(
            run_id=self.run_id,
            kind=kind,
            trigger=trigger_of_this_run(),
            fingerprint=self.fingerprint,
            fingerprint_detail=self.fingerprint_detail,
            flow_run_id=flow_run_id,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            status="completed_with_failures" if docs_failed else "completed",
            docs_failed=docs_failed,
            n_shards=n_shards,
            workers=min(self.workers, max(n_shards, 1)),
            duration_s=self.elapsed_s(),
            **counts,
        )


def start_run(
    ner: NerConfig | None,
    workers: int | None,
    max_doc_seconds: float = 300.0,
    layout: str | None = None,
    executor: str = "processes",
    dask_address: str | None = None,
) -> RunStart:
    started_at = datetime.now(UTC)
    config = resolve(ner or NerConfig())
    detail = fingerprint_detail(config, layout)
    return RunStart(
        run_id=new_run_id(started_at),
        started_at=started_at,
        workers=workers or os.cpu_count() or 1,
        ner=config,
        fingerprint=fingerprint_of(detail),
        fingerprint_detail=json.dumps(detail, sort_keys=True),
        max_doc_seconds=max_doc_seconds,
        layout=layout,
        executor=executor,
        dask_address=dask_address,
    )


def shard_specs(
    run: RunStart,
    raw_dir: str,
    out_dir: str,
    groups: Iterable[tuple[int, Sequence[str]]],
    hashes: Mapping[str, str],
    boilerplate: Boilerplate | None = None,
) -> list[ShardSpec]:
    """One spec per numbered group of paths, named <run_id>-<number>, with each path's planned content hash and
    the run's boilerplate; the folders absolute, as a worker on another host (flows.executors) mounts them."""
    raw_dir, out_dir = str(Path(raw_dir).absolute()), str(Path(out_dir).absolute())
    return [
        ShardSpec(
            part=f"{run.run_id}-{i:05d}",
            raw_dir=raw_dir,
            out_dir=out_dir,
            paths=tuple(group),
            hashes=tuple(hashes[p] for p in group),
            run_id=run.run_id,
            fingerprint=run.fingerprint,
            ner=run.ner,
            max_doc_seconds=run.max_doc_seconds,
            layout=run.layout,
            boilerplate=boilerplate or {},
        )
        for i, group in groups
    ]


def open_executor(run: RunStart, specs: list[ShardSpec]) -> contextlib.AbstractContextManager[ShardExecutor]:
    """The run's executor for these shards, every one queued to it as it opens (flows.executors.shard_executor)."""
    return shard_executor(run.executor, run.dask_address, min(run.workers, len(specs)), specs)


def workers_ahead(run: RunStart, n_shards: int) -> ShardWorkers:
    """khabar's worker processes for a run planned ahead of its flow run (flows.lifecycle.plan_ahead): its
    shards are queued to them as they are planned, and run while Prefect starts; for at most n_shards."""
    return ShardWorkers(min(run.workers, n_shards), ahead_of_flow=True)


class FlowRunRequired(RuntimeError):
    """The flow's body was called without Prefect (a run expected to find nothing), and found work."""


def in_flow_run() -> bool:
    if "prefect.context" not in sys.modules:  # never imported: no flow run in this process
        return False
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def run_shards(
    specs: list[ShardSpec],
    run: RunStart,
    *,
    retries: int,
    retry_delay_s: float,
    on_result: Callable[[ShardResult], None] = lambda _: None,
    executor: ShardExecutor | None = None,
) -> tuple[list[ShardResult], dict[str, Outcome]]:
    """Submit every shard (retried on failure), hand each finished one to on_result as it completes.

    A shard that still fails after its retries marks its files failed; the other shards go on. The
    run's executor (flows.executors) runs them: the one given, open and its shards queued (a run
    planned ahead), else one opened here; nothing is started when there is no shard. A signal
    (flows.interrupt) stops the workers:
    RunInterrupted then, after every shard finished before it was handed to on_result.
    """
    if not specs:
        progress.report(0, 0, 0)
        return [], {}
    if not in_flow_run():
        raise FlowRunRequired("shards run as Prefect tasks, inside a flow run")
    with (
        contextlib.nullcontext(executor) if executor is not None else open_executor(run, specs) as opened,
        interrupt.stoppable(opened.stop),
    ):
        results, outcomes = _collect(opened, specs, retries, retry_delay_s, on_result)
        opened.release()  # the workers go now, with their memory, though a given executor stays open
    if interrupt.requested():
        raise interrupt.RunInterrupted.after(len(results), len(specs))
    return results, outcomes


def _retry_unless_stopping(*_: object) -> bool:
    return not interrupt.requested()


def _collect(
    executor: ShardExecutor,
    specs: list[ShardSpec],
    retries: int,
    retry_delay_s: float,
    on_result: Callable[[ShardResult], None],
) -> tuple[list[ShardResult], dict[str, Outcome]]:
    from prefect.futures import as_completed
    from prefect.utilities.annotations import quote

    task = shard_task().with_options(
        retries=retries, retry_delay_seconds=retry_delay_s, retry_condition_fn=_retry_unless_stopping
    )
    results: list[ShardResult] = []
    outcomes: dict[str, Outcome] = {}
    # quote(): Prefect passes the spec through as it is, where it walked its 1,000 paths and hashes to look
    # for futures to resolve (15 ms of the flow's CPU per shard)
    futures = {executor.submit(task, quote(spec)): spec for spec in specs}
    progress.report(0, len(specs), 0)
    for done, future in enumerate(as_completed(list(futures)), start=1):
        spec = futures[future]
        try:
            result = future.result()
        except Exception as exc:  # retried on the next run: failed files are re-read
            if interrupt.requested():  # dropped, not failed: the next run reads its files as new
                continue
            detail = f"{type(exc).__name__}: {exc}"
            outcomes.update((p, Outcome(p, None, None, "failed", SHARD_FAILED, detail)) for p in spec.paths)
        else:
            results.append(result)
            outcomes.update((o.path, o) for o in result.outcomes)
            on_result(result)
        progress.report(done, len(specs), sum(r.n_documents for r in results))
    return results, outcomes
