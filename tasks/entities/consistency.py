"""Document-level consistency of keys, over any backend's mentions of one document.

A reporter names a person in full once (سيرغي لافروف), then by the family name alone (لافروف,
وقال لافروف). Within one document, a single-word PERS mention that is the family name of a full
name found in the same document, and that its backend keyed as that word alone (not as a listed
person's full name), takes that full name's canonical key, so reports count one person
once. Spans and types are left as the backend found them; only keys change.

A family name counts only from a full name that starts with a known given name (as written: لجان,
"committees", is not ل + جان) and holds no function or formula word, and never when it is a given
name or a function word itself (علي, على) or follows a lineage word (بن، آل، أبو). A family name
shared by two full names in the document, or tagged as a name of another type there, is left alone.

Finding a name again where the backend did not tag it was tried too and is not done: on ANERcorp's
five blocks it moved the micro-F1 by less than 0.002, down on two blocks of five for both the
gazetteer and the CRF, and on real news about a third of what it added was wrong (docs/entities.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tasks.entities import EntityExtractor, Mention
from tasks.entities.keys import proclitic_readings
from tasks.segment import Token

VERSION = "1"  # part of every backend's code version: documents tagged before it become stale
_LINEAGE = frozenset({"بن", "ابن", "بنت", "ال", "ابو", "ابي", "ام", "عبد", "ولد"})  # match keys; آل is ال
_MIN_LENGTH = 3


class DocumentConsistency:
    """An extractor whose mentions' keys are made consistent within each document (see the module)."""

    def __init__(self, inner: EntityExtractor, given_names: frozenset[str], stopwords: frozenset[str]) -> None:
        self.inner = inner
        self.given_names = given_names
        self.stopwords = stopwords
        self.name = inner.name
        self.version = f"{inner.version}+doc{VERSION}"
        self.model_hash = inner.model_hash

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        return consistent_keys(tokens, self.inner.extract(tokens), self.given_names, self.stopwords)


def consistent_keys(
    tokens: Sequence[Token], mentions: Sequence[Mention], given_names: frozenset[str], stopwords: frozenset[str]
) -> list[Mention]:
    """The mentions, each family name alone keyed as the full name the document uses.

    given_names and stopwords (words that never end a name: function words, the words of religious
    formulas) hold strict keys (tasks.entities.gazetteer.strict_key), which keep على ("on") apart
    from علي (Ali).
    """
    from tasks.entities.gazetteer import strict_key

    full_names: dict[str, str | None] = {}  # family name (match key) -> full name's key; None: ambiguous
    other_types: set[str] = set()
    for m in mentions:
        n_words = m.token_end - m.token_start
        if m.type != "PERS":
            if n_words == 1:
                other_types.update(proclitic_readings(tokens[m.token_start].key))
            continue
        if n_words < 2:
            continue
        words = [strict_key(t.surface) for t in tokens[m.token_start : m.token_end]]
        surname = tokens[m.token_end - 1].key
        if (
            words[0] in given_names
            and len(surname) >= _MIN_LENGTH
            and tokens[m.token_end - 2].key not in _LINEAGE
            and words[-1] not in given_names
            and stopwords.isdisjoint(words[1:])
        ):
            known = full_names.setdefault(surname, m.canonical_key)
            if known != m.canonical_key:
                full_names[surname] = None
    if not full_names:
        return list(mentions)
    result = []
    for m in mentions:
        if m.type == "PERS" and m.token_end - m.token_start == 1 and " " not in m.canonical_key:
            for reading in proclitic_readings(tokens[m.token_start].key):
                full = full_names.get(reading)
                if full is not None and reading not in other_types:
                    m = replace(m, canonical_key=full)
                    break
        result.append(m)
    return result
