"""How results are printed: plain text through a pipe, tables that fit a terminal, every format, -o, sql -f."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console
from typer.testing import CliRunner

from flows import output
from flows.cli import app

runner = CliRunner()


@pytest.fixture
def processed(sample_output) -> Path:
    return sample_output


@pytest.fixture
def terminal(monkeypatch) -> io.StringIO:
    """An 80-column terminal in place of stdout."""
    screen = io.StringIO()
    console = Console(
        file=screen, force_terminal=True, color_system=None, width=80, markup=False, highlight=False, emoji=False
    )
    monkeypatch.setattr(output, "stdout", console)
    return screen


def sql(processed: Path, query: str, *options: str, **kwargs) -> str:
    result = runner.invoke(app, ["sql", query, "--out", str(processed), *options], **kwargs)
    assert result.exit_code == 0, result.output
    return result.output


def test_through_a_pipe_a_table_is_plain_aligned_text(processed):
    query = "SELECT * FROM (VALUES ('wahat-news', 5, 'a'), ('x', 12345, NULL), ('', 7, '')) t(source, n, note)"
    assert sql(processed, query).split("\n") == [
        "source          n  note",
        "wahat-news      5  a",
        "x           12345  NULL",
        "                7",
        "(3 rows)",
        "",
    ]


def test_a_pipe_never_cuts_a_value(processed):
    long_path = "2026-11-01/" + "a-very-long-source-name" * 5 + "/article.txt"
    text = sql(processed, f"SELECT '{long_path}' AS path, 1 AS n, 'السعودية' AS place")
    assert long_path in text and "…" not in text


def test_a_terminal_table_fits_80_columns_by_leaving_out_less_telling_columns(processed, terminal):
    result = runner.invoke(app, ["runs", "--out", str(processed)])
    assert result.exit_code == 0, result.output
    screen = terminal.getvalue()
    assert "…" not in screen
    assert all(len(line) <= 80 for line in screen.splitlines())
    footer = " ".join(screen.rsplit("┘", 1)[1].split())  # what follows the table, unwrapped
    assert footer.startswith("(1 row); not shown for width: ") and "flow_run_id" in footer
    run_ids = sql(processed, "SELECT run_id FROM runs", "--format", "csv").split()[1:]
    assert run_ids and all(run_id in screen for run_id in run_ids)  # the key column whole


def test_a_terminal_table_folds_a_long_value_instead_of_cutting_it(processed, terminal):
    value = "x" * 150
    runner.invoke(app, ["sql", f"SELECT '{value}' AS v", "--out", str(processed)])
    screen = terminal.getvalue()
    assert "…" not in screen and screen.count("x") == 150


def test_a_table_shows_40_rows_and_says_how_to_see_more(processed):
    lines = sql(processed, "SELECT range AS n FROM range(100)").splitlines()
    assert len(lines) == 1 + 40 + 1 and lines[-1] == "(100 rows, 40 shown; --limit N or --all for more)"
    assert sql(processed, "SELECT range AS n FROM range(100)", "--all").splitlines()[-1] == "(100 rows)"
    assert sql(processed, "SELECT range AS n FROM range(100)", "--limit", "3").splitlines()[1:] == [
        "0",
        "1",
        "2",
        "(100 rows, 3 shown; --limit N or --all for more)",
    ]
    assert len(sql(processed, "SELECT range AS n FROM range(100)", "--format", "csv").splitlines()) == 101


def test_csv_writes_lists_as_json_arrays_and_missing_values_as_empty(processed):
    text = sql(processed, "SELECT [1, 2] AS ids, ['أ', 'ب'] AS words, NULL AS nothing, true AS ok", "--format", "csv")
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == ["ids", "words", "nothing", "ok"]
    assert json.loads(row[0]) == [1, 2] and json.loads(row[1]) == ["أ", "ب"] and row[2:] == ["", "true"]


def test_ndjson_and_markdown(processed):
    query = "SELECT * FROM (VALUES ('a|b', 1), (NULL, 22)) t(s, n)"
    lines = sql(processed, query, "--format", "ndjson").splitlines()
    assert [json.loads(line) for line in lines] == [{"s": "a|b", "n": 1}, {"s": None, "n": 22}]
    assert sql(processed, query, "--format", "markdown") == "| s | n |\n|---|---:|\n| a\\|b | 1 |\n| NULL | 22 |\n"


def test_parquet_to_a_file_keeps_the_types(processed, tmp_path):
    target = tmp_path / "r.parquet"
    query = "SELECT doc_id, published_date, n_tokens FROM documents ORDER BY doc_id"
    assert sql(processed, query, "--format", "parquet", "-o", str(target)) == ""
    table = pq.read_table(target)
    assert table.num_rows == 12 and str(table.schema.field("published_date").type) == "date32[day]"
    assert table.column("doc_id").to_pylist() == sorted(table.column("doc_id").to_pylist())
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file became the target


def test_parquet_to_a_terminal_is_refused_in_one_sentence(processed, terminal):
    result = runner.invoke(app, ["sql", "SELECT 1 AS n", "--out", str(processed), "--format", "parquet"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: parquet is binary; write it to a file with -o FILE, or pipe it")


def test_output_file_is_written_whole_or_not_at_all(processed, tmp_path):
    target = tmp_path / "r.csv"
    assert sql(processed, "SELECT 1 AS n", "--format", "csv", "-o", str(target)) == ""
    assert target.read_text() == "n\n1\n"
    failed = runner.invoke(app, ["sql", "SELECT nope FROM documents", "--out", str(processed), "-o", str(target)])
    assert failed.exit_code == 2 and target.read_text() == "n\n1\n"  # the earlier file stays as it was
    missing = runner.invoke(app, ["sql", "SELECT 1", "--out", str(processed), "-o", str(tmp_path / "no" / "r.csv")])
    assert missing.exit_code == 2 and missing.output.startswith("Error: cannot write ")


def test_sql_reads_its_statement_from_a_file_or_stdin(processed, tmp_path):
    query_file = tmp_path / "q.sql"
    query_file.write_text("-- how many\nSELECT count(*) AS n FROM documents\n", encoding="utf-8")
    from_file = runner.invoke(app, ["sql", "-f", str(query_file), "--out", str(processed), "--format", "csv"])
    assert from_file.output == "n\n12\n"
    from_stdin = runner.invoke(
        app, ["sql", "-", "--out", str(processed), "--format", "csv"], input="SELECT count(*) AS n FROM entities"
    )
    assert from_stdin.exit_code == 0 and from_stdin.output.startswith("n\n")


@pytest.mark.parametrize("args", [[], ["SELECT 1", "-f", "q.sql"]])
def test_sql_needs_exactly_one_statement_source(processed, args):
    result = runner.invoke(app, ["sql", *args, "--out", str(processed)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: give the query as an argument, with -f FILE, or as - to read it from stdin")


def test_ner_evaluate_as_csv(tmp_path):
    from fixtures.conll_sample import write_conll

    conll = write_conll(tmp_path / "dev.conll")
    result = runner.invoke(app, ["ner", "evaluate", "--gold", str(conll), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["type"] for r in rows][-1] == "micro" and {"precision", "recall", "f1", "support"} <= set(rows[0])


def test_a_result_refused_before_its_rows_are_read_leaves_no_query_timer_behind(processed, terminal, tmp_path):
    """The query's time limit is a timer; it used to outlive a refused write and fire on a closed
    connection a minute later (an exception in a thread, seen by CI)."""
    import threading

    def timers() -> int:
        return sum(isinstance(t, threading.Timer) and t.is_alive() for t in threading.enumerate())

    before = timers()
    parquet = runner.invoke(app, ["sql", "SELECT 1 AS n", "--out", str(processed), "--format", "parquet"])
    nowhere = runner.invoke(app, ["sql", "SELECT 1", "--out", str(processed), "-o", str(tmp_path / "no" / "r.csv")])
    assert parquet.exit_code == nowhere.exit_code == 2
    assert timers() == before
