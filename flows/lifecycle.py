"""A writing run's life, as plain code: lock, take stock, shards, commits, the run record.

The Prefect flows (flows/nightly.py, flows/reprocess.py) call these and add what only Prefect
does (states, artifacts); a run that finds nothing to read calls them without Prefect at all.
Nothing here imports Prefect unless shards are to run.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.executors import ExecutorError, ShardExecutor
from flows.interrupt import RunInterrupted
from flows.settings import Settings, flow_parameters
from flows.shard_runner import RunStart, run_shards, shard_specs, start_run, workers_ahead
from flows.summary import RunSummary
from flows.workers import ShardWorkers
from tasks.boilerplate import Boilerplate, BoilerplateCounter
from tasks.entities import NerConfig
from tasks.faults import failpoint
from tasks.inventory import (
    SHARD_SIZE,
    DocumentPlanner,
    FileFacts,
    FilesTable,
    FileStat,
    Plan,
    RawChanges,
    files_to_read,
    read_facts,
    scan_raw,
    split_into_shards,
)
from tasks.lock import LockedError, output_lock
from tasks.maintenance import COMPACT_WHEN_SMALL_FILES, compact_open
from tasks.runlog import State, load_state, write_files_table, write_quarantine, write_run_record
from tasks.shards import ShardResult, ShardSpec
from tasks.storage import OutputFolderError, Part, check_folders, write_failure
from tasks.tables import TableWriter

# Bookkeeping runs as plain calls in the flow's process: as Prefect tasks they cost about half a
# second of API round trips each, more than their work on 20,000 files. Shards are the tasks.


class RunFailedError(RuntimeError):
    """The run could not run or could not finish (folder in use or refused, disk full); one sentence."""


class ShardCommitter:
    """Makes finished shards visible as the run goes, so a crash late in a long run keeps earlier shards.

    The first shard is committed when it finishes; shards that finish within COMMIT_EVERY_S of the last
    step are committed together in the next one:
    a step costs five Delta commits (about 80 ms), and a 20,000-article run has 24 shards.
    """

    COMMIT_EVERY_S = 5.0

    def __init__(self, writer: TableWriter) -> None:
        self.writer = writer
        self.pending: list[ShardResult] = []
        self.last = -float("inf")

    def __call__(self, result: ShardResult) -> None:
        if result.parts:
            self.pending.append(result)
        if self.pending and time.monotonic() - self.last >= self.COMMIT_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Commit the shards not committed yet, as one step."""
        if self.pending:
            add: dict[str, list[Part]] = {}
            for result in self.pending:
                for table, part in result.parts.items():
                    add.setdefault(table, []).append(part)
            self.writer.commit("shard", add=add)
            self.pending = []
        self.last = time.monotonic()


@dataclass
class PlannedRun:
    """A writing run's first half: its output folder locked, its stock taken, its shards planned."""

    run: RunStart
    raw_dir: str
    out_dir: str
    writer: TableWriter
    state: State
    scanned: list[FileStat]
    facts: list[FileFacts]
    plan: Plan
    specs: list[ShardSpec]
    executor: ShardExecutor | None = None  # open, its shards queued, when planned ahead of the flow


