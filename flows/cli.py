"""The khabar command line: each command parses options, builds settings, calls one function, prints."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from flows.output import (
    TABLE_ROWS,
    Chatter,
    Format,
    OutputError,
    Result,
    bold_line,
    error,
    info,
    plural,
    stderr,
    stdout,
    write_result,
)
from flows.output import warning as output_warning

_IMPORTED_AT = time.time()

app = typer.Typer(
    name="khabar",
    help="khabar: batch ETL for Arabic news. Raw .txt articles in, Parquet tables out, DuckDB reports on top.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
RawOpt = Annotated[
    Path | None,
    typer.Option(
        "--raw", help="Folder of raw .txt articles (env KHABAR_RAW_DIR, default data/raw)", show_default=False
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Folder of the Parquet tables (env KHABAR_OUT_DIR, default data/processed)", show_default=False
    ),
]


FormatOpt = Annotated[
    Format, typer.Option("--format", help="table, csv, json, ndjson, markdown or parquet (a table fits the terminal)")
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write to this file instead of stdout (whole, or not at all)", show_default=False
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", min=0, help=f"At most this many rows (default: all; a table shows {TABLE_ROWS})"),
]


def flag(*names: str, text: str, **options: Any) -> Any:
    """A yes/no option: given or not, so its help shows no value (Typer would show `<bool>`)."""
    return typer.Option(*names, help=text, metavar="", **options)


AllOpt = Annotated[bool, flag("--all", text="Every row, in a table too")]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", "-w", min=1, help="Worker processes (env KHABAR_WORKERS, default: CPU count)", show_default=False
    ),
]
NerOpt = Annotated[
    str | None,
    typer.Option(
        "--ner",
        help="Entity backend: gazetteer, crf, camel or auto (env KHABAR_NER, default gazetteer)",
        show_default=False,
    ),
]
LayoutOpt = Annotated[
    str | None,
    typer.Option(
        "--layout",
        help="How source and date are read from a file's path, e.g. '{date}/{source}-{n}.txt' or a regex with "
        "named groups (env KHABAR_LAYOUT; default: a YYYY-MM-DD folder, then the source folder)",
        show_default=False,
    ),
]
NerModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--ner-model",
        help="CRF model file for crf, or a camel-tools NER model folder for camel (env KHABAR_NER_MODEL)",
        show_default=False,
    ),
]


class UserError(Exception):
    """A problem the user can fix; printed as one sentence, exit code 2."""


class JobError(UserError):
    """A job that could not run (folder in use, Prefect down); printed as one sentence, exit code 1."""


class Interrupted(JobError):
    """A job stopped by Ctrl-C or SIGTERM (flows/interrupt.py); one sentence, exit code 130."""


def _exit_code(exc: UserError) -> int:
    from flows.interrupt import EXIT_CODE

    return EXIT_CODE if isinstance(exc, Interrupted) else 1 if isinstance(exc, JobError) else 2


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        stdout.print(f"khabar {version('khabar')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        flag("--version", text="Show khabar's version and exit", callback=_print_version, is_eager=True),
    ] = False,
    verbose: Annotated[bool, flag("--verbose", "-v", text="Stream the run's Prefect logs to the console")] = False,
    quiet: Annotated[
        bool, flag("--quiet", "-q", text="Print only errors (and the rows a command was asked for)")
    ] = False,
) -> None:
    from flows.prefect_api import quiet_prefect_environment

    if verbose and quiet:
        raise _fail("choose --verbose or --quiet, not both")
    if verbose:  # before Prefect is imported: it reads its logging settings then
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO"
    Chatter.quiet = quiet
    quiet_prefect_environment()


def _settings(kind: Any = None, **overrides: Any):
    """Settings from defaults, KHABAR_* variables and these options; UserError for any bad value."""
    from flows.settings import ProjectFileError, Settings

    try:
        return (kind or Settings)(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {_without_prefix(e['msg'])}" for e in exc.errors())
        raise UserError(f"invalid settings: {problems}") from None
    except ProjectFileError as exc:
        raise UserError(f"invalid settings: {exc}") from None
    except SettingsError as exc:  # a KHABAR_* variable that should hold JSON does not
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise UserError(f"invalid settings: {_env_name(str(exc))} is not valid JSON{cause}") from None


def _without_prefix(message: str) -> str:
    """A validator's own sentence, without the "Value error, " pydantic puts before it."""
    return message.removeprefix("Value error, ")


