"""Shared fixtures: a private Prefect home and API server for the session, and corpus builders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

# Before anything imports Prefect: a throwaway Prefect home and quiet settings for the whole session.
_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="khabar-test-prefect-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_HOME)
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_PROFILE", None)
# A run records trigger "ci" when CI or GITHUB_ACTIONS is set; tests expect a plain CLI run
# wherever they run, and set these themselves where the CI trigger is the point.
for _name in ("CI", "GITHUB_ACTIONS"):
    os.environ.pop(_name, None)
# camel-tools reads its data folder when camel_tools.data is first imported, and downloads a
# catalogue if none is there: point it at a folder with a minimal catalogue, and stay offline.
CAMEL_DATA = Path(tempfile.mkdtemp(prefix="khabar-test-camel-"))
os.environ["CAMELTOOLS_DATA"] = str(CAMEL_DATA)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from flows.prefect_api import quiet_prefect_environment  # noqa: E402

quiet_prefect_environment()

import pytest  # noqa: E402
from fixtures.make_sample_corpus import write_corpus  # noqa: E402
from fixtures.tiny_camel_model import catalogue_json  # noqa: E402

(CAMEL_DATA / "catalogue.json").write_text(json.dumps(catalogue_json()), encoding="utf-8")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def prefect_api_url():
    """One temporary Prefect server for every in-process flow run of the session."""
    from flows.prefect_api import prefect_api

    with prefect_api() as api:
        api.wait_ready()
        yield api.url
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_camel_model() -> Path:
    """The tiny camel NER model, installed where camel-tools looks for it (CAMELTOOLS_DATA)."""
    from fixtures.tiny_camel_model import build_tiny_model

    folder = CAMEL_DATA / "data" / "ner" / "arabert"
    if not (folder / "config.json").exists():
        build_tiny_model(folder)
    return folder


@pytest.fixture(scope="session")
def sample_output(tmp_path_factory, prefect_api_url) -> Path:
    """The sample corpus processed once (one worker), for tests that only read the output."""
    from pipeline import run_pipeline

    root = tmp_path_factory.mktemp("sample-output")
    write_corpus(root / "raw")
    run_pipeline(root / "raw", root / "out")
    return root / "out"


@pytest.fixture
def raw_corpus(tmp_path: Path) -> Path:
    """The committed sample corpus, written afresh under tmp_path/raw."""
    root = tmp_path / "raw"
    write_corpus(root)
    return root


def make_raw(root: Path, files: dict[str, bytes | str]) -> Path:
    """Write a raw folder from {relative path: content}; str content is written as UTF-8."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return root


@pytest.fixture(scope="session")
def bilstm_model(tmp_path_factory) -> Path:
    """A bilstm model trained on the sample CoNLL sentences (a few epochs: seconds, not a useful model)."""
    from fixtures.conll_sample import UNLABELLED, write_conll

    from tasks.entities.bilstm import train
    from tasks.entities.bio import read_conll

    folder = tmp_path_factory.mktemp("bilstm")
    gold = read_conll(write_conll(folder / "train.conll"))
    train(gold, folder / "ner.bilstm", unlabelled=UNLABELLED, epochs=3, crf_iterations=60)
    return folder / "ner.bilstm"