@contextlib.contextmanager
def planned_run(
    raw_dir: str,
    out_dir: str,
    shard_size: int = SHARD_SIZE,
    max_file_bytes: int = 50_000_000,
    ner: NerConfig | None = None,
    kind: str = "nightly",
    workers: int | None = None,
    lock_wait_s: float = 0.0,
    max_doc_seconds: float = 300.0,
    layout: str | None = None,
    executor: str = "processes",
    dask_address: str | None = None,
    looked: RawChanges | None = None,
    start_shards: bool = False,
    **_: object,  # the flows' other parameters (retries) are the shards' business
) -> Iterator[PlannedRun]:
    """Lock the output folder for the block and plan the run: what changed, which documents are new, shards.

    The raw folder is scanned once: `looked`, the look the caller took before the lock (tasks.runlog.raw_status),
    is the scan when no commit to the files table came since (0.2 s at 20,000 files, before the first shard).
    A file that arrived since is read by the next run, as one that arrives during the run is; a run that
    committed meanwhile may have read files that look missed, so then the folder is scanned again.

    The files to read are read a shard's worth at a time, in path order. With start_shards, each shard goes
    to khabar's worker processes (PlannedRun.executor, open for the block) as soon as its files are read and
    the run's boilerplate is settled, while the rest are read: at 20,000 files, reading them all took 0.5 s
    of a core before any shard could start."""
    run = start_run(ner, workers, max_doc_seconds, layout, executor, dask_address)
    check_folders(raw_dir, out_dir)
    with output_lock(out_dir, f"{kind} run", wait_s=lock_wait_s), contextlib.ExitStack() as early:
        writer = TableWriter.open(out_dir, run.run_id)
        state = load_state(out_dir, writer.snapshot)
        if looked is not None and looked.basis == writer.snapshot.actions("files"):
            scanned = looked.scanned
        else:
            scanned = scan_raw(raw_dir)
        to_read = files_to_read(scanned, state.files)
        groups = split_into_shards(to_read, shard_size, run.workers)  # fewer documents where files are copies
        counter = BoilerplateCounter(layout, (stat.path for stat in to_read))
        planner = DocumentPlanner(state.known_docs, state.quarantined_hashes)
        facts: list[FileFacts] = []
        specs: list[ShardSpec] = []
        waiting: list[tuple[int, list[str]]] = []  # groups read, their shards waiting for the boilerplate
        workers_early: ShardWorkers | None = None
        boilerplate: Boilerplate | None = None  # found once the counter is settled
        try:
            for number, group in enumerate(groups):
                read = read_facts(raw_dir, group, max_file_bytes, counter.add)
                facts.extend(read)
                counter.read(stat.path for stat in group)
                if documents := [path for path, _ in planner.add(read)]:
                    waiting.append((number, documents))
                if not waiting or not (counter.settled or number == len(groups) - 1):
                    continue
                hashes = {path: planner.plan.facts[path].content_hash or "" for _, paths in waiting for path in paths}
                if boilerplate is None:
                    boilerplate = counter.detected()
                ready = shard_specs(run, raw_dir, out_dir, waiting, hashes, boilerplate)
                waiting = []
                specs.extend(ready)
                if start_shards and workers_early is None:
                    workers_early = early.enter_context(workers_ahead(run, len(groups)))
                if workers_early is not None:
                    workers_early.queue(ready)
        except BaseException:  # the shards started go, as those of a run that no flow takes (plan_ahead)
            _drop_started(workers_early, writer)
            raise
        yield PlannedRun(run, raw_dir, out_dir, writer, state, scanned, facts, planner.plan, specs, workers_early)


# The run planned ahead of its flow by this process (plan_ahead), for the flow run to take.
_ahead: PlannedRun | None = None


@contextlib.contextmanager
def plan_ahead(settings: Settings, kind: str = "manual", looked: RawChanges | None = None) -> Iterator[PlannedRun]:
    """Plan the run and start its shards now, while Prefect starts (7 to 12 s of the run's start, which the
    workers would otherwise wait out); the flow run that this process starts for the same folders then
    takes this plan (nightly_run) instead of making its own. When the block ends without the flow having
    taken it (Prefect failed to start, Ctrl-C), the shards are dropped and their parts deleted.
    Only khabar's own worker processes start early; a Dask cluster starts with the flow, as before."""
    global _ahead
    with contextlib.ExitStack() as stack:
        with _as_run_failures(settings.out_dir):  # the plan's failures, not those of the caller's block
            plan = flow_parameters(settings) | {
                "max_file_bytes": settings.max_file_bytes,
                "kind": kind,
                "looked": looked,
            }
            planned = stack.enter_context(planned_run(**plan, start_shards=settings.executor == "processes"))
        _ahead = planned
        try:
            yield planned
        except BaseException:
            _drop_started(planned.executor, planned.writer)
            raise
        finally:
            _ahead = None


def _drop_started(executor: ShardExecutor | None, writer: TableWriter) -> None:
    """A run that ends before a flow takes it: stop the shards it started and delete the parts no commit took."""
    if executor is not None:
        executor.stop()
    with contextlib.suppress(OSError):
        writer.finish()


def _take_ahead(raw_dir: str, out_dir: str) -> contextlib.AbstractContextManager[PlannedRun] | None:
    """The run this process planned ahead for these folders, once (its owner, plan_ahead, closes it)."""
    global _ahead
    planned = _ahead
    if planned is None or (planned.raw_dir, planned.out_dir) != (raw_dir, out_dir):
        return None
    _ahead = None
    return contextlib.nullcontext(planned)


