"""`khabar run`: the nightly job from the command line, with progress, a dry run and a summary."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import (
    IMPORTED_AT,
    DaskAddressOpt,
    ExecutorOpt,
    FormatOpt,
    Interrupted,
    JobError,
    LayoutOpt,
    NerModelOpt,
    NerOpt,
    OutOpt,
    RawOpt,
    Shown,
    UserError,
    WorkersOpt,
    app,
    build_settings,
    failed,
    flag,
)
from flows.output import (
    Chatter,
    Format,
    Result,
    bold_line,
    info,
    plural,
    stderr,
)
from flows.output import warning as output_warning
from tasks.inventory import SHARD_SIZE


@app.command()
def run(
    raw: RawOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    shard_size: Annotated[
        int | None,
        typer.Option(
            "--shard-size",
            min=1,
            help=(
                f"Documents per shard task, at most; the last three rounds are smaller "
                f"(env KHABAR_SHARD_SIZE, default {SHARD_SIZE})"
            ),
            show_default=False,
        ),
    ] = None,
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    layout: LayoutOpt = None,
    executor: ExecutorOpt = None,
    dask_address: DaskAddressOpt = None,
    dry_run: Annotated[
        bool, flag("--dry-run", text="Say what the run would read, skip and quarantine unread; touch nothing")
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Process new and changed articles under the raw folder into the Parquet tables.

    Unchanged files are not re-read and documents already processed are skipped, so a second run
    over the same input writes no new document rows. Exits 0 when the run completes, even if some
    files were quarantined (see the files table); 1 when a shard failed (its files are retried by
    the next run) or another run holds the output folder; 2 for bad options.

    Example: `khabar run --raw data/raw --out data/processed --workers 2`, or `khabar run --dry-run`
    """
    try:
        settings = build_settings(
            raw_dir=raw,
            out_dir=out,
            workers=workers,
            shard_size=shard_size,
            ner=ner,
            ner_model=ner_model,
            layout=layout,
            executor=executor,
            dask_address=dask_address,
        )
        if dry_run:
            _print_dry_run(settings, fmt)
            return
        check_folders(settings)
        check_runnable(settings)
        summary = run_with_progress(settings)
    except UserError as exc:
        raise failed(exc) from None
    _print_summary(summary, settings.out_dir)
    if summary.docs_failed:
        raise typer.Exit(1)


def check_folders(settings) -> None:
    """Fail before starting anything heavy: a raw folder that is not there, an output folder khabar
    cannot or must not write to (inside the raw folder, read-only, holding foreign files)."""
    from tasks.lock import LockedError, check_not_locked
    from tasks.storage import OutputFolderError
    from tasks.tables import check_before_writing

    if not settings.raw_dir.is_dir():
        raise UserError(f"the raw folder {settings.raw_dir} does not exist or is not a folder")
    try:
        check_before_writing(settings.raw_dir, settings.out_dir)
    except OutputFolderError as exc:
        raise UserError(str(exc)) from None
    if not settings.lock_wait_s:  # another writer: say so now, not after Prefect's start
        try:
            check_not_locked(settings.out_dir)
        except LockedError as exc:
            raise JobError(str(exc)) from None


def check_runnable(settings) -> None:
    """Fail before any work when the entity backend cannot load (unknown, or its model is missing), or
    when no Dask scheduler answers at the address given: in seconds, before Prefect starts."""
    from flows.settings import ner_config
    from tasks.entities import NerConfigError

    try:
        ner_config(settings)
    except NerConfigError as exc:
        raise UserError(str(exc)) from None
    if settings.dask_address:
        from flows.executors import ExecutorError, check_reachable

        try:
            check_reachable(settings.dask_address)
        except ExecutorError as exc:
            raise JobError(str(exc)) from None


def _process_started_at() -> float:
    """When this process started (seconds since the epoch): the wait the user sees includes the
    interpreter's own start. From Linux's /proc (process age to 10 ms), else when this module loaded."""
    try:
        started_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - (uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, IndexError, ValueError):
        return IMPORTED_AT


