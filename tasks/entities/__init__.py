"""Named-entity extraction behind one interface; backends are chosen by name and loaded once per process."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tasks.segment import Token


@dataclass(frozen=True, slots=True)
class Mention:
    """An entity over tokens [token_start, token_end) of one sentence."""

    type: str
    token_start: int
    token_end: int
    canonical_key: str


class EntityExtractor(Protocol):
    name: str
    version: str

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        """Mentions in a document's tokens, in order, non-overlapping, never crossing a sentence."""
        ...


BACKENDS = ("gazetteer",)


class UnknownBackendError(ValueError):
    pass


@functools.cache
def load_extractor(backend: str, gazetteer_files: tuple[str, ...] = ()) -> EntityExtractor:
    """The extractor for a backend name, built once per process (workers reuse it across shards)."""
    if backend == "gazetteer":
        from tasks.entities.gazetteer import GazetteerExtractor

        return GazetteerExtractor.from_resources(extra_files=gazetteer_files)
    raise UnknownBackendError(f"unknown NER backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
