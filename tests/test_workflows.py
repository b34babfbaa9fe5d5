"""The GitHub workflows load, and every command they run exists (make targets, khabar commands)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from flows.cli import app

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
MAKE_TARGETS = set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), flags=re.M))


def khabar_commands() -> set[str]:
    import typer.main

    group = typer.main.get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def run_lines(workflow: dict) -> list[str]:
    lines = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            lines += [line.strip() for line in step.get("run", "").splitlines() if line.strip()]
    return lines


@pytest.mark.parametrize("name", ["ci.yml", "reprocess.yml"])
def test_workflow_commands_exist(name):
    workflow = load(name)
    lines = run_lines(workflow)
    assert lines
    for line in lines:
        words = shlex.split(line.split("|")[0]) if not line.startswith(("case", "esac", ")")) else []
        if words[:1] == ["make"]:
            assert words[1] in MAKE_TARGETS, line
        if words and words[0].endswith("khabar"):
            assert words[1] in khabar_commands(), line


def test_ci_runs_the_readme_test_command_on_push_and_pull_request():
    workflow = load("ci.yml")
    assert set(workflow[True]) == {"push", "pull_request"}  # YAML 1.1 reads the `on` key as True
    assert "make test" in run_lines(workflow)


def test_reprocess_is_dispatched_by_hand_with_mode_since_and_source():
    workflow = load("reprocess.yml")
    inputs = workflow[True]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"mode", "since", "source"}
    assert inputs["mode"]["options"] == ["stale", "all", "since", "source"]
    lines = run_lines(workflow)
    assert "make install" in lines
    assert any("khabar reprocess" in line for line in lines)
    uploads = [
        s for s in workflow["jobs"]["reprocess"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact")
    ]
    assert uploads and "reprocess-summary.txt" in uploads[0]["with"]["path"]