def run_with_progress(settings, job_name: str = "nightly", selection=None):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from flows import interrupt, progress
    from flows.lifecycle import RunFailedError, plan_ahead
    from flows.prefect_api import PrefectServerError, prefect_api, start_temporary_server

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("shards · {task.fields[docs]} documents"),
        TimeElapsedColumn(),
        console=stderr,
        transient=False,
        disable=Chatter.quiet,
    )
    with interrupt.handle_signals(), bar:
        job = bar.add_task("starting", total=None, docs=0)

        def on_progress(done: int, total: int, docs: int) -> None:
            if total:
                bar.update(job, description="processing", completed=done, total=total, docs=docs)
            else:
                bar.update(job, description="nothing new to process", completed=0, total=0)

        server = start_temporary_server()  # first thing: its start overlaps all of khabar's own
        try:
            pending, looked = None, None
            if job_name == "nightly":
                looked = raw_status_of(settings)
                pending = looked.to_read
                _warn_about_layout(settings, pending)
                if not pending:  # nothing to read: no Prefect server, no workers
                    if server is not None:
                        server.stop()
                        server = None
                    idle = _run_idle(settings, on_progress)
                    if idle is not None:
                        return idle
            if settings.executor == "processes":
                from flows.settings import ner_config
                from flows.workers import start_fork_server

                # the workers' code is imported there, and their entity extractor built, while the run is planned
                start_fork_server(ner_config(settings))
            bar.update(job, description="taking stock")
            # A nightly run is planned and its shards started now: they run while Prefect starts.
            planning = plan_ahead(settings, looked=looked) if pending else contextlib.nullcontext()
            with planning, prefect_api(server) as api:
                bar.update(job, description="starting Prefect")
                from flows.nightly import run_nightly  # imported while the server starts
                from flows.reprocess import run_reprocess

                api.wait_ready()
                with progress.listening(on_progress):
                    if job_name == "reprocess":
                        return run_reprocess(settings, selection)
                    return run_nightly(settings)
        except (PrefectServerError, RunFailedError) as exc:
            raise JobError(str(exc)) from None
        except interrupt.RunInterrupted as exc:
            raise Interrupted(str(exc)) from None
        except KeyboardInterrupt:  # outside the shards: nothing half-done is ever visible
            message = "interrupted: what was committed stays, the rest will be processed by the next run"
            raise Interrupted(message) from None
        finally:
            if server is not None:
                server.stop()


def raw_status_of(settings):
    from tasks.runlog import raw_status
    from tasks.storage import OutputFolderError

    if not settings.raw_dir.is_dir():
        raise UserError(f"the raw folder {settings.raw_dir} does not exist or is not a folder")
    try:
        return raw_status(settings.raw_dir, settings.out_dir)
    except OutputFolderError as exc:
        raise UserError(str(exc)) from None


def _print_dry_run(settings, fmt: Format) -> None:
    """What `khabar run` would do now, from a look at the folders (no file is read, nothing written)."""
    changes = raw_status_of(settings)
    too_large = [s for s in changes.to_read if s.size_bytes > settings.max_file_bytes]
    rows = [
        ("new", "read", changes.new),
        ("changed", "read again", changes.changed),
        ("failed last time", "read again", changes.retried),
        ("too large", f"quarantined unread (over {settings.max_file_bytes:,} bytes)", too_large),
        ("unchanged", "skipped", changes.unchanged),
    ]
    table = [(what, action, len(files), files[0].path if files else None) for what, action, files in rows]
    table.append(
        ("gone since the last run", "their documents stay", len(changes.missing), next(iter(changes.missing), None))
    )
    if fmt is Format.table:
        bold_line(
            f"khabar run would read {plural(len(changes.to_read), 'file')}",
            f" under {settings.raw_dir}; nothing was read or written",
        )
        _warn_about_layout(settings, changes.to_read)
    Shown(fmt, all_rows=True).write(Result.of_rows(["files", "then", "count", "first"], table))


def _warn_about_layout(settings, pending) -> None:
    from tasks.layout import layout_warning

    warning = layout_warning([f.path for f in pending], settings.layout)
    if warning:
        output_warning(warning)


def _run_idle(settings, on_progress):
    """The run without Prefect, when a look at the folders found nothing to read; None if a file came since."""
    from flows import progress
    from flows.lifecycle import RunFailedError, idle_run
    from flows.shard_runner import FlowRunRequired

    try:
        with progress.listening(on_progress):
            return idle_run(settings)
    except FlowRunRequired:
        return None  # a file arrived meanwhile: run the flow
    except RunFailedError as exc:
        raise JobError(str(exc)) from None


def waited(s) -> str:
    """How long the user waited for a run or reprocess, from the command's start: "12.3 s (start-up 4.1 s,
    run 8.2 s)", start-up being everything before the run began (Prefect's start, the flow run's)."""
    total = time.time() - _process_started_at()
    startup = max(0.0, s.started_at.timestamp() - _process_started_at())
    return f"{total:.1f} s (start-up {startup:.1f} s, run {s.duration_s:.1f} s)"


def _print_summary(s, out_dir: Path) -> None:
    bold_line(f"khabar {s.kind} run {s.run_id}", f": {s.status} in {waited(s)}")
    info(
        f"  files: {s.files_seen} seen, {s.files_read} read (new or changed); "
        f"documents: {s.docs_new} new, {s.docs_skipped} skipped, {s.docs_failed} failed"
    )
    if s.files_quarantined:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.quarantined.items()))
        info(f"  quarantined: {s.files_quarantined} ({reasons}); see the files table")
    info(
        f"  written: {s.n_tokens} tokens, {s.n_entities} entities "
        f"in {plural(s.n_shards, 'shard')} on {plural(s.workers, 'worker')} ({s.shard_seconds:.1f} s of shard work)"
        f" -> {out_dir}"
    )
