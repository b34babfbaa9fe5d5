"""The gazetteer's rulings over a learned backend: what khabar counts as an entity, whatever a model learned.

A model learns its training corpus's conventions. ANERcorp tags the name of God as MISC, also in
"رحمه الله" and "إن شاء الله", and a trained model reads a place named after a king as the king:
on a SaudiNewsNet day the bilstm found 1,390 MISC الله, and PERS سلمان in "مركز الملك سلمان". The
gazetteer's rules (tasks.entities.gazetteer) already decide these; here they overrule any backend:

- a place or institution named after a person (a head noun, then a title and a name: مستشفى الملك
  فهد، مركز الملك سلمان للإغاثة، مدينة الملك عبدالله الطبية) is one LOC or ORG mention, which replaces
  every mention of the backend that it overlaps;
- the name of God alone after the word of a religious formula (رحمه الله، بإذن الله) is no entity, and
  a mention that runs into a formula ends before it (محمد صلى الله: محمد; فيصل بن فهد رحمه الله: فيصل
  بن فهد; رحمه الله alone: nothing);
- a mention made of function words or honorific pronouns only (سموه، بأن) is no entity.

The gazetteer itself applies the same rules as it tags, so it is not wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasks.entities import EntityExtractor, ExtractorLayer, Mention
from tasks.entities.keys import canonical_key
from tasks.segment import Token

if TYPE_CHECKING:
    from tasks.entities.gazetteer import GazetteerExtractor

VERSION = "2"  # part of a ruled backend's code version: documents tagged before it become stale


@dataclass(frozen=True)
class Rulings:
    """What the gazetteer's rules decided in one document's tokens."""

    places: list[Mention]  # places and institutions named after a person, in order
    formulas: frozenset[int]  # token indexes of the name of God in a religious formula


class Ruled(ExtractorLayer):
    """A backend whose mentions the gazetteer's rulings overrule (see the module)."""

    def __init__(self, inner: EntityExtractor, gazetteer: GazetteerExtractor) -> None:
        self.inner = inner
        self.gazetteer = gazetteer
        self.name = inner.name
        self.version = f"{inner.version}+rulings{VERSION}"
        self.model_hash = inner.model_hash

    def over(self, tokens: Sequence[Token], mentions: list[Mention]) -> list[Mention]:
        return overruled(tokens, mentions, self.gazetteer)


def overruled(tokens: Sequence[Token], mentions: Sequence[Mention], gazetteer: GazetteerExtractor) -> list[Mention]:
    """The mentions with the gazetteer's rulings applied: in order, non-overlapping."""
    rulings = gazetteer.rulings(tokens)
    kept = []
    for mention in mentions:
        m = _before_formula(tokens, mention, rulings.formulas)
        if m is None or all(gazetteer.is_function_word(t.surface) for t in tokens[m.token_start : m.token_end]):
            continue
        kept.append(m)
    return replaced_by(kept, rulings.places)


def _before_formula(tokens: Sequence[Token], m: Mention, formulas: frozenset[int]) -> Mention | None:
    """The mention, ending before the first religious formula it runs into (its word, then the name of God
    at an index of formulas); None when nothing is left."""
    if formulas.isdisjoint(range(m.token_start, m.token_end + 1)):
        return m
    god = min(formulas.intersection(range(m.token_start, m.token_end + 1)))
    end = max(god - 1, m.token_start)  # the formula's word, before the name of God
    if end == m.token_start:
        return None
    cut = m.token_end - end
    words = m.canonical_key.split(" ")
    key = " ".join(words[:-cut]) if len(words) > cut else canonical_key([t.key for t in tokens[m.token_start : end]])
    return Mention(m.type, m.token_start, end, key)


def replaced_by(mentions: Sequence[Mention], winners: Sequence[Mention]) -> list[Mention]:
    """The winners, and the mentions none of them overlaps, in order (the rulings' places, a watch list)."""
    taken = {i for w in winners for i in range(w.token_start, w.token_end)}
    kept = [m for m in mentions if taken.isdisjoint(range(m.token_start, m.token_end))]
    return sorted([*kept, *winners], key=lambda m: m.token_start)
