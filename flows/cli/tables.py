"""Commands that read the tables: sql, report, status, runs, config, check."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli.common import (
    AllOpt,
    AsOfOpt,
    FormatOpt,
    LayoutOpt,
    LimitOpt,
    NerModelOpt,
    NerOpt,
    OutOpt,
    OutputOpt,
    RawOpt,
    Shown,
    TimeoutOpt,
    UserError,
    app,
    build_read_settings,
    build_settings,
    existing_output_folder,
    fail,
    failed,
    flag,
    require_output_folder,
)
from flows.cli.run import raw_status_of
from flows.output import (
    Format,
    Result,
    error,
    info,
    plural,
)
from reports.scope import DEFAULT_TOP, Scope

if TYPE_CHECKING:
    from reports.query import ReadOnlyTables


@app.command()
def sql(
    query: Annotated[
        str | None,
        typer.Argument(
            help="One SELECT statement over the views documents, sentences, tokens, entities, files, quarantine, "
            "runs, document_versions and entity_names; - reads it from stdin",
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
    as_of: AsOfOpt = None,
) -> None:
    """Run an ad-hoc read-only SQL query with DuckDB over the output tables.

    Only one SELECT-like statement runs (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN of a
    SELECT), and DuckDB cannot read or write any file itself: nothing a query says can change the
    tables. Rows stream out; a table shows the first 40 (see --limit and --all).

    Example: `khabar sql "SELECT type, count(*) FROM entities GROUP BY type"`, or
    `khabar sql -f query.sql --format parquet -o result.parquet`, or what the tables said after a
    run: `khabar sql --as-of 20261103T020000000000Z-3f2a1c "SELECT count(*) FROM documents"`
    """
    if (query is None) == (file is None):
        raise fail("give the query as an argument, with -f FILE, or as - to read it from stdin")
    if file is not None:
        try:
            query = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read the query from {file}: {getattr(exc, 'strerror', None) or exc}") from None
    elif query == "-":
        query = sys.stdin.read()
    assert query is not None
    _show_query(out, query, Shown(fmt, output, limit, all_rows), timeout=timeout, as_of=as_of)


@app.command()
def report(
    name: Annotated[str | None, typer.Argument(help="Report name; see --list", show_default=False)] = None,
    out: OutOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    limit: LimitOpt = None,
    all_rows: AllOpt = False,
    list_: Annotated[bool, flag("--list", text="List the reports and exit")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="PATH",
            help="Write every report into one HTML page with charts, for a browser (self-contained, works offline); "
            "give no report name",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since", formats=["%Y-%m-%d"], help="Only documents published on or after this date", show_default=False
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            "--until", formats=["%Y-%m-%d"], help="Only documents published on or before this date", show_default=False
        ),
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Only documents of this source (repeat for several)", show_default=False),
    ] = None,
    entity_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type", help="Only entities of this type: PERS, LOC, ORG or MISC (repeat for several)", show_default=False
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, max=1000, help="Entities in each top list (pairs: five times as many)")
    ] = DEFAULT_TOP,
    timeout: TimeoutOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Run a named report (one .sql file in reports/) over the output tables, or write them all as a web page.

    Entities are shown by their display name (the most frequent way the text writes them, without
    proclitics) and counted by canonical_key. --since, --until, --source and --type narrow what every
    report reads; documents without a date are left out once a date is given.

    Example: `khabar report top-entities --type PERS --top 20`; and
    `khabar report --html report.html --since 2026-11-01`
    """
    from reports import UnknownReportError, report_description, report_names, report_sql
    from schemas.entities import ENTITY_TYPES

    shown = Shown(fmt, output, limit, all_rows)
    if list_:
        rows = [(report_name, report_description(report_name)) for report_name in report_names()]
        shown.write(Result.of_rows(["report", "description"], rows))
        return
    if since and until and since > until:
        raise fail(f"--since {since:%Y-%m-%d} is after --until {until:%Y-%m-%d}")
    types = tuple(dict.fromkeys(t.upper() for t in entity_type or ()))
    if unknown := [t for t in types if t not in ENTITY_TYPES]:
        raise fail(f"unknown entity type {unknown[0]}; choose {', '.join(ENTITY_TYPES[:-1])} or {ENTITY_TYPES[-1]}")
    scope = Scope(
        since=since.date() if since else None,
        until=until.date() if until else None,
        sources=tuple(source or ()),
        types=types,
        top=top,
    )
    if html is not None:
        if name is not None:
            raise fail("--html writes every report into one page; give no report name")
        _write_html(out, html, scope, timeout, as_of)
        return
    if name is None:
        raise fail(f"name a report; choose one of: {', '.join(report_names())}")
    try:
        sql_text = report_sql(name)
    except UnknownReportError as exc:
        raise fail(str(exc)) from None
    _show_query(out, sql_text, shown, title=name, timeout=timeout, as_of=as_of, scope=scope)


