"""The khabar CLI: exit codes, the exact user-facing messages, and a quiet real run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline import files_under, read_all
from typer.testing import CliRunner

from flows.cli import app
from tasks.inventory import SHARD_SIZE

KHABAR = str(Path(sys.executable).with_name("khabar"))
runner = CliRunner()


@pytest.fixture
def processed(sample_output) -> Path:
    return sample_output


def khabar(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KHABAR_"))}
    return subprocess.run(
        [KHABAR, *args], capture_output=True, text=True, env={**clean_env, **env}, timeout=300, check=False
    )


def all_commands() -> list[list[str]]:
    """Every command of the app, sub-commands included, as argument lists."""
    import typer.main

    def walk(group, prefix: list[str]) -> list[list[str]]:
        found = []
        for name, command in sorted(group.commands.items()):
            if hasattr(command, "commands"):  # a group of sub-commands
                found += walk(command, [*prefix, name])
            else:
                found.append([*prefix, name])
        return found

    return walk(typer.main.get_command(app), [])  # type: ignore[arg-type]


def test_the_command_list_is_complete():
    names = {" ".join(c) for c in all_commands()}
    assert names == {
        *("run", "sql", "report", "status", "runs", "config", "check", "export", "reprocess", "serve", "server"),
        *("compact", "vacuum", "prune"),
        *("ner train", "ner evaluate", "ner tag"),
    }


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and f"khabar {' '.join(command)}" in result.output


def test_run_on_a_fresh_prefect_home_is_quiet_and_a_second_run_processes_nothing(tmp_path):
    from fixtures.make_sample_corpus import write_corpus

    write_corpus(tmp_path / "raw")
    env = {"PREFECT_HOME": str(tmp_path / "prefect"), "KHABAR_RAW_DIR": str(tmp_path / "raw")}
    first = khabar("run", "--out", str(tmp_path / "out"), "--workers", "2", **env)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output
    for noise in ("Traceback", "ERROR", "CancelledError", "database is locked", "WARNING"):
        assert noise not in output, output
    assert "processing" in first.stderr and "1/1 shards" in first.stderr  # the progress bar
    assert "documents: 12 new, 1 skipped, 0 failed" in first.stdout
    assert "quarantined: 1 (empty_text 1)" in first.stdout

    started = time.monotonic()
    second = khabar("run", "--out", str(tmp_path / "out"), PYTHONPROFILEIMPORTTIME="1", **env)
    waited = time.monotonic() - started
    lines = second.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time")}
    assert "flows.lifecycle" in imported
    # Neither Prefect nor pandas (which pyarrow imports to convert a Python list: 0.6 s of a 3 s no-op run)
    assert not {"prefect", "pandas"} & imported
    assert second.returncode == 0
    assert "Traceback" not in second.stdout + second.stderr
    assert "documents: 0 new, 13 skipped, 0 failed" in second.stdout
    # Nothing to read: no Prefect server, no workers; the run is still recorded, without a flow run.
    assert waited < 10, f"a run with nothing new took {waited:.1f} s"
    runs = sorted(read_all(tmp_path / "out", "runs").to_pylist(), key=lambda r: r["run_id"])
    assert [bool(r["flow_run_id"]) for r in runs] == [True, False]
    leftover = subprocess.run(["pgrep", "-f", f"{tmp_path}/prefect"], capture_output=True, check=False)
    assert leftover.stdout == b""


def test_khabar_exits_without_collecting_what_it_imported():
    """At exit Python's collector walked every object Prefect and pydantic made (0.4 s of each command's end,
    after its last line): khabar freezes them once its exit handlers have run."""
    code = "import atexit, gc, flows.cli\natexit._run_exitfuncs()\nprint(gc.get_freeze_count() > 10_000)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_run_with_a_missing_raw_folder_says_so(tmp_path):
    result = runner.invoke(app, ["run", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"Error: the raw folder {tmp_path / 'nope'} does not exist or is not a folder" in result.output


def test_invalid_settings_from_the_environment_are_one_clear_line(tmp_path):
    result = runner.invoke(app, ["run", "--raw", str(tmp_path)], env={"KHABAR_SHARD_SIZE": "zero"})
    assert result.exit_code == 2
    assert "Error: invalid settings: shard_size:" in result.output
    assert "Traceback" not in result.output


def test_sql_prints_a_table(processed):
    result = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM documents", "--out", str(processed)])
    assert result.exit_code == 0, result.output
    assert "12" in result.output and "(1 row)" in result.output


def test_sql_json_and_csv(processed):
    query = "SELECT encoding, count(*) AS n FROM documents GROUP BY encoding ORDER BY encoding"
    as_json = runner.invoke(app, ["sql", query, "--out", str(processed), "--format", "json"])
    assert json.loads(as_json.output) == [
        {"encoding": "cp1256", "n": 1},
        {"encoding": "utf-16-le", "n": 1},
        {"encoding": "utf-8", "n": 10},
    ]
    as_csv = runner.invoke(app, ["sql", query, "--out", str(processed), "--format", "csv"])
    assert as_csv.output.splitlines() == ["encoding,n", "cp1256,1", "utf-16-le,1", "utf-8,10"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            f"COPY documents TO '{Path('/tmp/khabar-copy.csv')}'",
            "Error: query failed: only read-only queries are allowed here, not COPY",
        ),
        ("DROP VIEW documents", "Error: query failed: only read-only queries are allowed here, not DROP"),
        ("SELECT 1; SELECT 2", "Error: query failed: expected one SQL statement, got 2"),
        ("SELECT * FROM read_csv('/etc/passwd')", "Error: query failed: Permission Error"),
        ("SELECT nope FROM documents", "Error: query failed: Binder Error"),
    ],
)
def test_sql_refuses_writes_and_reports_errors_in_one_line(processed, query, message):
    result = runner.invoke(app, ["sql", query, "--out", str(processed)])
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert "Traceback" not in result.output


def test_sql_without_output_folder_says_run_first(tmp_path):
    result = runner.invoke(app, ["sql", "SELECT 1", "--out", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert f"Error: no output folder at {tmp_path / 'missing'}; run `khabar run` first" in result.output


def test_report_list_names_every_report_in_the_format_asked():
    names = [
        "cooccurrence",
        "corpus-stats",
        "entity-timeline",
        "overview",
        "problem-files",
        "source-coverage",
        "top-entities",
    ]
    as_json = runner.invoke(app, ["report", "--list", "--format", "json"])
    assert as_json.exit_code == 0
    assert [r["report"] for r in json.loads(as_json.output)] == names
    plain = runner.invoke(app, ["report", "--list"]).output.splitlines()
    assert plain[0].split() == ["report", "description"] and plain[-1] == "(7 rows)"
    assert [line.split()[0] for line in plain[1:-1]] == names


def test_unknown_report_lists_the_choices(processed):
    result = runner.invoke(app, ["report", "nope", "--out", str(processed)])
    assert result.exit_code == 2
    assert result.output.startswith(
        "Error: unknown report 'nope'; choose one of: cooccurrence, corpus-stats, entity-timeline, overview, "
        "problem-files, source-coverage, top-entities\n"
    )


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        (["--html", "x.html", "top-entities"], "Error: --html writes every report into one page; give no report name"),
        (["top-entities", "--type", "PLACE"], "Error: unknown entity type PLACE; choose PERS, LOC, ORG or MISC"),
        (
            ["top-entities", "--since", "2026-11-03", "--until", "2026-11-01"],
            "Error: --since 2026-11-03 is after --until 2026-11-01",
        ),
    ],
)
def test_report_options_that_cannot_work_are_one_sentence(processed, options, sentence):
    result = runner.invoke(app, ["report", *options, "--out", str(processed)])
    assert result.exit_code == 2
    assert result.output == sentence + "\n"


def test_html_report_into_a_missing_folder_is_one_sentence(processed, tmp_path):
    result = runner.invoke(app, ["report", "--html", str(tmp_path / "nope" / "r.html"), "--out", str(processed)])
    assert result.exit_code == 2
    assert (
        result.output
        == f"Error: cannot write the report to {tmp_path / 'nope' / 'r.html'}: No such file or directory\n"
    )


def test_report_filters_reach_the_terminal_reports(processed):
    result = runner.invoke(
        app, ["report", "top-entities", "--type", "loc", "--top", "2", "--format", "json", "--out", str(processed)]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["type"], r["rank_in_type"]) for r in rows] == [("LOC", 1), ("LOC", 2)]


def test_report_top_entities_as_json(processed):
    result = runner.invoke(app, ["report", "top-entities", "--out", str(processed), "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert {r["type"] for r in rows} >= {"PERS", "LOC", "ORG"}
    riyadh = next(r for r in rows if r["canonical_key"] == "الرياض")
    assert riyadh["type"] == "LOC" and riyadh["n_mentions"] >= 3 and riyadh["n_documents"] == 2


@pytest.fixture(scope="module")
def crf_model(tmp_path_factory) -> tuple[Path, Path]:
    from fixtures.conll_sample import write_conll

    folder = tmp_path_factory.mktemp("ner-cli")
    conll = write_conll(folder / "train.conll")
    result = runner.invoke(
        app, ["ner", "train", "--conll", str(conll), "--model", str(folder / "m.crf"), "--max-iterations", "40"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("trained crf on 120 sentences")
    return conll, folder / "m.crf"


def test_ner_evaluate_json_has_the_documented_keys(crf_model):
    conll, model = crf_model
    args = ["ner", "evaluate", "--gold", str(conll), "--ner", "crf", "--ner-model", str(model)]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert set(scores) == {"backend", "micro", "per_type", "n_sentences", "n_tokens", "seconds"}
    assert set(scores["per_type"]) == {"PERS", "LOC", "ORG"}
    assert scores["micro"]["f1"] > 0.9


def test_ner_evaluate_table_for_the_gazetteer(crf_model):
    conll, _ = crf_model
    result = runner.invoke(app, ["ner", "evaluate", "--gold", str(conll)])
    assert result.exit_code == 0 and "micro" in result.output and "words/s" in result.output


def test_ner_train_bilstm_writes_a_model_that_auto_chooses(crf_model, tmp_path):
    conll, _ = crf_model
    model = tmp_path / "m.bilstm"
    args = ["ner", "train", "--conll", str(conll), "--model", str(model), "--backend", "bilstm"]
    result = runner.invoke(app, [*args, "--epochs", "1", "--max-iterations", "20"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("trained bilstm on 120 sentences")
    args = ["ner", "evaluate", "--gold", str(conll), "--ner", "auto", "--ner-model", str(model), "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert scores["backend"].startswith("bilstm ") and scores["micro"]["f1"] > 0.9


def test_ner_tag_prints_entities_with_offsets():
    result = runner.invoke(app, ["ner", "tag", "زار وزير الخارجية سيرغي لافروف موسكو", "--format", "csv"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "type,surface,canonical_key,char_start,char_end",
        "PERS,سيرغي لافروف,سيرغي لافروف,18,30",
        "LOC,موسكو,موسكو,31,36",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ner", "evaluate", "--gold", "/nonexistent.conll"], "Error: no CoNLL file at /nonexistent.conll"),
        (["ner", "tag", "نص", "--ner", "crf"], "Error: the crf backend needs a model file"),
        (["ner", "tag", "نص", "--ner", "bert"], "Error: unknown NER backend 'bert'"),
        (["ner", "tag", "نص", "--ner", "bilstm"], "Error: the bilstm backend needs a model file"),
    ],
)
def test_ner_errors_are_one_sentence(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.output.startswith(message), result.output


def test_ner_tag_and_evaluate_take_the_backend_and_model_from_the_environment_as_run_does(crf_model, monkeypatch):
    conll, model = crf_model
    monkeypatch.setenv("KHABAR_NER", "crf")
    result = runner.invoke(app, ["ner", "tag", "قال رامي حداد في بغداد", "--format", "json"])
    assert result.exit_code == 2 and result.output.startswith("Error: the crf backend needs a model file")
    monkeypatch.setenv("KHABAR_NER_MODEL", str(model))
    tagged = runner.invoke(app, ["ner", "tag", "قال رامي حداد في بغداد", "--format", "json"])
    assert tagged.exit_code == 0, tagged.output
    assert [e["surface"] for e in json.loads(tagged.output)] == ["رامي حداد", "بغداد"]
    scores = runner.invoke(app, ["ner", "evaluate", "--gold", str(conll), "--format", "json"])
    assert json.loads(scores.output)["backend"].startswith("crf ")


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_help_shows_no_value_for_a_yes_no_option(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    typers_own = ("--help", "--install-completion", "--show-completion")  # options Typer adds, not khabar
    shown = [line for line in result.output.splitlines() if "<bool>" in line and not any(o in line for o in typers_own)]
    assert shown == []


def test_run_with_camel_but_no_model_fails_before_any_work(tmp_path):
    (tmp_path / "raw").mkdir()
    result = runner.invoke(
        app,
        ["run", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--ner", "camel"],
        env={"CAMELTOOLS_DATA": str(tmp_path / "camel")},
    )
    assert result.exit_code == 2
    assert result.output.startswith("Error: the camel-tools NER model is not installed at")
    assert not (tmp_path / "out").exists()


def test_run_with_a_crf_model_of_other_features_fails_before_any_work(tmp_path, crf_model, monkeypatch):
    from tasks.entities import gazetteer

    _, model = crf_model
    monkeypatch.setattr(gazetteer, "VERSION", f"{gazetteer.VERSION}-next")  # as after an upgrade of the rules
    (tmp_path / "raw").mkdir()
    args = ["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--ner", "crf", "--ner-model", str(model)]
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {model} was trained with features v") and "retrain it" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("backend", ["crf", "bilstm"])
def test_run_with_a_trained_backend_records_it_on_every_entity(
    tmp_path, crf_model, bilstm_model, prefect_api_url, backend
):
    from fixtures.make_sample_corpus import write_corpus
    from pipeline import read_all, run_pipeline

    model = {"crf": crf_model[1], "bilstm": bilstm_model}[backend]
    write_corpus(tmp_path / "raw")
    summary = run_pipeline(tmp_path / "raw", tmp_path / "out", ner=backend, ner_model=model)
    assert summary.docs_new == 12
    entities = read_all(tmp_path / "out", "entities")
    assert set(entities.column("extractor").to_pylist()) == {backend}
    assert entities.num_rows > 0
    import hashlib

    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert set(entities.column("extractor_model_hash").to_pylist()) == {digest}
    (version,) = set(entities.column("extractor_version").to_pylist())
    assert digest[:12] in version.split("+")


def test_status_counts_current_and_stale_documents(sample_output, tmp_path):
    result = runner.invoke(app, ["status", "--out", str(sample_output)])
    assert result.exit_code == 0
    assert "documents: 12 (12 current, 0 stale)" in result.output
    watch = tmp_path / "w.tsv"
    watch.write_text("LOC\tواحة الخيال\n", encoding="utf-8")
    changed = runner.invoke(app, ["status", "--out", str(sample_output)], env={"KHABAR_GAZETTEERS": f'["{watch}"]'})
    assert "documents: 12 (0 current, 12 stale)" in changed.output


def test_reprocess_dry_run_changes_nothing(sample_output, tmp_path):
    from fixtures.make_sample_corpus import write_corpus

    write_corpus(tmp_path / "raw")
    before = files_under(sample_output)
    result = runner.invoke(
        app, ["reprocess", "--all", "--dry-run", "--raw", str(tmp_path / "raw"), "--out", str(sample_output)]
    )
    assert result.exit_code == 0
    assert result.output.startswith("would reprocess 12 documents; 0 more cannot be")
    assert files_under(sample_output) == before


@pytest.mark.usefixtures("prefect_api_url")
def test_reprocess_says_how_long_the_user_waited_with_start_up_apart(sample_output, tmp_path, monkeypatch):
    """As a run's summary does: the wait from the command's start to its end, then start-up and the run."""
    from fixtures.make_sample_corpus import write_corpus

    write_corpus(tmp_path / "raw")
    shutil.copytree(sample_output, tmp_path / "out")
    started = time.time()
    monkeypatch.setattr("flows.cli.run._process_started_at", lambda: started)
    result = runner.invoke(app, ["reprocess", "--all", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out")])
    elapsed = time.time() - started
    assert result.exit_code == 0, result.output
    found = re.search(
        r": completed in (\d+\.\d) s \(start-up (\d+\.\d) s, run (\d+\.\d) s\); 12 documents", result.output
    )
    assert found, result.output
    waited, startup, run = map(float, found.groups())
    assert run <= waited <= elapsed + 0.1 and startup <= waited and waited >= elapsed - 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reprocess"], "Error: choose what to reprocess: --stale, --all, --since DATE, --source NAME or --doc-id ID"),
        (["reprocess", "--doc-id", "nope", "--dry-run"], "Error: no document with doc_id nope"),
    ],
)
def test_reprocess_errors(sample_output, args, message):
    result = runner.invoke(app, [*args, "--out", str(sample_output)])
    assert result.exit_code == 2 and result.output.startswith(message), result.output


def test_runs_lists_the_history_newest_first(sample_output):
    result = runner.invoke(app, ["runs", "--out", str(sample_output), "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert rows[0]["kind"] == "manual" and rows[0]["trigger"] == "cli" and rows[0]["docs_new"] == 12
    assert rows[0]["flow_run_id"]


@pytest.mark.parametrize(("env", "trigger"), [({}, "cli"), ({"CI": "true"}, "ci"), ({"GITHUB_ACTIONS": "true"}, "ci")])
def test_a_run_outside_prefect_is_triggered_by_ci_or_the_cli(monkeypatch, env, trigger):
    from flows.summary import trigger_of_this_run

    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert trigger_of_this_run() == trigger


def test_serve_print_shows_the_deployment_schedule_and_next_runs(tmp_path):
    result = runner.invoke(
        app,
        ["serve", "--cron", "0 2 * * *", "--timezone", "Asia/Riyadh", "--print", "--out", str(tmp_path / "o")],
        env={"PREFECT_API_URL": ""},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "deployment: khabar-nightly/nightly" in lines
    assert "schedule:   cron '0 2 * * *' in Asia/Riyadh" in lines
    upcoming = lines[lines.index("next runs:") + 1 :]
    assert len(upcoming) == 5 and all("T02:00:00+03:00" in line for line in upcoming)


def test_serve_needs_a_real_server(tmp_path, monkeypatch):
    import flows.prefect_api

    monkeypatch.setattr(flows.prefect_api, "configured_api_url", lambda: None)
    result = runner.invoke(app, ["serve", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: schedules need a real Prefect server: start one with `khabar server`")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--cron", "every night", 'Error: invalid schedule: Invalid cron string: "every night"\n'),
        ("--timezone", "Mars/Base", 'Error: invalid schedule: Invalid timezone: "Mars/Base"'),
    ],
)
def test_serve_rejects_a_bad_schedule_in_one_sentence_of_its_own(option, value, message):
    """Not pydantic's wording ("Value error, Invalid cron string ...")."""
    result = runner.invoke(app, ["serve", option, value, "--print"])
    assert result.exit_code == 2 and result.output.startswith(message), result.output


