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
