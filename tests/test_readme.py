"""README stays true: its table reference is the schemas', and its example queries run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas import markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
QUERIES = re.findall(r"<!-- tested-query -->\n```sql\n(.*?)```", README, flags=re.S)


def test_readme_table_reference_is_generated_from_the_schemas():
    block = README.split("<!-- tables:start -->\n", 1)[1].split("<!-- tables:end -->", 1)[0]
    assert block == markdown(), "regenerate with: .venv/bin/python -m schemas --readme README.md"


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
    section = README.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(test_\w+)`", section))
    defined = {
        m for p in Path(__file__).parent.rglob("test_*.py") for m in re.findall(r"^def (test_\w+)", p.read_text(), re.M)
    }
    assert len(named) > 30
    assert named <= defined, sorted(named - defined)
