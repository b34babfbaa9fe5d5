"""The pipeline fingerprint: what produced a row (khabar version, processing version, entity backend, its code
version and its model)."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version

from tasks.documents import PROCESSING_VERSION
from tasks.entities import NerConfig


def khabar_version() -> str:
    try:
        return version("khabar")
    except PackageNotFoundError:
        return "0+unknown"


def fingerprint_detail(ner: NerConfig, layout: str | None = None) -> dict[str, str]:
    """Everything that changes a document's rows; a resolved NerConfig (not auto) is expected.

    The input layout is part of it only when one is set, so the default keeps the fingerprints it had.
    """
    from tasks.entities import code_version, model_hash

    detail = {
        "khabar": khabar_version(),
        "processing": PROCESSING_VERSION,
        "ner": ner.backend + ("-int8" if ner.quantize else ""),
        "ner_version": code_version(ner),
        "ner_model": model_hash(ner),
    }
    if layout is not None:
        detail["layout"] = layout
    return detail


def fingerprint_of(detail: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest()[:16]
