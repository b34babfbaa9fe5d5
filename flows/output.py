"""What the CLI prints: one-line errors and query results in each format, streamed.

Everything that comes from data or from the user (values, column names, paths, error text) is
printed as plain text, never as Rich markup: `[/x]` or `[link=...]` in a value is shown as written.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

stdout = Console(soft_wrap=True, markup=False, highlight=False, emoji=False)
stderr = Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False)

# A terminal table holds at most this many rows; the rest are counted, not kept (use csv or json for all).
TABLE_ROWS = 1000


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def error(message: str, label: str = "Error:") -> None:
    """One line on stderr: a bold red label, then the message as plain text."""
    stderr.print(Text.assemble((label, "bold red"), " ", message))


def bold_line(head: str, rest: str = "") -> None:
    stdout.print(Text.assemble((head, "bold"), rest))


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def write_rows(columns: Sequence[str], rows: Iterable[tuple[Any, ...]], fmt: Format, title: str | None = None) -> int:
    """Print rows as they arrive (csv and json hold one row at a time); returns how many there were."""
    if fmt is Format.json:
        return _write_json(columns, rows)
    if fmt is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        counted = _Counted(rows)
        writer.writerows(counted)
        return counted.n
    return _write_table(columns, rows, title)


class _Counted:
    """Rows passed through one at a time, counted."""

    def __init__(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self.rows:
            self.n += 1
            yield row


def _write_json(columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    out = sys.stdout
    out.write("[")
    counted = _Counted(rows)
    for row in counted:
        record = dict(zip(columns, row, strict=True))
        out.write(("\n " if counted.n == 1 else ",\n ") + json.dumps(record, ensure_ascii=False, default=str))
    out.write("\n]\n" if counted.n else "]\n")
    return counted.n


def _write_table(columns: Sequence[str], rows: Iterable[tuple[Any, ...]], title: str | None) -> int:
    table = Table(title=Text(title) if title else None, show_lines=False)
    for name in columns:
        table.add_column(Text(name))
    counted = _Counted(rows)
    for row in counted:
        if counted.n <= TABLE_ROWS:
            table.add_row(*(Text("" if v is None else str(v)) for v in row))
    n = counted.n
    stdout.print(table)
    shown = f", the first {TABLE_ROWS:,} shown; use --format csv or json for all" if n > TABLE_ROWS else ""
    stdout.print(f"({plural(n, 'row')}{shown})")
    return n