@contextlib.contextmanager
def _as_run_failures(out_dir: str | Path) -> Iterator[None]:
    """A folder in use or refused, a disk full: RunFailedError, one sentence."""
    try:
        yield
    except (LockedError, OutputFolderError, ExecutorError) as exc:
        raise RunFailedError(str(exc)) from None
    except OSError as exc:  # disk full, a folder gone read-only: one sentence, not a traceback
        raise RunFailedError(write_failure(out_dir, exc)) from None


def nightly_run(
    retries: int = 2,
    retry_delay_s: float = 5.0,
    on_shards_done: Callable[[list[str]], None] = lambda _: None,
    **plan: Any,
) -> tuple[RunSummary, list[str]]:
    """Process new and changed files under raw_dir into the tables under out_dir: the run planned ahead
    for these folders (plan_ahead), else one planned now with `plan` (planned_run's parameters).

    Returns the summary and the entity parts the run wrote, which on_shards_done gets as soon as the last
    shard is committed, before the files table and the run record; RunFailedError when it could not run.
    """
    raw_dir, out_dir = plan["raw_dir"], plan["out_dir"]
    with _as_run_failures(out_dir), _take_ahead(raw_dir, out_dir) or planned_run(**plan) as planned:
        return _complete(planned, plan.get("kind", "nightly"), retries, retry_delay_s, on_shards_done)


def _complete(
    planned: PlannedRun,
    kind: str,
    retries: int,
    retry_delay_s: float,
    on_shards_done: Callable[[list[str]], None] = lambda _: None,
) -> tuple[RunSummary, list[str]]:
    """Run the planned shards, committing them as they finish, then the files table and the run record."""
    run, writer, out_dir, plan, specs = planned.run, planned.writer, planned.out_dir, planned.plan, planned.specs
    committer = ShardCommitter(writer)
    files_table = FilesTable(planned.state.files, planned.scanned, plan, run.run_id)

    def on_result(result: ShardResult) -> None:
        committer(result)
        files_table.add(result.outcomes)  # its rows made while the other shards run

    try:
        results, outcomes = run_shards(
            specs,
            run,
            retries=retries,
            retry_delay_s=retry_delay_s,
            on_result=on_result,
            executor=planned.executor,
        )
    except RunInterrupted:
        committer.flush()  # the finished shards stay; the others' parts go
        writer.finish()
        raise
    committer.flush()
    entity_parts = [r.parts["entities"].path for r in results if "entities" in r.parts]
    on_shards_done(entity_parts)

    failpoint("run.before_record")
    files = files_table.records(outcomes)
    files_part = write_files_table(out_dir, run.run_id, files)
    set_aside = [f for f in files if f.status == "quarantined" and f.path in plan.facts]  # this run's
    quarantine_parts = [write_quarantine(out_dir, run.run_id, set_aside)] if set_aside else []
    seen = {s.path for s in planned.scanned}
    quarantined = dict(Counter(f.reason or "unknown" for f in set_aside))
    docs_failed = sum(o.status == "failed" for o in outcomes.values())
    summary = run.summary(
        kind,
        n_shards=len(specs),
        docs_failed=docs_failed,
        files_seen=len(planned.scanned),
        files_read=len(planned.facts),
        docs_new=sum(r.n_documents for r in results),
        docs_skipped=sum(
            f.path in seen and f.status in ("processed", "duplicate") and f.path not in outcomes for f in files
        ),
        files_quarantined=sum(quarantined.values()),
        n_tokens=sum(r.n_tokens for r in results),
        n_entities=sum(r.n_entities for r in results),
        shard_seconds=round(sum(r.seconds for r in results), 3),
        quarantined=quarantined,
    )
    run_part = write_run_record(out_dir, summary.record())
    failpoint("run.after_record")
    writer.commit(
        "run",
        add={"files": [files_part], "runs": [run_part], "quarantine": quarantine_parts},
        remove=writer.snapshot.paths("files"),
    )
    compact_open(writer, at_least=COMPACT_WHEN_SMALL_FILES)  # a table of many small files: merge them
    writer.finish()
    return summary, entity_parts


def idle_run(settings: Settings, kind: str = "manual") -> RunSummary:
    """The run when a look at the folders found nothing to read: the same bookkeeping (files snapshot,
    run record) without Prefect, whose temporary server alone takes longer than the rest of it.
    FlowRunRequired (flows.shard_runner) when a file arrived since: the caller then runs the flow."""
    summary, _ = nightly_run(**flow_parameters(settings), max_file_bytes=settings.max_file_bytes, kind=kind)
    return summary