def test_a_second_run_on_a_busy_folder_says_who_holds_it(tmp_path, prefect_api_url):
    import multiprocessing

    from fixtures.locks import hold_lock
    from fixtures.make_sample_corpus import write_corpus

    write_corpus(tmp_path / "raw")
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold_lock, args=(tmp_path / "out", ready, 60))
    holder.start()
    try:
        assert ready.wait(10)
        result = runner.invoke(app, ["run", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "-w", "1"])
    finally:
        holder.terminate()
        holder.join()
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'out'} is in use by another khabar nightly run (pid {holder.pid}" in result.output


def test_a_busy_folder_is_refused_without_waiting_for_the_prefect_server_and_leaves_none_behind(tmp_path):
    """The lock error used to come after the temporary server's start (about 19 s on a fresh home). The server
    now starts with the command (flows.entry), so the refusal stops it too."""
    import multiprocessing

    from fixtures.locks import hold_lock
    from fixtures.make_sample_corpus import write_corpus
    from fixtures.processes import processes_with

    write_corpus(tmp_path / "raw")
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KHABAR_"))}
    env["PREFECT_HOME"] = str(home)
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold_lock, args=(tmp_path / "out", ready, 60))
    holder.start()
    try:
        assert ready.wait(10)
        khabar = str(Path(sys.executable).with_name("khabar"))
        args = [khabar, "run", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out")]
        started = time.monotonic()
        result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        waited = time.monotonic() - started
    finally:
        holder.terminate()
        holder.join()
    assert result.returncode == 1, result.stderr
    assert "is in use by another khabar nightly run" in result.stderr
    assert waited < 5
    assert not processes_with(str(home)), "the temporary server outlived the refused run"


def broken_copy(sample_output, tmp_path, table, body) -> Path:
    """A copy of the output folder whose table's last Delta commit is replaced by `body`."""
    out = tmp_path / "out"
    shutil.copytree(sample_output, out)
    sorted((out / table / "_delta_log").glob("*.json"))[-1].write_text(body)
    return out


BROKEN_COMMITS = {"not-json": "{", "a-list": "[]", "half-a-line": '{"add": {"path": "x.parquet", "si'}


@pytest.mark.parametrize("body", BROKEN_COMMITS.values(), ids=BROKEN_COMMITS.keys())
@pytest.mark.parametrize("table", ["_commits", "documents"])
@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["check"], ["status"], ["runs"], ["report", "corpus-stats"]])
def test_a_broken_delta_log_is_one_sentence_for_every_command(sample_output, tmp_path, table, body, command):
    out = broken_copy(sample_output, tmp_path, table, body)
    result = runner.invoke(app, [*command, "--out", str(out)])
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, TypeError))
    first = result.output.splitlines()[0]
    assert first.startswith(("Error: ", "problem ")) and f"{out / table}" in first, result.output


