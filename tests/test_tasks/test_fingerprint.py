"""The pipeline fingerprint changes with everything that changes a document's rows, and with nothing else."""

from __future__ import annotations

import pytest

from tasks import documents
from tasks.entities import NerConfig, consistency, gazetteer
from tasks.fingerprint import fingerprint_detail, fingerprint_of


def current(ner: NerConfig | None = None) -> str:
    return fingerprint_of(fingerprint_detail(ner or NerConfig()))


def test_the_fingerprint_is_stable_for_the_same_settings():
    assert current() == current()


def test_a_change_of_the_gazetteer_rules_changes_the_fingerprint(monkeypatch):
    before = current()
    monkeypatch.setattr(gazetteer, "VERSION", f"{gazetteer.VERSION}-next")
    assert fingerprint_detail(NerConfig())["ner_version"] == f"{gazetteer.VERSION}+doc{consistency.VERSION}"
    assert current() != before


def test_a_change_of_document_consistency_changes_the_fingerprint(monkeypatch):
    before = current()
    monkeypatch.setattr(consistency, "VERSION", f"{consistency.VERSION}-next")
    assert current() != before


def test_a_change_of_the_processing_version_changes_the_fingerprint(monkeypatch):
    import tasks.fingerprint

    before = current()
    monkeypatch.setattr(tasks.fingerprint, "PROCESSING_VERSION", f"{documents.PROCESSING_VERSION}-next")
    assert current() != before


@pytest.mark.parametrize("field", ["khabar", "processing", "ner", "ner_version", "ner_model"])
def test_the_detail_names_each_part(field):
    assert fingerprint_detail(NerConfig())[field]
