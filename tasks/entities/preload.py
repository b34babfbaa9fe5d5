"""Imported by khabar's fork server (flows.workers): builds the run's entity extractor there, once, before the
workers are forked, so that each finds it built (load_extractor is cached per process) where each built its own
(a CRF model: about 1 s a worker, before its first document).

The configuration comes in the environment (PRELOAD_ENV), as the fork server has no other way in. Whatever
fails here is left to the workers, which then build the extractor themselves and report the failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

from tasks.entities import NerConfig, load_extractor, resolve
from tasks.entities.backends import BACKENDS

PRELOAD_ENV = "KHABAR_FORK_SERVER_NER"


def as_environment(config: NerConfig) -> dict[str, str]:
    """What the fork server's environment needs for it to build this configuration's extractor (nothing
    for a backend that does not fork safely)."""
    backend = BACKENDS.get(config.backend)
    if backend is None or not backend.forks_safely:
        return {}
    return {PRELOAD_ENV: json.dumps(dataclasses.asdict(config))}


def preload_extractor() -> None:
    """Build the extractor that PRELOAD_ENV describes, resolved as a run resolves it (the workers' cache key)."""
    text = os.environ.get(PRELOAD_ENV)
    if not text:
        return
    with contextlib.suppress(Exception):  # an exception here would stop the fork server, and every worker with it
        fields = json.loads(text)
        config = NerConfig(**{**fields, "gazetteer_files": tuple(fields.get("gazetteer_files", ()))})
        if BACKENDS[config.backend].forks_safely:
            load_extractor(resolve(config))


preload_extractor()
