"""The khabar command line: each command parses options, builds settings, calls one function, prints."""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="khabar",
    help="khabar: batch ETL for Arabic news. Raw .txt articles in, Parquet tables out, DuckDB reports on top.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

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


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format")]


class UserError(Exception):
    """A problem the user can fix; printed as one sentence, exit code 2."""


@app.callback()
def main() -> None:
    from flows.prefect_api import quiet_prefect_environment

    quiet_prefect_environment()


def _settings(**overrides: Any):
    from flows.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UserError(f"invalid settings: {problems}") from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    stderr.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(code)


@app.command()
def run(
    raw: RawOpt = None,
    out: OutOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Worker processes (env KHABAR_WORKERS, default: CPU count)",
            show_default=False,
        ),
    ] = None,
    shard_size: Annotated[
        int | None,
        typer.Option(
            "--shard-size",
            min=1,
            help="Documents per shard task (env KHABAR_SHARD_SIZE, default 500)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Process new and changed articles under the raw folder into the Parquet tables.

    Unchanged files are not re-read and documents already processed are skipped, so a second run
    over the same input writes no new document rows. Exits 0 when the run completes, even if some
    files were quarantined (see the files table).

    Example: `khabar run --raw data/raw --out data/processed --workers 2`
    """
    try:
        settings = _settings(raw_dir=raw, out_dir=out, workers=workers, shard_size=shard_size)
        if not settings.raw_dir.is_dir():
            raise UserError(f"the raw folder {settings.raw_dir} does not exist or is not a folder")
        summary = _run_with_progress(settings)
    except UserError as exc:
        raise _fail(str(exc)) from None
    _print_summary(summary, settings.out_dir)


def _run_with_progress(settings):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from flows import progress
    from flows.prefect_api import PrefectServerError, prefect_api

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("shards · {task.fields[docs]} documents"),
        TimeElapsedColumn(),
        console=stderr,
        transient=False,
    )
    with bar:
        job = bar.add_task("starting Prefect", total=None, docs=0)

        def on_progress(done: int, total: int, docs: int) -> None:
            if total:
                bar.update(job, description="processing", completed=done, total=total, docs=docs)
            else:
                bar.update(job, description="nothing new to process", completed=0, total=0)

        try:
            with prefect_api() as api:
                from flows.nightly import run_nightly  # imported while the server starts

                api.wait_ready()
                bar.update(job, description="taking stock")
                with progress.listening(on_progress):
                    return run_nightly(settings)
        except PrefectServerError as exc:
            raise UserError(str(exc)) from None


def _print_summary(s, out_dir: Path) -> None:
    stdout.print(f"[bold]khabar run {s.run_id}[/]: {s.status} in {s.duration_s:.1f} s", highlight=False)
    stdout.print(
        f"  files: {s.files_seen} seen, {s.files_read} read (new or changed); "
        f"documents: {s.docs_new} new, {s.docs_skipped} skipped, {s.docs_failed} failed",
        highlight=False,
    )
    if s.files_quarantined:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.quarantined.items()))
        stdout.print(f"  quarantined: {s.files_quarantined} ({reasons}); see the files table", highlight=False)
    stdout.print(
        f"  written: {s.n_tokens} tokens, {s.n_entities} entities "
        f"in {s.n_shards} shards on {s.workers} workers -> {out_dir}",
        highlight=False,
    )


@app.command()
def sql(
    query: Annotated[
        str,
        typer.Argument(help="One SELECT statement over the views documents, sentences, tokens, entities, files, runs"),
    ],
    out: OutOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Run an ad-hoc read-only SQL query with DuckDB over the output tables.

    Example: `khabar sql "SELECT type, count(*) FROM entities GROUP BY type"`
    """
    try:
        columns, rows = _query(out, query)
    except UserError as exc:
        raise _fail(str(exc)) from None
    _print_rows(columns, rows, fmt)


@app.command()
def report(
    name: Annotated[str | None, typer.Argument(help="Report name; see --list", show_default=False)] = None,
    out: OutOpt = None,
    fmt: FormatOpt = Format.table,
    list_: Annotated[bool, typer.Option("--list", help="List the reports and exit")] = False,
) -> None:
    """Run a named report (one .sql file in reports/) over the output tables.

    Example: `khabar report top-entities --format csv`
    """
    from reports import UnknownReportError, report_description, report_names, report_sql

    if list_:
        for report_name in report_names():
            stdout.print(f"{report_name:<18} {report_description(report_name)}", highlight=False)
        return
    try:
        if name is None:
            raise UserError(f"name a report; choose one of: {', '.join(report_names())}")
        try:
            sql_text = report_sql(name)
        except UnknownReportError as exc:
            raise UserError(str(exc)) from None
        columns, rows = _query(out, sql_text)
    except UserError as exc:
        raise _fail(str(exc)) from None
    _print_rows(columns, rows, fmt, title=name)


def _query(out: Path | None, sql_text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    from reports.query import QueryError, connect, run_query

    settings = _settings(out_dir=out)
    if not settings.out_dir.is_dir():
        raise UserError(f"no output folder at {settings.out_dir}; run `khabar run` first")
    try:
        return run_query(connect(settings.out_dir), sql_text)
    except QueryError as exc:
        raise UserError(f"query failed: {exc}") from None


def _print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: Format, title: str | None = None) -> None:
    if fmt is Format.json:
        sys.stdout.write(
            json.dumps([dict(zip(columns, r, strict=True)) for r in rows], ensure_ascii=False, default=str, indent=1)
            + "\n"
        )
    elif fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        table = Table(*columns, title=title, show_lines=False)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        stdout.print(table)
        stdout.print(f"({len(rows)} rows)", highlight=False)


if __name__ == "__main__":
    app()