def _write_html(out: Path | None, path: Path, scope: Scope, timeout: float | None, as_of: str | None) -> None:
    from reports.html import write_html_report

    with _read_only_tables(out, timeout, as_of, scope) as (tables, out_dir):
        try:
            written = write_html_report(tables, path, scope, source=str(out_dir))
        except OSError as exc:
            raise fail(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    info(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB); open it in a browser")


@contextlib.contextmanager
def _read_only_tables(
    out: Path | None, timeout: float | None, as_of: str | None, scope: Scope | None = None
) -> Iterator[tuple[ReadOnlyTables, Path]]:
    """The output folder's tables for reading (as they are, or as_of a run), interruptible by Ctrl-C.

    A folder, snapshot or query problem, there or in the block, fails with one sentence (exit 2), and
    Ctrl-C with "interrupted" (exit 130).
    """
    from reports.query import QueryError, QueryInterrupted, QueryLimits, ReadOnlyTables
    from tasks.storage import OutputFolderError
    from tasks.tables import load_for_reading

    try:
        settings = build_read_settings(out_dir=out, sql_timeout_s=timeout)
        require_output_folder(settings.out_dir)
        limits = QueryLimits(memory_limit=settings.sql_memory_limit, timeout_s=settings.sql_timeout_s)
        tables = ReadOnlyTables(settings.out_dir, limits, load_for_reading(settings.out_dir, as_of=as_of), scope)
    except OutputFolderError as exc:
        raise fail(str(exc)) from None
    except UserError as exc:
        raise failed(exc) from None
    except QueryError as exc:
        raise fail(f"query failed: {exc}") from None
    with tables, tables.interruptible():
        try:
            yield tables, settings.out_dir
        except (QueryInterrupted, KeyboardInterrupt):
            raise fail("interrupted", code=130) from None
        except QueryError as exc:
            raise fail(f"query failed: {exc}") from None


def _show_query(
    out: Path | None,
    sql_text: str,
    shown: Shown,
    title: str | None = None,
    timeout: float | None = None,
    drop_first: tuple[str, ...] = (),
    as_of: str | None = None,
    scope: Scope | None = None,
) -> None:
    """Run one query over the tables (as they are, or as_of a run) and stream its rows out, or fail with one sentence.

    Exit codes: 2 for a query or folder problem, 130 when interrupted (Ctrl-C).
    """
    with _read_only_tables(out, timeout, as_of, scope) as (tables, _):
        try:
            stream = tables.stream(sql_text)
            try:
                shown.write(Result(stream.columns, stream.batches()), title, drop_first)
            finally:
                stream.close()  # its time limit too, when the rows were never read (a refused -o or format)
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
    from flows.settings import pipeline_fingerprint
    from tasks.entities import NerConfigError
    from tasks.runlog import fingerprint_counts
    from tasks.storage import OutputFolderError

    try:
        settings = build_settings(raw_dir=raw, out_dir=out, ner=ner, ner_model=ner_model, layout=layout)
        require_output_folder(settings.out_dir)
        try:
            current, detail = pipeline_fingerprint(settings)
            counts = fingerprint_counts(settings.out_dir)
        except (NerConfigError, OutputFolderError) as exc:
            raise UserError(str(exc)) from None
    except UserError as exc:
        raise failed(exc) from None
    n_documents = sum(counts.values())
    n_current = counts.get(current, 0)
    rows = [(fp, n, "current" if fp == current else "stale") for fp, n in sorted(counts.items())]
    if fmt is Format.table and output is None:
        if settings.raw_dir.is_dir():
            changes = raw_status_of(settings)
            info(
                f"raw folder {settings.raw_dir} since the last run: {len(changes.new)} new, "
                f"{len(changes.changed)} changed, {len(changes.retried)} failed last time, "
                f"{len(changes.missing)} gone, {len(changes.unchanged)} unchanged"
                + (" (`khabar run --dry-run` lists them)" if changes.to_read or changes.missing else "")
            )
        # Hashes are shortened, as git does; a layout is shown whole.
        shown = ", ".join(f"{k} {v[:12] if re.fullmatch('[0-9a-f]{13,}', v) else v}" for k, v in detail.items())
        info(f"fingerprint now: {current} ({shown})")
        info(f"documents: {n_documents} ({n_current} current, {n_documents - n_current} stale)")
    Shown(fmt, output, all_rows=True).write(Result.of_rows(["fingerprint", "documents", "state"], rows))


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
def config(fmt: FormatOpt = Format.table, output: OutputOpt = None) -> None:
    """Every setting, its value, and where it came from.

    Later sources win: the default, then khabar.toml in the working folder (or [tool.khabar] in its
    pyproject.toml), then a KHABAR_* variable, then a command's own option.

    Example: `khabar config`
    """
    from flows.settings import Settings, read_project_file

    try:
        settings = build_settings()
        project_file, in_file = read_project_file(Path.cwd())
    except UserError as exc:
        raise failed(exc) from None
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
    """Validate the output folder: every committed file there, unchanged since khabar wrote it (size and
    sha256 as committed), readable with its table's exact schema; no file khabar did not write, no
    Delta log lost or older than the versions _commits pinned; the tables consistent (unique doc_ids, every
    sentence, token, entity and file row with its document, counts and offsets that agree).
    Exits 1 and lists each problem with its path.

    Example: `khabar check --out data/processed`
    """
    from tasks.check import check_tables

    out_dir = existing_output_folder(out)
    result = check_tables(out_dir)
    for problem in result.problems:
        error(f"{problem.table}: {problem.path}: {problem.message}", label="problem")
    counts = ", ".join(f"{name} {n}" for name, n in result.rows.items())
    if result.problems:
        info(f"{plural(len(result.problems), 'problem')}; rows read: {counts or 'none'}")
        raise typer.Exit(1)
    info(f"ok: {counts}")
    if result.leftovers:
        info(f"{plural(result.leftovers, 'temporary file')} left by an interrupted write; the next run deletes them")


@app.command()
def export(
    duckdb_file: Annotated[
        Path,
        typer.Option(
            "--duckdb",
            metavar="PATH",
            help="Write a DuckDB database file with one view per table over the committed files",
            show_default=False,
        ),
    ],
    out: OutOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Write the tables as views in a DuckDB file, for the DuckDB CLI and tools that open DuckDB files.

    The views read the Parquet files of the tables as they are now (or --as-of a run), so they show
    exactly the committed rows; export again after a run to follow the tables.

    Example: `khabar export --duckdb khabar.duckdb && duckdb khabar.duckdb -c "FROM runs"`
    """
    import duckdb

    from reports.export import export_duckdb
    from reports.views import VIEWS
    from tasks.storage import OutputFolderError
    from tasks.tables import load_for_reading

    out_dir = existing_output_folder(out)
    try:
        written = export_duckdb(load_for_reading(out_dir, as_of=as_of), duckdb_file)
    except OutputFolderError as exc:
        raise fail(str(exc)) from None
    except (OSError, duckdb.Error) as exc:
        raise fail(f"cannot write {duckdb_file}: {getattr(exc, 'strerror', None) or exc}") from None
    info(f"wrote {written}: views {', '.join(VIEWS)}")
