"""Fanning shard tasks out on the flow's task runner and collecting them as they finish."""

from __future__ import annotations

from collections.abc import Callable

from prefect.futures import as_completed

from flows import progress
from tasks.inventory import Outcome
from tasks.shards import ShardResult, ShardSpec, process_shard_task

SHARD_FAILED = "shard_failed"


def run_shards(
    specs: list[ShardSpec],
    *,
    retries: int,
    retry_delay_s: float,
    on_result: Callable[[ShardResult], None] = lambda _: None,
) -> tuple[list[ShardResult], dict[str, Outcome]]:
    """Submit every shard (retried on failure), hand each finished one to on_result as it completes.

    A shard that still fails after its retries marks its files failed; the other shards go on.
    """
    task = process_shard_task.with_options(retries=retries, retry_delay_seconds=retry_delay_s)
    results: list[ShardResult] = []
    outcomes: dict[str, Outcome] = {}
    futures = {task.submit(spec): spec for spec in specs}
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
            on_result(result)
        progress.report(done, len(specs), sum(r.n_documents for r in results))
    return results, outcomes
