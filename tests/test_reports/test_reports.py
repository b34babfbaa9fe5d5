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
VARIES = {"last_run_id", "last_run_started_at", "last_run_duration_s"}  # of the run, not of the corpus


@pytest.fixture(scope="module")
def con(sample_output):
    with connect(sample_output) as tables:
        yield tables


def test_the_report_list_is_the_sql_files():
    assert report_names() == REPORTS
    assert set(REPORTS) == {
        "top-entities",
        "cooccurrence",
        "entity-timeline",
        "corpus-stats",
        "overview",
        "source-coverage",
        "problem-files",
    }


@pytest.mark.parametrize("name", REPORTS)
def test_report_has_a_description_and_grain(name):
    assert report_description(name)
    assert "Grain:" in report_sql(name).splitlines()[1]


@pytest.mark.parametrize("name", REPORTS)
def test_report_gives_its_golden_rows_on_the_sample_corpus(con, name):
    columns, rows = run_query(con, report_sql(name))
    got = {
        "columns": columns,
        "rows": [[_golden_value(c, v) for c, v in zip(columns, r, strict=True)] for r in rows],
    }
    golden = GOLDEN / f"{name}.json"
    if os.environ.get("KHABAR_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        lines = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in got["rows"])
        header = json.dumps(got["columns"], ensure_ascii=False)
        golden.write_text(f'{{"columns": {header},\n "rows": [\n  {lines}\n ]}}\n', encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))
    assert got["rows"], "a report with no rows on the sample corpus tests nothing"


def _golden_value(column, value):
    if column in VARIES:
        return "<varies>"
    return value if isinstance(value, int | float | str) else str(value)


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
    assert riyadh == [(date(2026, 11, 1), "LOC", "الرياض", 1, 1, "الرياض")]  # one dated mention of three


def test_entities_are_shown_as_most_often_written_without_proclitics(tmp_path, prefect_api_url):
    from conftest import make_raw
    from pipeline import run_pipeline

    stories = {
        "2026-11-01/src/a.txt": "زار الوفد والسعودية ثم السعودية مرة أخرى، والسعودية بلد كبير.",
        "2026-11-01/src/b.txt": "وصل الوزير وبالرياض عقد اجتماعا.",
    }
    run_pipeline(make_raw(tmp_path / "raw", stories), tmp_path / "out")
    with connect(tmp_path / "out") as tables:
        columns, rows = run_query(tables, report_sql("top-entities"))
        _, pairs = run_query(tables, report_sql("cooccurrence"))
    shown = {r[columns.index("canonical_key")]: r[columns.index("name")] for r in rows}
    # والسعودية twice and السعودية once: the name is السعودية as written (ة, not the key's ه)
    assert shown["السعوديه"] == "السعودية"
    assert shown["الرياض"] == "الرياض"  # written only as وبالرياض
    assert all(not name.startswith(("و", "ب")) for r in pairs for name in (r[1], r[3]))


def test_top_sets_the_length_of_the_top_lists(sample_output):
    from reports.query import ReadOnlyTables
    from reports.scope import Scope

    with ReadOnlyTables(sample_output, scope=Scope(top=3)) as tables:
        _, top = run_query(tables, report_sql("top-entities"))
        _, timeline = run_query(tables, report_sql("entity-timeline"))
        _, pairs = run_query(tables, report_sql("cooccurrence"))
    assert max(r[1] for r in top) == 3 and len(top) <= 3 * 4
    assert len({(r[1], r[5]) for r in timeline}) == 3
    assert len(pairs) == 15


def test_a_scope_narrows_what_every_report_reads(sample_output):
    from reports.query import ReadOnlyTables
    from reports.scope import Scope

    scope = Scope(since=date(2026, 11, 2), until=date(2026, 11, 2), sources=("wahat-news",), types=("LOC", "ORG"))
    with ReadOnlyTables(sample_output, scope=scope) as tables:
        _, stats = run_query(tables, report_sql("corpus-stats"))
        _, top = run_query(tables, report_sql("top-entities"))
        _, [(n_docs, n_sources, *_)] = run_query(tables, report_sql("overview"))
    assert [(r[0], r[1]) for r in stats] == [("wahat-news", date(2026, 11, 2))]
    assert n_docs == stats[0][2] and n_sources == 1
    assert {r[0] for r in top} <= {"LOC", "ORG"} and top


def test_problem_files_are_the_quarantined_and_failed_files_of_the_last_run(con):
    _, rows = run_query(con, report_sql("problem-files"))
    _, expected = run_query(
        con,
        "SELECT path, status, reason FROM files WHERE status IN ('quarantined', 'failed')"
        " ORDER BY status, reason, path",
    )
    assert [r[:3] for r in rows] == expected
    assert ("2026-11-03/wahat-news/empty-draft.txt", "quarantined", "empty_text") in expected


def test_source_coverage_counts_every_document_once(con):
    columns, rows = run_query(con, report_sql("source-coverage"))
    _, [(n_docs,)] = run_query(con, "SELECT count(*) FROM documents")
    assert sum(r[columns.index("n_documents")] for r in rows) == n_docs
    assert all(r[0] is not None for r in rows)


def test_files_view_is_the_latest_snapshot(con):
    _, [(n,)] = run_query(con, "SELECT count(*) FROM files")
    assert n == 14


def test_views_exist_for_an_empty_output_folder(tmp_path):
    with connect(tmp_path) as empty:
        for table in ("documents", "sentences", "tokens", "entities", "files", "quarantine", "runs"):
            assert run_query(empty, f"SELECT count(*) FROM {table}")[1] == [(0,)]


def test_the_run_artifacts_top_entities_agree_with_sql(con, sample_output):
    """At every cut, ties on mentions included (the sample's entities are mentioned once to a few times)."""
    from reports.query import top_entities
    from tasks.tables import load_for_reading

    parts = load_for_reading(sample_output).paths("entities")
    for limit in (*range(1, 13), 40, 100):
        _, rows = run_query(
            con,
            "SELECT type, name, canonical_key, count(*) AS mentions, count(DISTINCT doc_id) AS documents "
            "FROM entities JOIN entity_names USING (type, canonical_key) "
            f"GROUP BY ALL ORDER BY mentions DESC, documents DESC, type, canonical_key LIMIT {limit}",
        )
        assert [tuple(r.values()) for r in top_entities(sample_output, parts, limit)] == rows, limit


def test_the_run_artifacts_top_entities_import_no_pandas(sample_output):
    """They are made after the last shard, while the user waits: pyarrow.dataset, and pyarrow's conversion
    of a Python list in the display-name function, imported pandas there (0.4 s of a run's end)."""
    import subprocess
    import sys

    from tasks.tables import load_for_reading

    parts = load_for_reading(sample_output).paths("entities")
    code = (
        "import sys\n"
        "from reports.query import top_entities\n"
        f"assert top_entities({str(sample_output)!r}, {parts!r}, 5)\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