def _env_name(message: str) -> str:
    import re

    field = re.search(r'field "(\w+)"', message)
    return f"KHABAR_{field[1].upper()}" if field else "a KHABAR_ variable"


def _read_settings(**overrides: Any):
    from flows.settings import ReadSettings

    return _settings(ReadSettings, **overrides)


def _fail(message: str, code: int = 2) -> typer.Exit:
    error(message)
    return typer.Exit(code)


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
            help="Documents per shard task (env KHABAR_SHARD_SIZE, default 500)",
            show_default=False,
        ),
    ] = None,
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    layout: LayoutOpt = None,
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
        settings = _settings(
            raw_dir=raw,
            out_dir=out,
            workers=workers,
            shard_size=shard_size,
            ner=ner,
            ner_model=ner_model,
            layout=layout,
        )
        if dry_run:
            _print_dry_run(settings, fmt)
            return
        _check_folders(settings)
        _check_ner(settings)
        summary = _run_with_progress(settings)
    except UserError as exc:
        raise _fail(str(exc), code=_exit_code(exc)) from None
    _print_summary(summary, settings.out_dir)
    if summary.docs_failed:
        raise typer.Exit(1)


def _check_folders(settings) -> None:
    """Fail before starting anything heavy: a raw folder that is not there, an output folder khabar
    cannot or must not write to (inside the raw folder, read-only, holding foreign files)."""
    from tasks.lock import LockedError, check_not_locked
    from tasks.manifest import OutputFolderError
    from tasks.storage import check_before_writing

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


def _check_ner(settings) -> None:
    """Fail before any work when the entity backend cannot load (unknown, or its model is missing)."""
    from flows.settings import ner_config
    from tasks.entities import NerConfigError

    try:
        ner_config(settings)
    except NerConfigError as exc:
        raise UserError(str(exc)) from None


def _process_started_at() -> float:
    """When this process started (seconds since the epoch): the wait the user sees includes the
    interpreter's own start. From Linux's /proc (process age to 10 ms), else when this module loaded."""
    try:
        started_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - (uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, IndexError, ValueError):
        return _IMPORTED_AT


def _run_with_progress(settings, job_name: str = "nightly", selection=None):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from flows import interrupt, progress
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
        job = bar.add_task("starting Prefect", total=None, docs=0)

        def on_progress(done: int, total: int, docs: int) -> None:
            if total:
                bar.update(job, description="processing", completed=done, total=total, docs=docs)
            else:
                bar.update(job, description="nothing new to process", completed=0, total=0)

        server = start_temporary_server()  # first thing: its start overlaps all of khabar's own
        try:
            pending = None
            if job_name == "nightly":
                pending = _pending_files(settings)
                _warn_about_layout(settings, pending)
                if not pending:  # nothing to read: no Prefect server, no workers
                    if server is not None:
                        server.stop()
                        server = None
                    idle = _run_idle(settings, on_progress)
                    if idle is not None:
                        return idle
            with prefect_api(server) as api:
                from flows.workers import start_fork_server

                start_fork_server()  # the workers' code is imported there while Prefect starts
                from flows.lifecycle import read_ahead
                from flows.nightly import RunFailedError, run_nightly  # imported while the server starts
                from flows.reprocess import run_reprocess

                if pending:
                    read_ahead(settings.raw_dir, pending, settings.max_file_bytes)  # while the server starts
                api.wait_ready()
                bar.update(job, description="taking stock")
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