def test_a_broken_delta_log_stops_a_run_with_one_sentence(sample_output, tmp_path, raw_corpus):
    out = broken_copy(sample_output, tmp_path, "_commits", "{")
    result = runner.invoke(app, ["run", "--raw", str(raw_corpus), "--out", str(out), "-w", "1"])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: the Delta log of {out / '_commits'} is unreadable")


def test_a_committed_part_that_a_missing_part_is_one_sentence(sample_output, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(sample_output, out)
    part = next((out / "documents").glob("*.parquet"))
    part.unlink()
    for command in (["status"], ["sql", "SELECT count(*) FROM documents"]):
        result = runner.invoke(app, [*command, "--out", str(out)])
        assert result.exit_code == 2
        assert result.output == f"Error: committed part {part} is missing; run `khabar check`\n"


def test_a_gazetteer_setting_that_is_not_json_is_one_sentence(tmp_path, raw_corpus):
    result = runner.invoke(
        app, ["run", "--raw", str(raw_corpus), "--out", str(tmp_path / "o")], env={"KHABAR_GAZETTEERS": "notjson"}
    )
    assert result.exit_code == 2
    assert result.output.startswith("Error: invalid settings: KHABAR_GAZETTEERS is not valid JSON")
    assert result.output.count("\n") == 1


def test_status_of_a_missing_output_folder_says_run_first(tmp_path):
    result = runner.invoke(app, ["status", "--out", str(tmp_path / "nosuchdir")])
    assert result.exit_code == 2
    assert result.output == f"Error: no output folder at {tmp_path / 'nosuchdir'}; run `khabar run` first\n"


def test_a_bad_worker_count_does_not_stop_a_query(processed):
    result = runner.invoke(
        app, ["sql", "SELECT count(*) AS n FROM documents", "--out", str(processed)], env={"KHABAR_WORKERS": "abc"}
    )
    assert result.exit_code == 0, result.output
    run = runner.invoke(app, ["run", "--out", str(processed)], env={"KHABAR_WORKERS": "abc"})
    assert run.exit_code == 2 and run.output.startswith("Error: invalid settings: workers:")


def test_version_names_the_installed_khabar():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"khabar {version('khabar')}\n"


def test_run_reads_source_and_date_by_the_layout_and_warns_when_the_default_fits_no_file(tmp_path, prefect_api_url):
    from conftest import make_raw

    raw = make_raw(
        tmp_path / "raw",
        {
            "2015-07-22/sabq-00012.txt": "أمطار على الرياض\nهطلت أمطار غزيرة على مدينة الرياض.\n",
            "2015-07-23/okaz-00013.txt": "افتتاح معرض في جدة\nافتتح في جدة معرض للكتاب.\n",
        },
    )
    plain = runner.invoke(app, ["run", "--raw", str(raw), "--out", str(tmp_path / "plain"), "-w", "1"])
    assert plain.exit_code == 0, plain.output
    assert "Warning: 2 of 2 files get no source from the default layout" in plain.output
    layout = ["--layout", "{date}/{source}-{n}.txt"]
    laid = runner.invoke(app, ["run", "--raw", str(raw), "--out", str(tmp_path / "laid"), "-w", "1", *layout])
    assert laid.exit_code == 0 and "Warning" not in laid.output, laid.output
    documents = read_all(tmp_path / "laid", "documents")
    dates = map(str, documents.column("published_date").to_pylist())
    found = sorted(zip(documents.column("source").to_pylist(), dates, strict=True))
    assert found == [("okaz", "2015-07-23"), ("sabq", "2015-07-22")]
    # The layout shapes the rows, so it is part of the fingerprint: without it these documents are stale.
    status = runner.invoke(app, ["status", "--out", str(tmp_path / "laid"), "--format", "json"])
    assert [row["state"] for row in json.loads(status.output)] == ["stale"]
    same = runner.invoke(app, ["status", "--out", str(tmp_path / "laid"), "--format", "json", *layout])
    assert [row["state"] for row in json.loads(same.output)] == ["current"]
    shown = runner.invoke(app, ["status", "--out", str(tmp_path / "laid"), *layout]).output
    assert "layout {date}/{source}-{n}.txt)" in shown  # whole: only hashes are shortened


def test_a_bad_layout_is_one_sentence_before_any_work(tmp_path):
    (tmp_path / "raw").mkdir()
    result = runner.invoke(
        app, ["run", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "o"), "--layout", "{n}"]
    )
    assert result.exit_code == 2
    assert result.output == "Error: invalid settings: layout: the layout '{n}' names neither {source} nor {date}\n"
    assert not (tmp_path / "o").exists()


