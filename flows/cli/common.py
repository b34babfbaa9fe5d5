"""What the khabar commands share: the app, its options, settings, errors with their exit codes, output."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from flows import interrupt
from flows.output import (
    TABLE_ROWS,
    Format,
    OutputError,
    Result,
    error,
    write_result,
)
from tasks.entities.backends import choices_in_words

IMPORTED_AT = time.time()

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
        help=f"Entity backend: {choices_in_words()} (env KHABAR_NER, default gazetteer)",
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

ExecutorOpt = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Where shards run: processes (khabar's own worker processes) or dask (a Dask cluster through "
        "prefect-dask; a local one per run unless --dask-address names one). Env KHABAR_EXECUTOR, default processes",
        show_default=False,
    ),
]

DaskAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--dask-address",
        help="Scheduler of a running Dask cluster, e.g. tcp://10.0.0.5:8786 (with --executor dask; env "
        "KHABAR_DASK_ADDRESS); every worker must see the raw and output folders at the same paths",
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

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="RUN_ID",
        help="Read the tables as this run committed them (a run_id from `khabar runs`), not as they are now",
        show_default=False,
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0,
        help="Stop the query after this many seconds, 0 for no limit (env KHABAR_SQL_TIMEOUT_S, default 60)",
        show_default=False,
    ),
]


class UserError(Exception):
    """A problem the user can fix (a bad option, a missing folder); one sentence, exit code 2."""

    exit_code = 2


class JobError(UserError):
    """A job that could not run (folder in use, Prefect down, a failed shard); one sentence, exit code 1."""

    exit_code = 1


class Interrupted(JobError):
    """A job stopped by Ctrl-C or SIGTERM (flows/interrupt.py); one sentence, exit code 130."""

    exit_code = interrupt.EXIT_CODE


def failed(exc: UserError) -> typer.Exit:
    """The one-sentence error of exc on stderr, and the exit with its code."""
    return fail(str(exc), code=exc.exit_code)


def build_settings(kind: Any = None, **overrides: Any):
    """Settings from defaults, KHABAR_* variables and these options; UserError for any bad value."""
    from flows.settings import ProjectFileError, Settings

    try:
        return (kind or Settings)(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(filter(None, (".".join(map(str, e["loc"])), without_prefix(e["msg"])))) for e in exc.errors()
        )
        raise UserError(f"invalid settings: {problems}") from None
    except ProjectFileError as exc:
        raise UserError(f"invalid settings: {exc}") from None
    except SettingsError as exc:  # a KHABAR_* variable that should hold JSON does not
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise UserError(f"invalid settings: {_env_name(str(exc))} is not valid JSON{cause}") from None


def without_prefix(message: str) -> str:
    """A validator's own sentence, without the "Value error, " pydantic puts before it."""
    return message.removeprefix("Value error, ")


def _env_name(message: str) -> str:
    import re

    field = re.search(r'field "(\w+)"', message)
    return f"KHABAR_{field[1].upper()}" if field else "a KHABAR_ variable"


def build_read_settings(**overrides: Any):
    from flows.settings import ReadSettings

    return build_settings(ReadSettings, **overrides)


def require_output_folder(out_dir: Path) -> None:
    """UserError unless the output folder is there: before the first run there is nothing to read."""
    if not out_dir.is_dir():
        raise UserError(f"no output folder at {out_dir}; run `khabar run` first")


def existing_output_folder(out: Path | None) -> Path:
    """The output folder the settings name, which must exist; else exit with one sentence."""
    try:
        settings = build_read_settings(out_dir=out)
        require_output_folder(settings.out_dir)
    except UserError as exc:
        raise failed(exc) from None
    return settings.out_dir


def fail(message: str, code: int = 2) -> typer.Exit:
    error(message)
    return typer.Exit(code)


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
            raise fail(str(exc)) from None


ner_app = typer.Typer(
    help="Entity extraction: train a CRF, evaluate a backend on gold CoNLL data, tag a text.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(ner_app, name="ner")
