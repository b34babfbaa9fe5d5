"""What the CLI prints: one-line errors, and results in each format, streamed to stdout or a file.

Everything that comes from data or from the user (values, column names, paths, error text) is
printed as plain text, never as Rich markup: `[/x]` or `[link=...]` in a value is shown as written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # pyarrow is imported when rows are written: a khabar command starts without it
    import pyarrow as pa

stdout = Console(soft_wrap=True, markup=False, highlight=False, emoji=False)
stderr = Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False)

TABLE_ROWS = 40  # rows a table shows unless --limit or --all says otherwise
NULL = "NULL"  # how a table or markdown shows a missing value, apart from an empty string


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    ndjson = "ndjson"
    markdown = "markdown"
    parquet = "parquet"


class OutputError(ValueError):
    """A result that cannot go where it was asked to (parquet to a terminal, an unwritable -o file)."""


@dataclass
class Result:
    """What a command prints: column names and the rows as Arrow record batches, read once."""

    columns: list[str]
    batches: Iterable[pa.RecordBatch]

    @classmethod
    def of_rows(cls, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Result:
        """A small result built in Python (status, ner tag): one batch, types inferred from the values."""
        import pyarrow as pa

        rows = list(rows)
        arrays = [pa.array([row[i] for row in rows]) for i in range(len(columns))]
        return cls(list(columns), [pa.RecordBatch.from_arrays(arrays, names=list(columns))])


class Chatter:
    """-q/--quiet: progress, summaries and warnings are left out; errors and the rows asked for are not."""

    quiet = False


def error(message: str, label: str = "Error:") -> None:
    """One line on stderr: a bold red label, then the message as plain text."""
    stderr.print(Text.assemble((label, "bold red"), " ", message))


def warning(message: str) -> None:
    if not Chatter.quiet:
        error(message, label="Warning:")


def info(text: str) -> None:
    """A line of what a command did (a summary, a plan), left out with -q."""
    if not Chatter.quiet:
        stdout.print(text)


def bold_line(head: str, rest: str = "") -> None:
    if not Chatter.quiet:
        stdout.print(Text.assemble((head, "bold"), rest))


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def write_result(
    result: Result,
    fmt: Format,
    *,
    output: Path | None = None,
    title: str | None = None,
    limit: int | None = None,
    show_all: bool = False,
    drop_first: Sequence[str] = (),
) -> int:
    """Write a result to stdout or to the file `output` (written whole or not at all); returns the rows written.

    A table shows TABLE_ROWS rows unless `limit` or `show_all` says otherwise, and counts the rest;
    the other formats write every row, or the first `limit`. `drop_first`: the columns a terminal
    table leaves out first when it is too narrow (by default the last columns).
    """
    if show_all:
        limit = None
    elif limit is None and fmt is Format.table:
        limit = TABLE_ROWS
    batches = iter(result.batches)
    with _destination(output, binary=fmt is Format.parquet) as (out, terminal):
        if fmt is Format.parquet:
            return _write_parquet(result.columns, _limited(batches, limit), out)
        if fmt is Format.table:
            return _write_table(result.columns, batches, limit, out, terminal, title, drop_first)
        rows = _rows(_limited(batches, limit))
        if fmt is Format.json:
            return _write_json(result.columns, rows, out)
        if fmt is Format.ndjson:
            return _write_ndjson(result.columns, rows, out)
        if fmt is Format.markdown:
            return _write_markdown(result.columns, batches, limit, out)
        return _write_csv(result.columns, rows, out)


@contextlib.contextmanager
def _destination(output: Path | None, binary: bool) -> Iterator[tuple[IO[Any], bool]]:
    """stdout, or a temporary file beside `output` renamed over it once everything is written."""
    if output is None:
        if binary:
            if stdout.is_terminal:
                raise OutputError("parquet is binary; write it to a file with -o FILE, or pipe it")
            sys.stdout.flush()
            yield sys.stdout.buffer, False
            sys.stdout.buffer.flush()
        else:
            yield sys.stdout, stdout.is_terminal
        return
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:
        f = open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8", newline=None if binary else "")  # noqa: SIM115
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with f:
            yield f, False
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)


def _limited(batches: Iterator[pa.RecordBatch], limit: int | None) -> Iterator[pa.RecordBatch]:
    """The batches up to `limit` rows; the rest are left unread in `batches`."""
    left = limit
    for batch in batches:
        if left is not None and batch.num_rows >= left:
            if left:
                yield batch.slice(0, left)
            return
        if left is not None:
            left -= batch.num_rows
        yield batch


def _rows(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[Any, ...]]:
    from reports.query import python_values

    for batch in batches:
        yield from zip(*(python_values(column) for column in batch.columns), strict=True)


def _is_number(data_type: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type)


def _text(value: Any) -> str:
    """A value as one cell of csv or of a table: JSON for lists and structs, ISO for dates, true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _write_csv(columns: Sequence[str], rows: Iterable[tuple[Any, ...]], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([_text(v) for v in row])
        n += 1
    return n


def _write_json(columns: Sequence[str], rows: Iterable[tuple[Any, ...]], out: IO[str]) -> int:
    out.write("[")
    n = 0
    for row in rows:
        n += 1
        record = json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=_json_default)
        out.write(("\n " if n == 1 else ",\n ") + record)
    out.write("\n]\n" if n else "]\n")
    return n


