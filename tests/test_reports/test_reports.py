"""Every report in reports/*.sql runs against the sample corpus output and states its grain."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import report_description, report_names, report_sql
from reports.query import connect, run_query

REPORTS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "reports").glob("*.sql"))


@pytest.fixture(scope="module")
def con(sample_output):
    return connect(sample_output)


def test_the_report_list_is_the_sql_files():
    assert report_names() == REPORTS
    assert set(REPORTS) == {"top-entities", "cooccurrence", "entity-timeline", "corpus-stats"}


@pytest.mark.parametrize("name", REPORTS)
def test_report_has_a_description_and_grain(name):
    assert report_description(name)
    assert "Grain:" in report_sql(name).splitlines()[1]


@pytest.mark.parametrize("name", REPORTS)
def test_report_runs_and_returns_rows(con, name):
    columns, rows = run_query(con, report_sql(name))
    assert columns and rows


def test_corpus_stats_sum_to_the_documents(con):
    _, rows = run_query(con, report_sql("corpus-stats"))
    _, [(n_docs,)] = run_query(con, "SELECT count(*) FROM documents")
    assert sum(r[2] for r in rows) == n_docs == 12
    assert len(rows) == 6  # 2 sources x 3 dates


def test_cooccurrence_pairs_are_unordered_and_counted_once(con):
    _, rows = run_query(con, report_sql("cooccurrence"))
    pairs = [((r[0], r[1]), (r[2], r[3])) for r in rows]
    assert all(a < b for a, b in pairs)
    assert len(set(pairs)) == len(pairs)


def test_entity_timeline_only_has_dated_mentions(con):
    _, rows = run_query(con, report_sql("entity-timeline"))
    assert all(r[0] is not None for r in rows)


def test_files_view_is_the_latest_snapshot(con):
    _, [(n,)] = run_query(con, "SELECT count(*) FROM files")
    assert n == 14


def test_views_exist_for_an_empty_output_folder(tmp_path):
    empty = connect(tmp_path)
    for table in ("documents", "sentences", "tokens", "entities", "files", "runs"):
        assert run_query(empty, f"SELECT count(*) FROM {table}")[1] == [(0,)]
