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

A name a learned backend found once is found again where it recurs in the same document untagged
(found_again): the same words, the first with or without its proclitics (بالجزيرة after الجزيرة), in
one sentence, over words no mention holds. A name the backend tagged with two types is left alone,
and so is one it left untagged more than twice as often as it tagged it: a model that read العربي as
an organisation once and as a word five times was right the five times. The gazetteer is not
wrapped: its lists already find every occurrence of what they hold, and finding its guesses again
spread its errors (docs/entities.md has the figures).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from tasks.entities import EntityExtractor, ExtractorLayer, Mention
from tasks.entities.keys import positions_read_as, proclitic_readings
from tasks.segment import Token

VERSION = "1"  # part of every backend's code version: documents tagged before it become stale
AGAIN_VERSION = "1"  # part of the code version of a backend whose names are found again
_AGAIN_RATIO = 2  # found again only where untagged at most this many times per tagged occurrence
_LINEAGE = frozenset({"بن", "ابن", "بنت", "ال", "ابو", "ابي", "ام", "عبد", "ولد"})  # match keys; آل is ال
_MIN_LENGTH = 3


class DocumentConsistency(ExtractorLayer):
    """An extractor whose mentions' keys are made consistent within each document (see the module)."""

    def __init__(self, inner: EntityExtractor, given_names: frozenset[str], stopwords: frozenset[str]) -> None:
        self.inner = inner
        self.given_names = given_names
        self.stopwords = stopwords
        self.name = inner.name
        self.version = f"{inner.version}+doc{VERSION}"
        self.model_hash = inner.model_hash

    def over(self, tokens: Sequence[Token], mentions: list[Mention]) -> list[Mention]:
        return consistent_keys(tokens, mentions, self.given_names, self.stopwords)


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


class FoundAgain(ExtractorLayer):
    """An extractor whose names are found again where they recur untagged in the document (see the module)."""

    def __init__(self, inner: EntityExtractor) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = f"{inner.version}+again{AGAIN_VERSION}"
        self.model_hash = inner.model_hash

    def over(self, tokens: Sequence[Token], mentions: list[Mention]) -> list[Mention]:
        return found_again(tokens, mentions)


Name = tuple[str, ...]  # a mention's words, as match keys


def found_again(tokens: Sequence[Token], mentions: Sequence[Mention], ratio: float = _AGAIN_RATIO) -> list[Mention]:
    """The mentions, and each name's untagged recurrences in the document as mentions of that name, in order.

    Linear in the tokens: at each untagged word, one dictionary lookup per proclitic reading and per
    length of a name that starts with that reading.
    """
    first_mention: dict[Name, Mention | None] = {}  # None: tagged with two types
    tagged: Counter[Name] = Counter()
    for m in mentions:
        name = tuple(t.key for t in tokens[m.token_start : m.token_end])
        first = first_mention.setdefault(name, m)
        if first is not None and first.type != m.type:
            first_mention[name] = None
        tagged[name] += 1
    lengths: dict[str, list[int]] = {}  # a name's first word -> the lengths of the names it starts, longest first
    for name, head in first_mention.items():
        if head is not None:
            lengths.setdefault(name[0], []).append(len(name))
    if not lengths:
        return list(mentions)
    for each in lengths.values():
        each.sort(reverse=True)
    taken = bytearray(len(tokens))
    for m in mentions:
        taken[m.token_start : m.token_end] = b"\x01" * (m.token_end - m.token_start)
    found: dict[Name, list[Mention]] = {}
    free = 0  # the first token after the last name found again
    for i in positions_read_as([t.key for t in tokens], lengths.keys()):  # where a name's first word is
        recurring = None if i < free or taken[i] else _name_at(tokens, i, lengths, first_mention, taken)
        if recurring is None:
            continue
        head = first_mention[recurring]
        assert head is not None
        found.setdefault(recurring, []).append(Mention(head.type, i, i + len(recurring), head.canonical_key))
        free = i + len(recurring)
    added = [m for name, recurrences in found.items() if len(recurrences) <= ratio * tagged[name] for m in recurrences]
    if not added:
        return list(mentions)
    return sorted([*mentions, *added], key=lambda m: m.token_start)


def _name_at(
    tokens: Sequence[Token],
    i: int,
    lengths: dict[str, list[int]],
    first_mention: dict[Name, Mention | None],
    taken: bytearray,
) -> Name | None:
    """The longest name found in the document that starts at token i (its first word with or without
    proclitics), within one sentence and over untagged words only."""
    for reading in proclitic_readings(tokens[i].key):
        for n in lengths.get(reading, ()):
            end = i + n
            if end > len(tokens) or tokens[end - 1].sentence_idx != tokens[i].sentence_idx or any(taken[i:end]):
                continue
            name = (reading, *(t.key for t in tokens[i + 1 : end]))
            if first_mention.get(name) is not None:
                return name
    return None