def test_run_dry_run_and_status_say_what_changed_in_the_raw_folder_and_touch_nothing(sample_output, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(sample_output.parent / "raw", raw)  # copies keep their mtimes: unchanged to khabar
    shutil.copytree(sample_output, out)
    files = sorted(p for p in raw.rglob("*.txt"))
    files[0].unlink()
    files[1].write_text("خبر معدل\nنص جديد.\n", encoding="utf-8")
    (raw / "2026-11-09" / "new-source").mkdir(parents=True)
    (raw / "2026-11-09" / "new-source" / "fresh.txt").write_text("خبر جديد\nنص.\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    result = runner.invoke(app, ["run", "--dry-run", "--raw", str(raw), "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    counts = {row["files"]: row["count"] for row in json.loads(result.output)}
    assert counts == {
        "new": 1,
        "changed": 1,
        "failed last time": 0,
        "too large": 0,
        "unchanged": len(files) - 2,
        "gone since the last run": 1,
    }
    status = runner.invoke(app, ["status", "--raw", str(raw), "--out", str(out)])
    assert status.output.startswith(
        f"raw folder {raw} since the last run: 1 new, 1 changed, 0 failed last time, 1 gone, {len(files) - 2} unchanged"
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing written


def test_project_file_settings_yield_to_the_environment_and_to_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KHABAR_WORKERS", raising=False)
    monkeypatch.delenv("KHABAR_OUT_DIR", raising=False)
    (tmp_path / "khabar.toml").write_text('out_dir = "from-file"\nworkers = 3\nner = "crf"\n', encoding="utf-8")
    monkeypatch.setenv("KHABAR_WORKERS", "1")
    rows = json.loads(runner.invoke(app, ["config", "--format", "json"]).output)
    seen = {r["setting"]: (r["value"], r["from"]) for r in rows}
    assert seen["out_dir"] == ("from-file", str(tmp_path / "khabar.toml"))
    assert seen["workers"] == ("1", "KHABAR_WORKERS")
    assert seen["shard_size"] == (str(SHARD_SIZE), "default")
    # An option wins over the file: the crf backend named there needs a model, the option's gazetteer none.
    tagged = runner.invoke(app, ["ner", "tag", "زار الوفد الرياض", "--format", "csv"])
    assert tagged.exit_code == 2 and tagged.output.startswith("Error: the crf backend needs a model file")
    assert runner.invoke(app, ["ner", "tag", "زار الوفد الرياض", "--ner", "gazetteer"]).exit_code == 0
    sql = runner.invoke(app, ["sql", "SELECT 1"])  # out_dir from the file
    assert sql.output.startswith("Error: no output folder at from-file; run `khabar run` first")


def test_pyproject_tool_khabar_is_read_and_a_bad_project_file_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KHABAR_SHARD_SIZE", raising=False)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.khabar]\nshard_size = 50\n')
    rows = json.loads(runner.invoke(app, ["config", "--format", "json"]).output)
    assert {r["setting"]: r["value"] for r in rows}["shard_size"] == "50"
    (tmp_path / "khabar.toml").write_text("workrs = 3\n")  # khabar.toml comes first
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert (
        result.output
        == f"Error: invalid settings: {tmp_path / 'khabar.toml'} names settings khabar does not have: workrs\n"
    )
    (tmp_path / "khabar.toml").write_text("workers = \n")
    broken = runner.invoke(app, ["run"])
    assert broken.exit_code == 2 and broken.output.startswith(
        f"Error: invalid settings: {tmp_path / 'khabar.toml'} is not readable TOML"
    )


def test_quiet_prints_nothing_but_errors_and_verbose_streams_prefect_logs(tmp_path, prefect_api_url):
    from fixtures.make_sample_corpus import write_corpus

    write_corpus(tmp_path / "raw")
    folders = ["--raw", str(tmp_path / "raw"), "-w", "1"]
    quiet = runner.invoke(app, ["-q", "run", *folders, "--out", str(tmp_path / "q")])
    assert quiet.exit_code == 0 and quiet.output == "", quiet.output
    assert read_all(tmp_path / "q", "documents").num_rows == 12
    assert runner.invoke(app, ["-q", "run", "--raw", str(tmp_path / "nope")]).output.startswith("Error: the raw folder")
    # Prefect reads its logging settings when imported, which this process did long ago: a fresh khabar.
    loud = khabar("-v", "run", *folders, "--out", str(tmp_path / "v"), PREFECT_API_URL=prefect_api_url)
    assert loud.returncode == 0, loud.stderr
    assert "Finished in state Completed()" in loud.stdout + loud.stderr  # Prefect's own log line
    both = runner.invoke(app, ["-q", "-v", "status"])
    assert both.exit_code == 2 and both.output.startswith("Error: choose --verbose or --quiet, not both")


def test_shell_completion_script_names_khabar():
    """The script bash sources. Asked through the environment, as the installed script does: `--show-completion`
    detects the shell from the parent processes, which a test run in the background does not have."""
    env = {**os.environ, "_KHABAR_COMPLETE": "source_bash"}
    result = subprocess.run([KHABAR], env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0 and "_KHABAR_COMPLETE=complete_bash" in result.stdout


def test_the_command_line_starts_without_importing_the_heavy_libraries():
    """Every command starts with this import: a no-op run must not pay for DuckDB, pandas or Prefect."""
    heavy = ("duckdb", "pandas", "pyarrow", "prefect", "torch", "camel_tools")
    probe = f"import sys, flows.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_no_color_keeps_errors_plain_on_a_colour_terminal(tmp_path):
    args = ["sql", "SELECT 1", "--out", str(tmp_path / "missing")]
    coloured = khabar(*args, FORCE_COLOR="1", TERM="xterm-256color")
    plain = khabar(*args, FORCE_COLOR="1", TERM="xterm-256color", NO_COLOR="1")
    red = re.compile("\x1b\\[[0-9;]*31m")
    assert red.search(coloured.stderr)  # the red label, when colour is on
    assert not red.search(plain.stderr) and "no output folder at" in plain.stderr


@pytest.mark.parametrize("command", [["compact"], ["vacuum", "--dry-run"], ["prune", "--missing"]])
def test_maintenance_on_a_busy_folder_says_who_holds_it_and_exits_1(tmp_path, sample_output, command):
    """A folder in use is a job that could not run (exit 1), as for `khabar run`, not a bad option (2)."""
    import multiprocessing
    import shutil

    from fixtures.locks import hold_lock

    out = tmp_path / "out"
    shutil.copytree(sample_output, out)
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold_lock, args=(out, ready, 60))
    holder.start()
    try:
        assert ready.wait(10)
        result = runner.invoke(app, [*command, "--out", str(out)])
    finally:
        holder.terminate()
        holder.join()
    assert f"Error: {out} is in use by another khabar nightly run (pid {holder.pid}" in result.output
    assert result.exit_code == 1
