"""README and docs/ stay true: the table reference is the schemas', the example queries run, every
page is linked, and every test the guarantees name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas import markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))}
QUERIES = re.findall(r"<!-- tested-query -->\n```sql\n(.*?)```", DOCS["sql.md"], flags=re.S)


def test_readme_table_reference_is_generated_from_the_schemas():
    block = DOCS["tables.md"].split("<!-- tables:start -->\n", 1)[1].split("<!-- tables:end -->", 1)[0]
    assert block == markdown(), "regenerate with: .venv/bin/python -m schemas --readme docs/tables.md"


def test_readme_links_every_docs_page_and_every_link_resolves():
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", README))
    assert linked == set(DOCS)
    for name, text in DOCS.items():
        for target in re.findall(r"\]\(((?!https?:)[^)#]+)", text):
            assert (ROOT / "docs" / target).resolve().exists(), f"docs/{name} links to missing {target}"


def test_readme_has_three_example_queries():
    assert len(QUERIES) == 3


@pytest.fixture(scope="module")
def sample_con(sample_output):
    from reports.query import connect

    return connect(sample_output)


@pytest.mark.parametrize("query", QUERIES, ids=[q.splitlines()[0] for q in QUERIES])
def test_readme_example_query_returns_rows(sample_con, query):
    from reports.query import run_query

    columns, rows = run_query(sample_con, query)
    assert columns and rows


def test_every_test_the_guarantees_name_exists():
    """README's Guarantees name the tests that prove them; a renamed or deleted test must not leave a dangling claim."""
    section = DOCS["guarantees.md"]
    named = set(re.findall(r"`(test_\w+)`", section))
    defined = {
        m for p in Path(__file__).parent.rglob("test_*.py") for m in re.findall(r"^def (test_\w+)", p.read_text(), re.M)
    }
    assert len(named) > 30
    assert named <= defined, sorted(named - defined)


def test_readme_report_excerpt_is_what_khabar_prints(sample_output):
    """README's first screen shows a real report: the sample corpus's, as `make run` makes it."""
    from typer.testing import CliRunner

    from flows.cli import app

    excerpt = README.split("$ khabar report top-entities | head -6\n", 1)[1].split("```", 1)[0].splitlines()
    printed = CliRunner().invoke(app, ["report", "top-entities", "--out", str(sample_output)]).output.splitlines()
    assert len(excerpt) == 6 and printed[:6] == excerpt


def test_readme_sql_examples_run(sample_output, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    commands = re.findall(r"^khabar sql (.+)$", README, flags=re.M)
    assert len(commands) == 2
    query = re.match(r'"(.+)"$', commands[0])[1]
    result = CliRunner().invoke(app, ["sql", query, "--out", str(sample_output), "--format", "json"])
    assert result.exit_code == 0 and {row["type"] for row in __import__("json").loads(result.output)} >= {"PERS"}
    (tmp_path / "question.sql").write_text(query, encoding="utf-8")
    args = commands[1].replace("question.sql", str(tmp_path / "question.sql"))
    args = args.replace("answer.parquet", str(tmp_path / "answer.parquet")).split()
    assert CliRunner().invoke(app, ["sql", *args, "--out", str(sample_output)]).exit_code == 0
    assert (tmp_path / "answer.parquet").stat().st_size > 0


EXAMPLES = dict(re.findall(r"<!-- tested-example (\w+) -->\n```\w+\n(.*?)```", DOCS["sql.md"], flags=re.S))


@pytest.fixture(scope="module")
def reread(tmp_path_factory, sample_output, prefect_api_url):
    """An output folder after a run, a corrected article, and a reprocess with a changed gazetteer."""
    import shutil

    from fixtures.make_sample_corpus import write_corpus
    from pipeline import run_pipeline

    from flows.reprocess import run_reprocess
    from flows.settings import Settings
    from tasks.reprocess import Selection

    root = tmp_path_factory.mktemp("reread")
    raw, out = root / "raw", root / "out"
    write_corpus(raw)
    shutil.copytree(sample_output, out)
    stages = {"after a run": root / "run"}
    shutil.copytree(out, stages["after a run"])
    story = raw / "2026-11-01" / "sahel-daily" / "cairo-water-summit.txt"
    story.write_text(story.read_text(encoding="utf-8") + "\nتصحيح: عقدت القمة في القاهرة.\n", encoding="utf-8")
    run_pipeline(raw, out)
    watch = root / "watch.tsv"
    watch.write_text("ORG\tمنتدى التقنية الخليجي\n", encoding="utf-8")
    run_reprocess(
        Settings(raw_dir=raw, out_dir=out, workers=1, shard_retry_delay_s=0, gazetteers=(watch,)),
        Selection(everything=True),
    )
    stages["after a correction and a reprocess"] = out
    return stages


def khabar_sql(out: Path, sql: str) -> list[tuple]:
    from reports.query import connect, run_query

    with connect(out) as tables:
        return [tuple(row) for row in run_query(tables, sql)[1]]


@pytest.mark.parametrize("stage", ["after a run", "after a correction and a reprocess"])
def test_the_polars_example_counts_what_khabar_sql_counts(reread, stage, capsys):
    out = reread[stage]
    scope: dict = {}
    exec(EXAMPLES["polars"].replace('"data/processed"', repr(str(out))), scope)
    got = [tuple(row) for row in scope["by_source"].iter_rows()]
    sql = "SELECT source, type, count(*) AS len FROM entities JOIN documents USING (doc_id) GROUP BY ALL ORDER BY ALL"
    assert got == khabar_sql(out, sql) and got
    assert str(scope["by_source"]) in capsys.readouterr().out


@pytest.mark.parametrize("stage", ["after a run", "after a correction and a reprocess"])
def test_the_duckdb_example_counts_what_khabar_sql_counts(reread, stage, tmp_path):
    import duckdb
    from typer.testing import CliRunner

    from flows.cli import app

    out = reread[stage]
    export, query = EXAMPLES["duckdb"].strip().splitlines()
    args = export.split()[1:]
    target = tmp_path / args[-1]
    result = CliRunner().invoke(app, [*args[:-1], str(target), "--out", str(out)])
    assert result.exit_code == 0, result.output
    sql = re.fullmatch(r'duckdb khabar\.duckdb -c "(.*)"', query)[1]
    names = "SELECT type, canonical_key, name FROM entity_names ORDER BY ALL"
    with duckdb.connect(str(target), read_only=True) as con:  # a plain DuckDB: no khabar function in it
        assert con.execute(sql).fetchall() == khabar_sql(out, sql) != []
        assert con.execute(names).fetchall() == khabar_sql(out, names) != []