def _raw_status(settings):
    from tasks.manifest import OutputFolderError
    from tasks.runlog import raw_status

    if not settings.raw_dir.is_dir():
        raise UserError(f"the raw folder {settings.raw_dir} does not exist or is not a folder")
    try:
        return raw_status(settings.raw_dir, settings.out_dir)
    except OutputFolderError as exc:
        raise UserError(str(exc)) from None


def _print_dry_run(settings, fmt: Format) -> None:
    """What `khabar run` would do now, from a look at the folders (no file is read, nothing written)."""
    changes = _raw_status(settings)
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
    from tasks.documents import layout_warning

    warning = layout_warning([f.path for f in pending], settings.layout)
    if warning:
        output_warning(warning)


def _pending_files(settings):
    from tasks.manifest import OutputFolderError
    from tasks.runlog import pending_files

    try:
        return pending_files(settings.raw_dir, settings.out_dir)
    except OutputFolderError as exc:
        raise UserError(str(exc)) from None


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


def _print_summary(s, out_dir: Path) -> None:
    waited = time.time() - _process_started_at()
    startup = max(0.0, s.started_at.timestamp() - _process_started_at())
    bold_line(
        f"khabar {s.kind} run {s.run_id}",
        f": {s.status} in {waited:.1f} s (start-up {startup:.1f} s, run {s.duration_s:.1f} s)",
    )
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


TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0,
        help="Stop the query after this many seconds, 0 for no limit (env KHABAR_SQL_TIMEOUT_S, default 60)",
        show_default=False,
    ),
]


@app.command()
def sql(
    query: Annotated[
        str | None,
        typer.Argument(
            help="One SELECT statement over the views documents, sentences, tokens, entities, files, quarantine "
            "and runs; - reads it from stdin",
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the statement from this file", show_default=False)
    ] = None,
    out: OutOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    limit: LimitOpt = None,
    all_rows: AllOpt = False,
    timeout: TimeoutOpt = None,
) -> None:
    """Run an ad-hoc read-only SQL query with DuckDB over the output tables.

    Only one SELECT-like statement runs (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN of a
    SELECT), and DuckDB cannot read or write any file itself: nothing a query says can change the
    tables. Rows stream out; a table shows the first 40 (see --limit and --all).

    Example: `khabar sql "SELECT type, count(*) FROM entities GROUP BY type"`, or
    `khabar sql -f query.sql --format parquet -o result.parquet`
    """
    if (query is None) == (file is None):
        raise _fail("give the query as an argument, with -f FILE, or as - to read it from stdin")
    if file is not None:
        try:
            query = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"cannot read the query from {file}: {getattr(exc, 'strerror', None) or exc}") from None
    elif query == "-":
        query = sys.stdin.read()
    assert query is not None
    _show_query(out, query, Shown(fmt, output, limit, all_rows), timeout=timeout)


@app.command()
def report(
    name: Annotated[str | None, typer.Argument(help="Report name; see --list", show_default=False)] = None,
    out: OutOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    limit: LimitOpt = None,
    all_rows: AllOpt = False,
    list_: Annotated[bool, flag("--list", text="List the reports and exit")] = False,
    timeout: TimeoutOpt = None,
) -> None:
    """Run a named report (one .sql file in reports/) over the output tables.

    Example: `khabar report top-entities --format csv`
    """
    from reports import UnknownReportError, report_description, report_names, report_sql

    shown = Shown(fmt, output, limit, all_rows)
    if list_:
        rows = [(report_name, report_description(report_name)) for report_name in report_names()]
        shown.write(Result.of_rows(["report", "description"], rows))
        return
    if name is None:
        raise _fail(f"name a report; choose one of: {', '.join(report_names())}")
    try:
        sql_text = report_sql(name)
    except UnknownReportError as exc:
        raise _fail(str(exc)) from None
    _show_query(out, sql_text, shown, title=name, timeout=timeout)


