"""khabar check finds damaged parts and broken references; reports never under-count a damaged table."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.storage import file_digest
from tasks.tables import load_for_reading

runner = CliRunner()


@pytest.fixture
def out(tmp_path, sample_output):
    shutil.copytree(sample_output, tmp_path / "out")
    return tmp_path / "out"


def first_part(out, table):
    return load_for_reading(out).files(table)[0]


def recommit(out, part):
    """Record a part's current size and hash in its table's Delta log, as if a faulty writer had committed them."""
    size, digest = file_digest(part)
    for log in (part.parent / "_delta_log").glob("*.json"):
        actions = [json.loads(line) for line in log.read_text().splitlines()]
        for action in actions:
            if action.get("add", {}).get("path") == part.name:
                action["add"]["size"] = size
            khabar = action.get("commitInfo", {}).get("khabar", {})
            if part.name in khabar.get("sha256", {}):
                khabar["sha256"][part.name] = digest
        log.write_text("".join(json.dumps(a) + "\n" for a in actions))


def test_a_part_replaced_behind_khabars_back_is_reported(out):
    """A forged runs part with the right schema passed check before; its hash gives it away."""
    part = first_part(out, "runs")
    forged = pq.read_table(part)
    pq.write_table(forged.set_column(forged.schema.get_field_index("status"), "status", [["forged"]]), part)
    result = runner.invoke(app, ["check", "--out", str(out)])
    assert result.exit_code == 1
    assert f"problem runs: {part}: changed since khabar committed it" in result.output


def test_a_sound_folder_checks_ok(out):
    result = runner.invoke(app, ["check", "--out", str(out)])
    assert result.exit_code == 0
    assert result.output.startswith("ok: documents 12, sentences 53, tokens 745")


def test_a_truncated_part_is_reported_with_its_path(out):
    part = first_part(out, "tokens")
    part.write_bytes(part.read_bytes()[:200])
    assert (
        f"problem tokens: {part}: changed since khabar committed it"
        in runner.invoke(app, ["check", "--out", str(out)]).output
    )
    recommit(out, part)
    result = runner.invoke(app, ["check", "--out", str(out)])
    assert result.exit_code == 1
    assert f"problem tokens: {part}: unreadable Parquet" in result.output


def test_reports_fail_on_a_damaged_part_instead_of_under_counting(out):
    part = first_part(out, "entities")
    part.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    for args in (["report", "top-entities"], ["sql", "SELECT count(*) FROM entities"]):
        result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert result.output == f"Error: committed part {part} was changed since khabar wrote it; run `khabar check`\n"
    recommit(out, part)  # the size no longer tells: reading it fails, with its path
    for args in (["report", "top-entities"], ["sql", "SELECT count(*) FROM entities"]):
        result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error: query failed:") and str(part) in result.output.replace("\n", "")


def test_a_part_with_another_schema_is_reported(out):
    part = first_part(out, "sentences")
    table = pq.read_table(part).drop_columns(["n_tokens"])
    pq.write_table(table, part)
    recommit(out, part)
    result = runner.invoke(app, ["check", "--out", str(out)])
    assert result.exit_code == 1
    assert f"problem sentences: {part}: schema differs from sentences's: missing n_tokens" in result.output


def test_rows_without_their_document_are_reported(out):
    import pyarrow as pa

    part = first_part(out, "tokens")
    table = pq.read_table(part)
    orphan = {**table.slice(0, 1).to_pylist()[0], "doc_id": "f" * 32}
    pq.write_table(pa.Table.from_pylist([*table.to_pylist(), orphan], schema=table.schema), part)
    recommit(out, part)
    result = runner.invoke(app, ["check", "--out", str(out)])
    assert result.exit_code == 1
    assert "problem tokens: tokens: 1 doc_ids without a document, e.g. ffffffff" in result.output


def test_counts_that_disagree_with_the_rows_are_reported(out):
    import pyarrow as pa

    part = first_part(out, "tokens")
    table = pq.read_table(part)
    rows = table.to_pylist()
    pq.write_table(pa.Table.from_pylist([*rows, rows[0]], schema=table.schema), part)
    recommit(out, part)
    result = runner.invoke(app, ["check", "--out", str(out)])
    assert result.exit_code == 1
    assert "problem tokens: tokens: 1 documents whose n_tokens differs from their rows" in result.output


def test_boilerplate_marks_that_disagree_with_their_sentence_are_reported(out):
    """boilerplate_chars beyond its sentence, or is_boilerplate not saying "all of it": two rows."""
    import pyarrow as pa

    part = first_part(out, "sentences")
    rows = pq.read_table(part).to_pylist()
    rows[0] |= {"boilerplate_chars": rows[0]["char_end"] - rows[0]["char_start"] + 1}
    rows[1] |= {"is_boilerplate": True, "boilerplate_chars": 0}
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(part)), part)
    recommit(out, part)
    result = runner.invoke(app, ["check", "--out", str(out)])
    assert result.exit_code == 1
    assert "problem sentences: sentences: 2 rows whose boilerplate marks disagree with their sentence" in result.output


def test_a_missing_commits_table_is_reported(out):
    shutil.rmtree(out / "_commits")
    result = runner.invoke(app, ["check", "--out", str(out)])
    assert result.exit_code == 1 and "holds tables but no _commits table" in result.output


def test_check_help_has_an_example():
    result = runner.invoke(app, ["check", "--help"])
    assert result.exit_code == 0 and "khabar check" in result.output


def test_check_exits_cleanly_every_time(out):
    """pyarrow's thread pool, left busy by a threaded read of an in-memory part, aborted the interpreter at
    exit (SIGABRT, 'terminate called without an active exception') in about one `khabar check` in ten."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    script = f"from tasks.check import check_tables; assert not check_tables({str(out)!r}).problems"

    def once(_: int) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        return done.returncode, done.stderr[-300:]

    with ThreadPoolExecutor(2) as pool:
        failed = [run for run in pool.map(once, range(30)) if run[0]]
    assert failed == []