def _write_ndjson(columns: Sequence[str], rows: Iterable[tuple[Any, ...]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=_json_default) + "\n")
        n += 1
    return n


def _write_parquet(columns: Sequence[str], batches: Iterable[pa.RecordBatch], out: IO[bytes]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    writer = None
    for batch in batches:
        if writer is None:
            writer = pq.ParquetWriter(out, batch.schema)
        writer.write_batch(batch)
        n += batch.num_rows
    if writer is None:  # no rows: the columns, typed as nothing
        writer = pq.ParquetWriter(out, pa.schema([pa.field(c, pa.null()) for c in columns]))
    writer.close()
    return n


def _shown(
    columns: Sequence[str], batches: Iterator[pa.RecordBatch], limit: int | None
) -> tuple[list[tuple[Any, ...]], list[bool], int]:
    """The rows a table shows, which columns are numbers, and how many rows there are in all."""
    shown: list[tuple[Any, ...]] = []
    numeric = [False] * len(columns)
    total = 0
    for batch in batches:
        if total == 0:
            numeric = [_is_number(field.type) for field in batch.schema]
        total += batch.num_rows
        room = batch.num_rows if limit is None else max(0, min(batch.num_rows, limit - len(shown)))
        if room:
            shown.extend(_rows([batch.slice(0, room)]))
    return shown, numeric, total


def _footer(total: int, shown: int) -> str:
    if shown == total:
        return f"({plural(total, 'row')})"
    return f"({plural(total, 'row')}, {shown:,} shown; --limit N or --all for more)"


def _write_markdown(columns: Sequence[str], batches: Iterator[pa.RecordBatch], limit: int | None, out: IO[str]) -> int:
    def cell(value: Any) -> str:
        text = NULL if value is None else _text(value)
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    def line(values: Iterable[Any]) -> str:
        return "| " + " | ".join(cell(v) for v in values) + " |\n"

    out.write(line(columns))
    n = 0
    for batch in _limited(batches, limit):
        if n == 0:
            out.write("|" + "|".join("---:" if _is_number(f.type) else "---" for f in batch.schema) + "|\n")
        for row in _rows([batch]):
            out.write(line(row))
            n += 1
    if n == 0:
        out.write("|" + "|".join("---" for _ in columns) + "|\n")
    return n


def _write_table(
    columns: Sequence[str],
    batches: Iterator[pa.RecordBatch],
    limit: int | None,
    out: IO[str],
    terminal: bool,
    title: str | None,
    drop_first: Sequence[str],
) -> int:
    rows, numeric, total = _shown(columns, batches, limit)
    cells = [[NULL if v is None else _text(v) for v in row] for row in rows]
    widths = [max([cell_len(name), *(cell_len(r[i]) for r in cells)]) for i, name in enumerate(columns)]
    keep = list(range(len(columns)))
    dropped: list[str] = []
    if terminal:
        # A boxed table takes 3 columns of the screen per column plus one; leave out the less important
        # columns until it fits, then fold what is still too wide: a value is never cut short.
        order = [columns.index(c) for c in drop_first if c in columns]
        order += [i for i in reversed(range(1, len(columns))) if i not in order]
        for i in order:
            if sum(widths[k] + 3 for k in keep) + 1 <= stdout.width:
                break
            keep.remove(i)
            dropped.append(columns[i])
        table = Table(title=Text(title) if title else None)
        for i in keep:
            table.add_column(Text(columns[i]), justify="right" if numeric[i] else "left", overflow="fold")
        for row, values in zip(cells, rows, strict=True):
            table.add_row(*(Text(row[i], style="dim" if values[i] is None else "") for i in keep))
        stdout.print(table)
    else:
        if title:
            out.write(title + "\n")
        lines = [list(columns), *cells]
        for line in lines:
            padded = [
                " " * (widths[i] - cell_len(v)) + v if numeric[i] else v + " " * (widths[i] - cell_len(v))
                for i, v in enumerate(line)
            ]
            out.write("  ".join(padded).rstrip() + "\n")
    footer = _footer(total, len(rows))
    if dropped:
        footer += f"; not shown for width: {', '.join(sorted(dropped, key=columns.index))} (--format csv has all)"
    if terminal:
        stdout.print(footer)
    else:
        out.write(footer + "\n")
    return len(rows)