class Shown:
    """Where and how a command's rows go: the format, -o, --limit and --all, given once."""

    def __init__(self, fmt: Format, output: Path | None = None, limit: int | None = None, all_rows: bool = False):
        self.fmt, self.output, self.limit, self.all_rows = fmt, output, limit, all_rows

    def write(self, result: Result, title: str | None = None, drop_first: tuple[str, ...] = ()) -> int:
        try:
            return write_result(
                result,
                self.fmt,
                output=self.output,
                title=title,
                limit=self.limit,
                show_all=self.all_rows,
                drop_first=drop_first,
            )
        except OutputError as exc:
            raise _fail(str(exc)) from None


def _show_query(
    out: Path | None,
    sql_text: str,
    shown: Shown,
    title: str | None = None,
    timeout: float | None = None,
    drop_first: tuple[str, ...] = (),
) -> None:
    """Run one query over the tables and stream its rows out, or fail with one sentence.

    Exit codes: 2 for a query or folder problem, 130 when interrupted (Ctrl-C).
    """
    from reports.query import QueryError, QueryInterrupted, QueryLimits, ReadOnlyTables
    from tasks.manifest import OutputFolderError

    try:
        settings = _read_settings(out_dir=out, sql_timeout_s=timeout)
        if not settings.out_dir.is_dir():
            raise UserError(f"no output folder at {settings.out_dir}; run `khabar run` first")
        limits = QueryLimits(memory_limit=settings.sql_memory_limit, timeout_s=settings.sql_timeout_s)
        tables = ReadOnlyTables(settings.out_dir, limits)
    except OutputFolderError as exc:
        raise _fail(str(exc)) from None
    except UserError as exc:
        raise _fail(str(exc)) from None
    except QueryError as exc:
        raise _fail(f"query failed: {exc}") from None
    with tables, tables.interruptible():
        try:
            stream = tables.stream(sql_text)
            shown.write(Result(stream.columns, stream.batches()), title, drop_first)
        except (QueryInterrupted, KeyboardInterrupt):
            raise _fail("interrupted", code=130) from None
        except QueryError as exc:
            raise _fail(f"query failed: {exc}") from None
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            _silence_stdout()


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@app.command()
def status(
    raw: RawOpt = None,
    out: OutOpt = None,
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    layout: LayoutOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """What changed in the raw folder since the last run, and how many documents are current under
    the pipeline's fingerprint now, and how many are stale.

    A document is stale when its rows were made by another khabar version, processing version,
    entity backend, model or gazetteer; `khabar reprocess --stale` brings them current.

    Example: `khabar status --ner crf --ner-model models/ner.crf`
    """
    from flows.settings import ner_config
    from tasks.entities import NerConfigError
    from tasks.fingerprint import fingerprint_detail, fingerprint_of
    from tasks.manifest import OutputFolderError
    from tasks.storage import load_for_reading, read_table

    try:
        settings = _settings(raw_dir=raw, out_dir=out, ner=ner, ner_model=ner_model, layout=layout)
        if not settings.out_dir.is_dir():
            raise UserError(f"no output folder at {settings.out_dir}; run `khabar run` first")
        try:
            detail = fingerprint_detail(ner_config(settings), settings.layout)
            manifest = load_for_reading(settings.out_dir)
        except (NerConfigError, OutputFolderError) as exc:
            raise UserError(str(exc)) from None
    except UserError as exc:
        raise _fail(str(exc)) from None
    current = fingerprint_of(detail)
    docs = read_table(settings.out_dir, "documents", ["fingerprint"], manifest=manifest).column("fingerprint")
    counts: dict[str, int] = {}
    for fp in docs.to_pylist():
        counts[fp] = counts.get(fp, 0) + 1
    n_current = counts.get(current, 0)
    rows = [(fp, n, "current" if fp == current else "stale") for fp, n in sorted(counts.items())]
    if fmt is Format.table and output is None:
        if settings.raw_dir.is_dir():
            changes = _raw_status(settings)
            info(
                f"raw folder {settings.raw_dir} since the last run: {len(changes.new)} new, "
                f"{len(changes.changed)} changed, {len(changes.retried)} failed last time, "
                f"{len(changes.missing)} gone, {len(changes.unchanged)} unchanged"
                + (" (`khabar run --dry-run` lists them)" if changes.to_read or changes.missing else "")
            )
        info(f"fingerprint now: {current} ({', '.join(f'{k} {v[:12]}' for k, v in detail.items())})")
        info(f"documents: {len(docs)} ({n_current} current, {len(docs) - n_current} stale)")
    Shown(fmt, output, all_rows=True).write(Result.of_rows(["fingerprint", "documents", "state"], rows))


@app.command()
def reprocess(
    stale: Annotated[bool, flag("--stale", text="Documents whose fingerprint is not the current one")] = False,
    everything: Annotated[bool, flag("--all", text="Every document")] = False,
    since: Annotated[
        datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="Documents published on or after a date")
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Documents of one source")] = None,
    doc_ids: Annotated[list[str] | None, typer.Option("--doc-id", help="A document id (repeatable)")] = None,
    dry_run: Annotated[bool, flag("--dry-run", text="Print what would be reprocessed; change nothing")] = False,
    raw: RawOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """Recompute chosen documents with the current pipeline and replace their rows in every table at once.

    Filters combine. Readers see either the old rows or the new ones, never both and never
    neither; a document whose raw file is gone or changed keeps its old rows.

    Example: `khabar reprocess --stale --dry-run`
    """
    from tasks.reprocess import Selection

    selection = Selection(
        stale=stale,
        everything=everything,
        since=since.date() if since else None,
        source=source,
        doc_ids=tuple(doc_ids or ()),
    )
    try:
        if selection.is_empty():
            raise UserError("choose what to reprocess: --stale, --all, --since DATE, --source NAME or --doc-id ID")
        settings = _settings(raw_dir=raw, out_dir=out, workers=workers, ner=ner, ner_model=ner_model, layout=layout)
        if not dry_run:
            _check_folders(settings)
        _check_ner(settings)
        planned = _reprocess_plan(settings, selection)
        if dry_run:
            _print_plan(planned, selection)
            return
        if not planned[0]:
            info(f"nothing to reprocess: no {selection.describe()} can be recomputed")
            return
        summary = _run_with_progress(settings, "reprocess", selection)
    except UserError as exc:
        raise _fail(str(exc), code=_exit_code(exc)) from None
    bold_line(
        f"khabar reprocess {summary.run_id}",
        f": {summary.status} in {summary.duration_s:.1f} s; "
        f"{summary.docs_reprocessed} documents reprocessed, {summary.docs_failed} failed, "
        f"{len(summary.docs_missing)} skipped (raw file gone or changed)",
    )
    if summary.docs_failed:
        raise typer.Exit(1)


def _reprocess_plan(settings, selection):
    from flows.settings import ner_config
    from tasks.fingerprint import fingerprint_detail, fingerprint_of
    from tasks.manifest import OutputFolderError
    from tasks.reprocess import readable_sources, select_documents, unknown_doc_ids
    from tasks.storage import load_for_reading

    if not settings.out_dir.is_dir():
        raise UserError(f"no output folder at {settings.out_dir}; run `khabar run` first")
    try:
        manifest = load_for_reading(settings.out_dir)
    except OutputFolderError as exc:
        raise UserError(str(exc)) from None
    unknown = unknown_doc_ids(settings.out_dir, manifest, selection.doc_ids)
    if unknown:
        raise UserError(f"no document with doc_id {', '.join(unknown)}")
    current = fingerprint_of(fingerprint_detail(ner_config(settings), settings.layout))
    return readable_sources(settings.raw_dir, select_documents(settings.out_dir, manifest, selection, current))


def _print_plan(planned, selection) -> None:
    ready, missing = planned
    info(
        f"would reprocess {len(ready)} {selection.describe()}; {len(missing)} more cannot be (raw file gone or changed)"
    )
    for c in ready[:20]:
        info(f"  {c.doc_id}  {c.path}  (fingerprint {c.fingerprint})")
    if len(ready) > 20:
        info(f"  ... and {len(ready) - 20} more")


@app.command()
def runs(
    out: OutOpt = None,
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many runs, newest first")] = 10,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """The run history: every run and reprocess, newest first, with its counts and fingerprint.

    Example: `khabar runs --last 5`
    """
    query = f"""
        select run_id, kind, trigger, status, fingerprint, files_seen, docs_new, docs_skipped,
               docs_reprocessed, docs_failed, files_quarantined, round(duration_s, 1) as duration_s, flow_run_id
        from runs order by run_id desc limit {last}
    """
    # A narrow terminal leaves out the least telling columns first; csv, json and the rest have them all.
    less_telling = ("flow_run_id", "fingerprint", "trigger", "docs_skipped", "docs_reprocessed", "files_seen")
    _show_query(out, query, Shown(fmt, output, all_rows=True), drop_first=less_telling)


@app.command()
def serve(
    cron: Annotated[str, typer.Option("--cron", help="When to run, as a cron expression")] = "0 2 * * *",
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of the cron expression")] = "UTC",
    print_only: Annotated[
        bool, flag("--print", text="Show the deployment, its schedule and next run times; start nothing")
    ] = False,
    raw: RawOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    layout: LayoutOpt = None,
) -> None:
    """Register the nightly deployment with a cron schedule on a Prefect server, and serve its runs.

    Needs a real Prefect server (`khabar server`, then export PREFECT_API_URL). Runs until
    interrupted; scheduled runs and runs started with `prefect deployment run khabar-nightly/nightly`
    execute here.

    Example: `khabar serve --cron "0 2 * * *" --timezone Asia/Riyadh`
    """
    from flows.deploy import ServerRequiredError, describe, serve_nightly

    try:
        settings = _settings(raw_dir=raw, out_dir=out, workers=workers, ner=ner, ner_model=ner_model, layout=layout)
        _check_ner(settings)
        _check_cron(cron, timezone)
        if print_only:
            for line in describe(settings, cron, timezone):
                stdout.print(line)
            return
        try:
            serve_nightly(settings, cron, timezone)
        except ServerRequiredError as exc:
            raise UserError(str(exc)) from None
    except UserError as exc:
        raise _fail(str(exc)) from None


def _check_cron(cron: str, timezone: str) -> None:
    from pydantic import ValidationError as PydanticError

    try:
        from prefect.client.schemas.schedules import CronSchedule

        CronSchedule(cron=cron, timezone=timezone)
    except PydanticError as exc:
        raise UserError(f"invalid schedule: {_without_prefix(exc.errors()[0]['msg'])}") from None


@app.command()
def server(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1")] = 4200,
) -> None:
    """Start a local Prefect server (SQLite in the Prefect home) for schedules, run history and the UI.

    Example: `khabar server --port 4200`, then in another shell
    `export PREFECT_API_URL=http://127.0.0.1:4200/api` and `khabar serve`.
    """
    import os

    prefect = str(Path(sys.executable).with_name("prefect"))
    stderr.print(
        f"Prefect server on http://127.0.0.1:{port} (UI there); point khabar at it with\n"
        f"  export PREFECT_API_URL=http://127.0.0.1:{port}/api"
    )
    env = {**os.environ}
    env.pop("PREFECT_API_URL", None)  # the server itself must not look for another API
    # This process becomes the server (no child left behind when it is stopped or killed).
    sys.stderr.flush()
    os.execve(prefect, [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env)


@app.command()
def config(fmt: FormatOpt = Format.table, output: OutputOpt = None) -> None:
    """Every setting, its value, and where it came from.

    Later sources win: the default, then khabar.toml in the working folder (or [tool.khabar] in its
    pyproject.toml), then a KHABAR_* variable, then a command's own option.

    Example: `khabar config`
    """
    from flows.settings import Settings, read_project_file

    try:
        settings = _settings()
        project_file, in_file = read_project_file(Path.cwd())
    except UserError as exc:
        raise _fail(str(exc)) from None
    rows = []
    for name, field in Settings.model_fields.items():
        variable = f"KHABAR_{name.upper()}"
        origin = variable if variable in os.environ else str(project_file) if name in in_file else "default"
        value = getattr(settings, name)
        shown = (
            None if value is None else json.dumps([str(v) for v in value]) if isinstance(value, tuple) else str(value)
        )
        rows.append((name, shown, origin, field.description))
    Shown(fmt, output, all_rows=True).write(Result.of_rows(["setting", "value", "from", "meaning"], rows))


@app.command()
def check(out: OutOpt = None) -> None:
    """Validate the output folder: every committed part there, unchanged since khabar wrote it (size and
    sha256 as committed), readable with its table's exact schema; no file khabar did not write and
    no khabar part the manifest does not list; the tables consistent (unique doc_ids, every
    sentence, token, entity and file row with its document, counts and offsets that agree).
    Exits 1 and lists each problem with its path.

    Example: `khabar check --out data/processed`
    """
    from tasks.check import check_tables

    try:
        settings = _read_settings(out_dir=out)
    except UserError as exc:
        raise _fail(str(exc)) from None
    if not settings.out_dir.is_dir():
        raise _fail(f"no output folder at {settings.out_dir}; run `khabar run` first")
    result = check_tables(settings.out_dir)
    for problem in result.problems:
        error(f"{problem.table}: {problem.path}: {problem.message}", label="problem")
    counts = ", ".join(f"{name} {n}" for name, n in result.rows.items())
    if result.problems:
        info(f"{plural(len(result.problems), 'problem')}; rows read: {counts or 'none'}")
        raise typer.Exit(1)
    info(f"ok: {counts}")
    if result.leftovers:
        info(
            f"{plural(result.leftovers, 'file')} left by earlier runs (replaced or never committed); "
            "the next run deletes them"
        )


ner_app = typer.Typer(
    help="Entity extraction: train a CRF, evaluate a backend on gold CoNLL data, tag a text.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(ner_app, name="ner")


@ner_app.command("train")
def ner_train(
    conll: Annotated[Path, typer.Option("--conll", help="Training data: CoNLL/IOB2, one `TOKEN TAG` per line")],
    out_model: Annotated[Path, typer.Option("--model", help="Model file to write (what --ner-model reads)")],
    unlabelled: Annotated[
        Path | None,
        typer.Option("--unlabelled", help="Folder of raw .txt news to learn word clusters from (optional)"),
    ] = None,
    max_iterations: Annotated[int, typer.Option("--max-iterations", min=1, help="L-BFGS iterations")] = 150,
) -> None:
    """Train the `crf` backend on a CoNLL/IOB2 corpus (word clusters come from the corpus and --unlabelled).

    Example: `khabar ner train --conll train.conll --unlabelled data/raw --model models/ner.crf`
    """
    from tasks.corpus import unlabelled_sentences
    from tasks.entities.bio import ConllFormatError, read_conll
    from tasks.entities.crf import train

    try:
        gold = _read_gold(conll, read_conll, ConllFormatError)
        if unlabelled is not None and not unlabelled.is_dir():
            raise UserError(f"the unlabelled folder {unlabelled} does not exist or is not a folder")
        extra = list(unlabelled_sentences(unlabelled)) if unlabelled else []
        with stderr.status("training the CRF"):
            report = train(gold, out_model, unlabelled=extra, max_iterations=max_iterations)
    except UserError as exc:
        raise _fail(str(exc)) from None
    info(
        f"trained on {report.n_sentences} sentences ({report.n_tokens} tokens), "
        f"{report.n_unlabelled_sentences} unlabelled sentences, {report.vocabulary} clustered words "
        f"in {report.seconds:.1f} s -> {report.path} (sha256 {report.model_hash[:12]})"
    )


@ner_app.command("evaluate")
def ner_evaluate(
    gold_file: Annotated[Path, typer.Option("--gold", help="Gold CoNLL/IOB2 file; its tokens are tagged as given")],
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """Entity-level precision, recall and F1 per type and micro-averaged (seqeval, strict IOB2).

    Example: `khabar ner evaluate --gold dev.conll --ner crf --ner-model models/ner.crf --format json`
    """
    from tasks.entities.bio import ConllFormatError, read_conll
    from tasks.entities.evaluate import evaluate

    try:
        gold = _read_gold(gold_file, read_conll, ConllFormatError)
        scores = evaluate(_extractor(ner, ner_model), gold)
    except UserError as exc:
        raise _fail(str(exc)) from None
    if fmt is Format.json and output is None:  # the whole evaluation, as `make bench-ner` reads it
        sys.stdout.write(json.dumps(scores.as_json(), ensure_ascii=False, indent=1) + "\n")
        return
    rows = [
        (name, *(round(row[k], 3) for k in ("precision", "recall", "f1")), row["support"])
        for name, row in [*sorted(scores.per_type.items()), ("micro", scores.micro)]
    ]
    columns = ["type", "precision", "recall", "f1", "support"]
    Shown(fmt, output, all_rows=True).write(
        Result.of_rows(columns, rows), title=f"{scores.backend} on {gold_file.name}"
    )
    if fmt is Format.table and output is None:
        info(
            f"{scores.n_sentences} sentences, {scores.n_tokens} tokens in {scores.seconds:.2f} s "
            f"({scores.n_tokens / max(scores.seconds, 1e-9):,.0f} words/s)"
        )


@ner_app.command("tag")
def ner_tag(
    text: Annotated[str, typer.Argument(help="Arabic text to tag")],
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    limit: LimitOpt = None,
    all_rows: AllOpt = False,
) -> None:
    """Print the entities found in a text: type, surface, canonical key and character offsets.

    Example: `khabar ner tag "قال وزير الخارجية سيرغي لافروف في موسكو"`
    """
    from tasks.clean import clean_text
    from tasks.segment import split_sentences, tokenize

    try:
        extractor = _extractor(ner, ner_model)
    except UserError as exc:
        raise _fail(str(exc)) from None
    cleaned = clean_text(text)
    tokens = tokenize(cleaned, split_sentences(cleaned))
    rows = []
    for m in extractor.extract(tokens):
        start, end = tokens[m.token_start].start, tokens[m.token_end - 1].end
        rows.append((m.type, cleaned[start:end], m.canonical_key, start, end))
    columns = ["type", "surface", "canonical_key", "char_start", "char_end"]
    Shown(fmt, output, limit, all_rows).write(Result.of_rows(columns, rows))


def _read_gold(path: Path, read_conll, format_error):
    if not path.is_file():
        raise UserError(f"no CoNLL file at {path}")
    try:
        gold = read_conll(path)
    except format_error as exc:
        raise UserError(str(exc)) from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    if not gold:
        raise UserError(f"{path} holds no sentences")
    return gold


def _extractor(ner: str | None, model: Path | None):
    """The entity backend as `khabar run` would choose it: options, then KHABAR_NER and KHABAR_NER_MODEL."""
    from flows.settings import ner_config
    from tasks.entities import NerConfigError, load_extractor
    from tasks.entities.crf import ModelFileError

    try:
        return load_extractor(ner_config(_settings(ner=ner, ner_model=model)))
    except (NerConfigError, ModelFileError) as exc:
        raise UserError(str(exc)) from None


if __name__ == "__main__":
    app()
