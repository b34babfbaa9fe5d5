"""Every report in reports/*.sql gives its expected rows on the sample corpus and states its grain.

The expected rows are golden files in tests/golden/reports/; after a deliberate change to a report,
the sample corpus or entity extraction, regenerate them with
`KHABAR_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_reports` and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from reports import report_description, report_names, report_sql
from reports.query import connect, run_query

REPORTS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "reports").glob("*.sql"))
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "reports"


@pytest.fixture(scope="module")
def con(sample_output):
    with connect(sample_output) as tables:
        yield tables


def test_the_report_list_is_the_sql_files():
    assert report_names() == REPORTS
    assert set(REPORTS) == {"top-entities", "cooccurrence", "entity-timeline", "corpus-stats"}


@pytest.mark.parametrize("name", REPORTS)
def test_report_has_a_description_and_grain(name):
    assert report_description(name)
    assert "Grain:" in report_sql(name).splitlines()[1]


@pytest.mark.parametrize("name", REPORTS)
def test_report_gives_its_golden_rows_on_the_sample_corpus(con, name):
    columns, rows = run_query(con, report_sql(name))
    got = {"columns": columns, "rows": [[v if isinstance(v, int | float | str) else str(v) for v in r] for r in rows]}
    golden = GOLDEN / f"{name}.json"
    if os.environ.get("KHABAR_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        lines = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in got["rows"])
        header = json.dumps(got["columns"], ensure_ascii=False)
        golden.write_text(f'{{"columns": {header},\n "rows": [\n  {lines}\n ]}}\n', encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))
    assert got["rows"], "a report with no rows on the sample corpus tests nothing"


def test_corpus_stats_sum_to_the_documents(con):
    _, rows = run_query(con, report_sql("corpus-stats"))
    _, [(n_docs,)] = run_query(con, "SELECT count(*) FROM documents")
    assert sum(r[2] for r in rows) == n_docs == 12
    assert len(rows) == 6  # 2 sources x 3 dates


def test_cooccurrence_pairs_are_unordered_and_counted_once(con):
    _, rows = run_query(con, report_sql("cooccurrence"))
    pairs = [((r[0], r[1]), (r[2], r[3])) for r in rows]
    assert len(pairs) >= 10
    assert all(a < b for a, b in pairs)
    assert len(set(pairs)) == len(pairs)


def test_entity_timeline_leaves_out_documents_without_a_date(tmp_path, prefect_api_url):
    from conftest import make_raw
    from pipeline import run_pipeline

    story = "قال الوزير في الرياض إن القمة تبدأ غدا."
    raw = make_raw(tmp_path / "raw", {"2026-11-01/src/a.txt": story, "undated/b.txt": story, "c.txt": story})
    run_pipeline(raw, tmp_path / "out")
    with connect(tmp_path / "out") as tables:
        _, rows = run_query(tables, report_sql("entity-timeline"))
    riyadh = [r for r in rows if r[2] == "الرياض"]
    assert riyadh == [(date(2026, 11, 1), "LOC", "الرياض", 1, 1)]  # one dated mention of three
    assert all(r[0] is not None for r in rows)


def test_files_view_is_the_latest_snapshot(con):
    _, [(n,)] = run_query(con, "SELECT count(*) FROM files")
    assert n == 14


def test_views_exist_for_an_empty_output_folder(tmp_path):
    with connect(tmp_path) as empty:
        for table in ("documents", "sentences", "tokens", "entities", "files", "quarantine", "runs"):
            assert run_query(empty, f"SELECT count(*) FROM {table}")[1] == [(0,)]


def test_the_run_artifacts_top_entities_agree_with_sql(con, sample_output):
    from reports.query import top_entities
    from tasks.tables import load_for_reading

    parts = load_for_reading(sample_output).paths("entities")
    _, rows = run_query(
        con,
        "SELECT type, canonical_key, count(*) AS mentions, count(DISTINCT doc_id) AS documents FROM entities "
        "GROUP BY ALL ORDER BY mentions DESC, documents DESC, type, canonical_key LIMIT 10",
    )
    assert [tuple(r.values()) for r in top_entities(sample_output, parts)] == rows
