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
NerOpt = Annotated[
    str | None,
    typer.Option(
        "--ner",
        help="Entity backend: gazetteer, crf, camel or auto (env KHABAR_NER, default gazetteer)",
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
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
) -> None:
    """Process new and changed articles under the raw folder into the Parquet tables.

    Unchanged files are not re-read and documents already processed are skipped, so a second run
    over the same input writes no new document rows. Exits 0 when the run completes, even if some
    files were quarantined (see the files table).

    Example: `khabar run --raw data/raw --out data/processed --workers 2`
    """
    try:
        settings = _settings(
            raw_dir=raw, out_dir=out, workers=workers, shard_size=shard_size, ner=ner, ner_model=ner_model
        )
        if not settings.raw_dir.is_dir():
            raise UserError(f"the raw folder {settings.raw_dir} does not exist or is not a folder")
        _check_ner(settings)
        summary = _run_with_progress(settings)
    except UserError as exc:
        raise _fail(str(exc)) from None
    _print_summary(summary, settings.out_dir)


def _check_ner(settings) -> None:
    """Fail before any work when the entity backend cannot load (unknown, or its model is missing)."""
    from flows.nightly import ner_config
    from tasks.entities import NerConfigError

    try:
        ner_config(settings)
    except NerConfigError as exc:
        raise UserError(str(exc)) from None


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


ner_app = typer.Typer(
    help="Entity extraction: train a CRF, evaluate a backend on gold CoNLL data, tag a text.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(ner_app, name="ner")


@ner_app.command("train")
def ner_train(
    conll: Annotated[Path, typer.Option("--conll", help="Training data: CoNLL/IOB2, one `TOKEN TAG` per line")],
    out_model: Annotated[Path, typer.Option("--out", help="Model file to write")],
    unlabelled: Annotated[
        Path | None,
        typer.Option("--unlabelled", help="Folder of raw .txt news to learn word clusters from (optional)"),
    ] = None,
    max_iterations: Annotated[int, typer.Option("--max-iterations", min=1, help="L-BFGS iterations")] = 150,
) -> None:
    """Train the `crf` backend on a CoNLL/IOB2 corpus (word clusters come from the corpus and --unlabelled).

    Example: `khabar ner train --conll train.conll --unlabelled data/raw --out models/ner.crf`
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
    stdout.print(
        f"trained on {report.n_sentences} sentences ({report.n_tokens} tokens), "
        f"{report.n_unlabelled_sentences} unlabelled sentences, {report.vocabulary} clustered words "
        f"in {report.seconds:.1f} s -> {report.path} (sha256 {report.model_hash[:12]})",
        highlight=False,
    )


@ner_app.command("evaluate")
def ner_evaluate(
    gold_file: Annotated[Path, typer.Option("--gold", help="Gold CoNLL/IOB2 file; its tokens are tagged as given")],
    backend: Annotated[str, typer.Option("--backend", help="gazetteer, crf, camel or auto")] = "gazetteer",
    ner_model: NerModelOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json")] = Format.table,
) -> None:
    """Entity-level precision, recall and F1 per type and micro-averaged (seqeval, strict IOB2).

    Example: `khabar ner evaluate --gold dev.conll --backend crf --ner-model models/ner.crf --format json`
    """
    from tasks.entities.bio import ConllFormatError, read_conll
    from tasks.entities.evaluate import evaluate

    try:
        gold = _read_gold(gold_file, read_conll, ConllFormatError)
        scores = evaluate(_extractor(backend, ner_model), gold)
    except UserError as exc:
        raise _fail(str(exc)) from None
    if fmt is Format.json:
        sys.stdout.write(json.dumps(scores.as_json(), ensure_ascii=False, indent=1) + "\n")
        return
    table = Table("type", "precision", "recall", "f1", "support", title=f"{scores.backend} on {gold_file.name}")
    for name, row in [*sorted(scores.per_type.items()), ("micro", scores.micro)]:
        table.add_row(name, *(f"{row[k]:.3f}" for k in ("precision", "recall", "f1")), str(row["support"]))
    stdout.print(table)
    stdout.print(
        f"{scores.n_sentences} sentences, {scores.n_tokens} tokens in {scores.seconds:.2f} s "
        f"({scores.n_tokens / max(scores.seconds, 1e-9):,.0f} words/s)",
        highlight=False,
    )


@ner_app.command("tag")
def ner_tag(
    text: Annotated[str, typer.Argument(help="Arabic text to tag")],
    backend: Annotated[str, typer.Option("--backend", help="gazetteer, crf, camel or auto")] = "gazetteer",
    ner_model: NerModelOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Print the entities found in a text: type, surface, canonical key and character offsets.

    Example: `khabar ner tag "قال وزير الخارجية سيرغي لافروف في موسكو"`
    """
    from tasks.clean import clean_text
    from tasks.segment import split_sentences, tokenize

    try:
        extractor = _extractor(backend, ner_model)
    except UserError as exc:
        raise _fail(str(exc)) from None
    cleaned = clean_text(text)
    tokens = tokenize(cleaned, split_sentences(cleaned))
    rows = []
    for m in extractor.extract(tokens):
        start, end = tokens[m.token_start].start, tokens[m.token_end - 1].end
        rows.append((m.type, cleaned[start:end], m.canonical_key, start, end))
    _print_rows(["type", "surface", "canonical_key", "char_start", "char_end"], rows, fmt)


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


def _extractor(backend: str, model: Path | None):
    from tasks.entities import NerConfig, NerConfigError, load_extractor
    from tasks.entities.crf import ModelFileError

    try:
        return load_extractor(NerConfig(backend=backend, model=str(model) if model else None))
    except (NerConfigError, ModelFileError) as exc:
        raise UserError(str(exc)) from None


if __name__ == "__main__":
    app()
