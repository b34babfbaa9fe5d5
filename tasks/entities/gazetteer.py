"""The offline default extractor: name lists plus cue rules for people, organisations and places."""

from __future__ import annotations

import functools
import hashlib
import itertools
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Generic, TypeVar

from tasks.charsets import ALEF_FORMS, AR_DIACRITICS
from tasks.entities import EntityExtractor, ExtractorLayer, Mention
from tasks.entities.keys import canonical_key, match_key, phrase_key, proclitic_readings
from tasks.entities.rulings import Rulings, replaced_by
from tasks.segment import Token, sentence_ranges

VERSION = "9"  # bump when the rules change: the fingerprint carries it, so documents become stale
_FORMULA = "FORMULA"  # cues.tsv rows of religious formulas
_LIST_FILES = {"PERS": "persons.tsv", "ORG": "organizations.tsv", "LOC": "locations.tsv", "MISC": "misc.tsv"}
_NAME_JOINERS = frozenset({"بن", "ابن", "بنت", "عبد", "ابو", "ابي", "ال", "ام"})
_SON_OF = frozenset({"بن", "ابن", "بنت"})  # son of, daughter of
# Titles of people who are not royals (match keys): before a listed royal's given names, someone else.
_PROFESSIONAL_TITLES = frozenset({"الدكتور", "الدكتوره", "د.", "المهندس", "المهندسه", "الاستاذ", "الاستاذه"})
_LINEAGE = _SON_OF | {"ال"}  # and family of (آل)
# A listed place that is also a common noun: الخبر is the city of Khobar and "the news". It is the noun
# where the words around it say so: a demonstrative before it (هذا الخبر، لهذا الخبر), a noun of reporting
# whose complement it is (نص الخبر، رابط الخبر), or a masculine relative or adjective after it (الخبر الذي،
# الخبر المنشور; a city is feminine).
_NOUN_NAMES = frozenset({match_key("الخبر")})
_NOUN_BEFORE = frozenset(
    match_key(w)
    for w in ("هذا", "ذلك", "نص", "رابط", "كتابة", "مختصر", "تفاصيل", "مصدر", "صحة", "عنوان", "نشر", "بقية")
)
_NOUN_AFTER = frozenset(
    match_key(w) for w in ("الذي", "المنشور", "المفجع", "السار", "العاجل", "التالي", "المتداول", "الصحفي")
)
# Function words that keys make into given names by dropping the hamza: بأن (بان), لأن, كأن, وبأن.
_HAMZA_FUNCTION_WORD = re.compile(
    "[وف]?[بلك][\u0623\u0625][\u064b-\u0652]*ن[\u064b-\u0652]*(?:ه|ها|هم|هما|هن|ك|كم|ي|نا|ني)?[\u064b-\u0652]*"
)
_MAX_NAME_TOKENS = 4
_MAX_ORG_COMPLEMENT = 4
_MAX_TITLE_SKIP = 6
_GOD = "الله"
_COMPOUND_STARTS = frozenset({"عبد", "ابو"})
_QUOTES = frozenset("\"'«»“”‘’")
_NOT_INSIDE_A_NAME = ("و", "ب", "ل", "ك")  # prefixes that start a new phrase after a short organisation name
_PRONOUN_SUFFIXES = ("هم", "هما", "كم", "هن", "ها")
_TITLE_QUALIFIERS = frozenset(
    {"السابق", "الحالي", "الجديد", "المنتهيه", "ولايته", "العام", "الاعلي", "التنفيذي"}
    | {"صاحب", "السمو", "سمو", "الملكي", "جلاله", "فخامه", "معالي", "سعاده", "سماحه", "الشيخ", "اول"}
)

V = TypeVar("V")
_SURFACE, _KEY = operator.attrgetter("surface"), operator.attrgetter("key")
_STRICT, _OPENS = operator.itemgetter(0), operator.itemgetter(1)


@dataclass
class PhraseIndex(Generic[V]):
    """Multi-word phrases by word keys; the first word may carry proclitics."""

    phrases: dict[tuple[str, ...], V] = field(default_factory=dict)
    longest_by_first: dict[str, int] = field(default_factory=dict)
    _starts: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)  # word key -> may start one

    def add(self, keys: tuple[str, ...], value: V) -> None:
        if not keys or keys in self.phrases:
            return  # the first listing of a phrase wins
        self._starts.clear()
        self.phrases[keys] = value
        self.longest_by_first[keys[0]] = max(self.longest_by_first.get(keys[0], 0), len(keys))

    def longest_at(self, keys: Sequence[str], i: int, end: int) -> tuple[int, str, V] | None:
        """Longest phrase starting at keys[i] (before end): (length, first-word reading, value)."""
        best: tuple[int, str, V] | None = None
        for reading in proclitic_readings(keys[i]):
            longest = self.longest_by_first.get(reading)
            if longest is None:
                continue
            for n in range(min(longest, end - i), 0, -1):
                value = self.phrases.get((reading, *keys[i + 1 : i + n]))
                if value is not None:
                    if best is None or n > best[0]:
                        best = (n, reading, value)
                    break
        return best

    def longest_each(self, keys: Sequence[str]) -> list[tuple[int, str, V] | None]:
        """longest_at at every position; a word no phrase starts with costs one dictionary lookup."""
        n = len(keys)
        out: list[tuple[int, str, V] | None] = [None] * n
        starts = list(map(self._starts.get, keys))
        if None in starts:  # words not seen before
            firsts = self.longest_by_first.keys()
            for i in itertools.compress(range(n), map(operator.is_, starts, itertools.repeat(None))):
                starts[i] = self._starts[keys[i]] = not firsts.isdisjoint(proclitic_readings(keys[i]))
        for i in itertools.compress(range(n), starts):
            out[i] = self.longest_at(keys, i, n)
        return out


@dataclass(frozen=True)
class GazetteerEntry:
    type: str
    canonical_key: str


KEPT_DOCUMENTS = 32  # documents whose gazetteer pass is kept for reuse: at least a shard's batch (tasks.shards)


class GazetteerExtractor:
    """Gazetteer lookup (longest match) and cue rules; deterministic and offline."""

    name = "gazetteer"

    def __init__(
        self,
        names: PhraseIndex[GazetteerEntry],
        cues: PhraseIndex[str],
        given_names: frozenset[str],
        common_word_names: frozenset[str],
        stopwords: frozenset[str],
        model_hash: str,
        formula_words: frozenset[str] = frozenset(),
    ) -> None:
        self.names = names
        self.cues = cues
        self.given_names = given_names
        self.common_word_names = common_word_names
        self.stopwords = stopwords
        self.formula_words = formula_words  # keys of the word before الله in a religious formula
        self.model_hash = model_hash
        self.version = f"{VERSION}+{model_hash[:12]}"
        self._words: dict[str, tuple[str, bool]] = {}  # surface -> (strict key, may open)
        # The last documents' sentence taggers (tokens, taggers), by id of the tokens object (kept with it, so
        # that its id is not reused): a learned backend's features and the rulings over its mentions both read
        # the same document, one after the other (sentence_mentions, rulings).
        self._last_documents: dict[int, tuple[Sequence[Token], list[_SentenceTagger]]] = {}

    def _word(self, surface: str, key: str) -> tuple[str, bool]:
        """A word's strict key, and whether it can start anything the tagger looks for: a listed name or
        cue (with proclitics), a given name, a compound name start. Most words can start nothing."""
        known = self._words.get(surface)
        if known is None:
            strict = strict_key(surface)
            readings = proclitic_readings(key)
            opens = (
                any(r in self.names.longest_by_first or r in self.cues.longest_by_first for r in readings)
                or bool(_COMPOUND_STARTS.intersection(readings))
                or (strict not in self.stopwords and any(r in self.given_names for r in proclitic_readings(strict)))
            )
            known = (strict, opens)
            if len(self._words) >= 1 << 20:
                self._words.clear()
            self._words[surface] = known
        return known

    @classmethod
    def from_resources(cls, extra_files: Iterable[str] = ()) -> GazetteerExtractor:
        """Build from the packaged lists plus user lists (TSV: `type<TAB>name<TAB>variant|...`)."""
        names: PhraseIndex[GazetteerEntry] = PhraseIndex()
        for path in extra_files:  # user lists first: a watch list overrides the packaged type
            for row in _rows(Path(path).read_text(encoding="utf-8")):
                _add_name(names, row[0], row[1:])
        for type_, filename in _LIST_FILES.items():
            for row in _rows(_resource(filename)):
                _add_name(names, type_, row)
        cues: PhraseIndex[str] = PhraseIndex()
        for kind, phrase in _rows(_resource("cues.tsv")):
            if kind != _FORMULA:  # `X الله` rows are word_lists' formula words: X (حول، قدر...) opens nothing
                cues.add(phrase_key(phrase), kind)
        words = word_lists()
        return cls(
            names,
            cues,
            given_names=words.given_names,
            common_word_names=words.common_word_names,
            stopwords=words.stopwords,
            model_hash=lists_digest(extra_files),
            formula_words=words.formula_words,
        )

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        return [m for tagger in self._tagged(tokens) for m in tagger.found]

    def sentence_mentions(self, tokens: Sequence[Token], bounds: Sequence[tuple[int, int]]) -> list[list[Mention]]:
        """What extract() finds in each sentence tokens[a:b] of bounds (sentence_ranges(tokens)) alone, its token
        indexes in the sentence: the same, as the tagger never looks past a sentence's ends."""
        found = {tagger.start: tagger.found for tagger in self._document(tokens)}
        return [
            [Mention(m.type, m.token_start - a, m.token_end - a, m.canonical_key) for m in found.get(a, ())]
            for a, _ in bounds
        ]

    def rulings(self, tokens: Sequence[Token]) -> Rulings:
        """What the rules decide whatever a backend found (tasks.entities.rulings): the places and
        institutions named after a person, and the name of God in a religious formula."""
        places: list[Mention] = []
        formulas: list[int] = []
        for tagger in self._document(tokens):
            places.extend(tagger.places)
            formulas.extend(tagger.formulas)
        return Rulings(places, frozenset(formulas))

    def is_function_word(self, surface: str) -> bool:
        """A word that is never a name on its own: a stopword or honorific pronoun (سموه), a hamza
        function word (بأن)."""
        return strict_key(surface) in self.stopwords or _is_hamza_function_word(surface)

    def _document(self, tokens: Sequence[Token]) -> list[_SentenceTagger]:
        """_tagged(tokens), kept for the last KEPT_DOCUMENTS documents (the same tokens objects, which no caller
        changes): the rulings over a learned backend then reuse the pass its features made, 0.6 ms a document,
        also when it was given several documents at once (extract_many)."""
        kept = self._last_documents.get(id(tokens))
        if kept is not None and kept[0] is tokens:
            return kept[1]
        taggers = list(self._tagged(tokens))
        if len(self._last_documents) >= KEPT_DOCUMENTS:
            del self._last_documents[next(iter(self._last_documents))]
        self._last_documents[id(tokens)] = (tokens, taggers)
        return taggers

    def _tagged(self, tokens: Sequence[Token]) -> Iterator[_SentenceTagger]:
        """Each sentence's tagger, run, for the sentences where a mention can start."""
        keys = list(map(_KEY, tokens))
        cached: list[tuple[str, bool] | None] = list(map(self._words.get, map(_SURFACE, tokens)))
        words: list[tuple[str, bool]] = (
            [w if w is not None else self._word(t.surface, t.key) for w, t in zip(cached, tokens, strict=True)]
            if None in cached
            else cached  # type: ignore[assignment]
        )
        # Given names and stopwords compare on strict keys, which keep ى apart from ي (على is not علي).
        strict = list(map(_STRICT, words))
        openers = itertools.compress(range(len(words)), map(_OPENS, words))  # where a mention can start
        opener = next(openers, None)
        for start, end in sentence_ranges(tokens):
            in_sentence = []
            while opener is not None and opener < end:
                in_sentence.append(opener)
                opener = next(openers, None)
            if in_sentence:
                tagger = _SentenceTagger(self, tokens, keys, strict, start, end)
                tagger.run(in_sentence)
                yield tagger


@functools.cache
def packaged_gazetteer() -> GazetteerExtractor:
    """The gazetteer of the packaged lists alone, built once per process: the learned backends' features
    and rulings read it."""
    return GazetteerExtractor.from_resources()


class _SentenceTagger:
    """Left-to-right tagging of one sentence's tokens [start, end)."""

    def __init__(
        self,
        gazetteer: GazetteerExtractor,
        tokens: Sequence[Token],
        keys: list[str],
        strict: list[str],
        start: int,
        end: int,
    ) -> None:
        self.g = gazetteer
        self.tokens = tokens
        self.keys = keys
        self.strict = strict
        self.start = start
        self.end = end
        self.found: list[Mention] = []
        self.places: list[Mention] = []  # of found: places and institutions named after a person
        self.formulas: list[int] = []  # the name of God in a religious formula, left untagged

    def run(self, openers: list[int]) -> None:
        """Tag from each word that can open a mention, left to right, into found (and places, formulas);
        _step at any other word would only move on by one, so those are passed over without it."""
        i = self.start
        for opener in openers:
            if opener >= i:  # not inside a mention found already
                i = self._step(opener)

    def _step(self, i: int) -> int:
        named = self._name_at(i)
        cue = self.g.cues.longest_at(self.keys, i, self.end)
        if named and (not cue or named[0] >= cue[0]):
            if self._in_formula(i, named):
                self.formulas.append(i)
                return i + 1  # حفظه الله، إن شاء الله: no entity in a religious formula
            if self._read_as_noun(i, named):
                return i + 1  # هذا الخبر: the news, not Khobar
            return self._emit_name(i, named)
        if cue:
            length, reading, kind = cue
            j = i + length
            if kind == "ORG":
                return self._organisation(i, length, reading)
            if kind == "ORG_NAME":
                return self._organisation_name(j)
            if kind == "PERS":
                return self._titled_person(j)
            if kind == "SPEECH":
                return self._speaker(j)
            if kind in ("LOC_NAMED", "ORG_NAMED"):
                person_end = self._person_at(j)
                if person_end is None:
                    return i + 1  # not named after a person: the words after the head are read as usual
                return self._named_after(i, person_end, reading, kind[:3])
            return self._place(i, j, reading)
        if self._given_name_reading(i) is not None or self._is_compound_name_start(i):
            return self._person(i, require_surname=True)
        return i + 1

    def _is_compound_name_start(self, i: int) -> bool:
        """عبد الله، عبد الرحمن، أبو مازن: a compound first name starts with عبد or أبو."""
        return i + 1 < self.end and bool(_COMPOUND_STARTS.intersection(proclitic_readings(self.keys[i])))

    def _name_at(self, i: int) -> tuple[int, str, GazetteerEntry] | None:
        return self.g.names.longest_at(self.keys, i, self.end)

    def _emit(self, type_: str, start: int, end: int, key: str) -> int:
        self.found.append(Mention(type_, start, end, key))
        return end

    def _emit_name(self, i: int, named: tuple[int, str, GazetteerEntry]) -> int:
        length, _, entry = named
        end = i + length
        if entry.type == "PERS":
            end = self._same_person(end, entry)
            if self._another_person(i, end):  # الدكتور عبدالله بن عبدالعزيز الربيعة is not King Abdullah
                return self._emit("PERS", i, end + 1, canonical_key(self.keys[i : end + 1]))
        return self._emit(entry.type, i, end, entry.canonical_key)

    def _another_person(self, i: int, end: int) -> bool:
        """A listed name that ends with a lineage (X بن Y), after a professional title (الدكتور، المهندس) and
        before a family name with the article: another person with the same given names. Without the title
        an article word is as likely the next noun (استقبل عبدالله بن عبدالعزيز الوفد); a nisba adjective
        (السعودي) or a stopword (الخميس) is never a family name."""
        before = self.keys[i - 1] if i > self.start else ""
        if before == "." and i - 2 >= self.start:
            before = self.keys[i - 2] + "."  # د. (doctor)
        return (
            before in _PROFESSIONAL_TITLES
            and end < self.end
            and end - 2 >= i
            and self.keys[end - 2] in _SON_OF
            and self.keys[end].startswith("ال")
            and self._can_continue_name(end)
            and not self._is_adjective(end)
        )

    def _in_formula(self, i: int, named: tuple[int, str, GazetteerEntry]) -> bool:
        """The name of God alone, after the word of a religious formula (حفظه، شاء، بمشيئة...)."""
        return named[0] == 1 and self.keys[i] == _GOD and i > self.start and self._formula_at(i - 1)

    def _formula_at(self, j: int) -> bool:
        """Word j opens a religious formula: the word of one (رحمه، صلى، رضي...), then the name of God. It is
        never part of a name: محمد صلى الله عليه وسلم is the Prophet, then a blessing; رحمه الله is no رحمة."""
        return (
            j + 1 < self.end
            and self.keys[j + 1] == _GOD
            and any(r in self.g.formula_words for r in proclitic_readings(self.keys[j]))
        )

    def _read_as_noun(self, i: int, named: tuple[int, str, GazetteerEntry]) -> bool:
        """A one-word listed name that is also a common noun (_NOUN_NAMES), where its neighbours make it the noun."""
        if named[0] != 1 or named[2].canonical_key not in _NOUN_NAMES:
            return False
        before = i > self.start and any(r in _NOUN_BEFORE for r in proclitic_readings(self.keys[i - 1]))
        return before or (i + 1 < self.end and self.keys[i + 1] in _NOUN_AFTER)

    def _same_person(self, j: int, entry: GazetteerEntry | None) -> int:
        """Past a listed person, what still names them: the lineage (سلمان بن عبدالعزيز آل سعود is one
        mention, not سلمان and the founder) and the same person named again (خادم الحرمين الشريفين الملك
        سلمان)."""
        while j < self.end:
            named = self._name_at(j)
            if named and named[2] == entry:
                j += named[0]
            elif self.keys[j] in _LINEAGE and j + 1 < self.end and self._is_name_word(j + 1):
                named = self._name_at(j + 1)
                j += 1 + (named[0] if named and named[2].type == "PERS" else 1)
            else:
                return j
        return j

    def _person_at(self, j: int) -> int | None:
        """Where the person named at j ends: a listed person with their lineage, or a title and a given
        name (الملك خالد، الأمير سلطان بن عبدالعزيز); None if no person is named there."""
        if j >= self.end:
            return None
        named = self._name_at(j)
        if named:
            return self._same_person(j + named[0], named[2]) if named[2].type == "PERS" else None
        cue = self.g.cues.longest_at(self.keys, j, self.end)
        k = j + cue[0] if cue and cue[2] == "PERS" else j
        if k == j or k >= self.end or self._given_name_reading(k) is None:
            return None
        return self._same_person(k + 1, None)  # the given name's lineage

    def _is_name_word(self, j: int) -> bool:
        named = self._name_at(j)
        return bool(named and named[2].type == "PERS") or self._can_continue_name(j, after_joiner=True)

    def _named_after(self, i: int, end: int, reading: str, type_: str) -> int:
        """A place or institution named after a person (حديقة الملك فهد، مدينة الملك عبدالله الطبية):
        the head at i (read as `reading`), the person up to end and a following adjective are one mention
        of the place or institution."""
        if end < self.end and self._is_adjective(end) and self.keys[end] not in _TITLE_QUALIFIERS:
            end += 1
        self._emit(type_, i, end, canonical_key([reading, *self.keys[i + 1 : end]]))
        self.places.append(self.found[-1])
        return end

    # Organisations

    def _organisation(self, i: int, length: int, reading: str) -> int:
        """A head noun (وزارة، جامعة، مجلس...) and its complement: words with the article or known names.
        A complement that names a person makes an institution named after them (مستشفى الملك فهد)."""
        j = i + length
        person_end = self._person_at(j)
        while j < self.end and j - (i + length) < _MAX_ORG_COMPLEMENT:
            named = self._name_at(j)
            if named and named[2].type != "ORG":
                j += named[0]
            elif self._is_complement_word(j):
                j += 1
            else:
                break
        if j == i + length:
            return i + length
        self._emit("ORG", i, j, canonical_key([reading, *self.keys[i + 1 : j]]))
        if person_end is not None and person_end <= j:
            self.places.append(self.found[-1])
        return j

    def _organisation_name(self, j: int) -> int:
        """The name after صحيفة، نادي، وكالة...: up to three words, ending before an adjective or a stop."""
        while j < self.end and not _is_word(self.tokens[j].surface) and self.tokens[j].surface in _QUOTES:
            j += 1
        if j >= self.end:
            return j
        named = self._name_at(j)
        if named:
            if named[2].type == "ORG":
                return self._emit_name(j, named)
            return self._emit("ORG", j, j + named[0], named[2].canonical_key)
        k = j
        while k < self.end and k - j < 3 and self._is_org_name_word(k, first=k == j):
            k += 1
        if k == j:
            return j
        return self._emit("ORG", j, k, canonical_key(self.keys[j:k]))

    def _is_org_name_word(self, k: int, *, first: bool) -> bool:
        if self.strict[k] in self.g.stopwords or not _is_word(self.tokens[k].surface):
            return False
        if not first and (self._is_adjective(k) or self.strict[k].startswith(_NOT_INSIDE_A_NAME)):
            return False  # "نادي النصر بنتيجة": a conjunction or preposition prefix ends the name
        return not self.g.cues.longest_at(self.keys, k, self.end)

    def _is_complement_word(self, j: int) -> bool:
        if self.strict[j] in self.g.stopwords or not _is_word(self.tokens[j].surface):
            return False
        return self.keys[j].startswith("ال") or self.strict[j] in self.g.given_names

    # People

    def _titled_person(self, j: int) -> int:
        """After a title: skip adjectives and the organisation or place it names, then read a name."""
        skipped = 0
        while j < self.end and skipped < _MAX_TITLE_SKIP:
            named = self._name_at(j)
            if named and named[2].type == "PERS":
                return self._emit_name(j, named)
            if named:
                j = self._emit_name(j, named)
            elif self._is_adjective(j):
                j += 1
            else:
                cue = self.g.cues.longest_at(self.keys, j, self.end)
                if cue and cue[2] == "ORG":
                    j = self._organisation(j, cue[0], cue[1])
                else:
                    break
            skipped += 1
        return self._person(j, require_surname=False, titled=True) if j < self.end else j

    def _speaker(self, j: int) -> int:
        """After a reporting verb (قال، أكد...): a name that is not a common noun is the speaker."""
        if j < self.end and self.keys[j] in _TITLE_QUALIFIERS:
            return self._titled_person(j)  # قال معالي الوزير ...: the honorific is not the name
        if j >= self.end or self.keys[j].startswith("ال") or self._name_at(j):
            return j
        if self.g.cues.longest_at(self.keys, j, self.end):
            return j
        return self._person(j, require_surname=False, titled=True)

    def _is_adjective(self, j: int) -> bool:
        """A qualifier after a title: السابق، or a nisba adjective such as الروسي، السعودية."""
        key = self.keys[j]
        if self.strict[j] in self.g.stopwords:
            return False
        return key in _TITLE_QUALIFIERS or (
            key.startswith("ال")
            and (key.endswith("ي") or key.endswith("يه"))
            and self.strict[j] not in self.g.given_names
        )

    def _person(self, i: int, *, require_surname: bool, titled: bool = False) -> int:
        if not self._can_start_name(i):
            return i + 1
        j = i + 1
        while j < self.end and j - i < _MAX_NAME_TOKENS and not self._formula_at(j):
            key = self.keys[j]
            if key == _GOD and j > i:  # عبد الله، نصر الله: part of the name
                j += 1
            elif key in _NAME_JOINERS and j + 1 < self.end and self._can_continue_name(j + 1, after_joiner=True):
                j += 2
            elif self._can_continue_name(j):
                j += 1
                if key.startswith("ال"):
                    break  # a family name with the article ends the name
            else:
                break
        first = self._given_name_reading(i)
        if (require_surname or (first is not None and self._is_common_word_name(i))) and j == i + 1:
            return i + 1  # a lone first name, or a name that is also a word (علي، أمل), is not enough
        if not titled and first is not None and self._is_common_word_name(i) and not self._strong_second(i + 1):
            return i + 1
        return self._emit("PERS", i, j, canonical_key([first or self.keys[i], *self.keys[i + 1 : j]]))

    def _is_common_word_name(self, i: int) -> bool:
        reading = self._given_name_reading(i)
        return reading is not None and any(r in self.g.common_word_names for r in proclitic_readings(self.strict[i]))

    def _strong_second(self, j: int) -> bool:
        """After a name that is also a word, only a clear name part continues it."""
        if j >= self.end:
            return False
        key = self.keys[j]
        return (
            self.strict[j] in self.g.given_names
            or key in _NAME_JOINERS
            or (key.startswith("ال") and key.endswith("ي") and self.strict[j] not in self.g.stopwords)
        )

    def _given_name_reading(self, i: int) -> str | None:
        """The given name a word is, once proclitics are stripped (ومحمد -> محمد), if any."""
        if self.strict[i] in self.g.stopwords:
            return None
        for reading in proclitic_readings(self.strict[i]):
            if reading in self.g.given_names:
                return None if _is_hamza_function_word(self.tokens[i].surface) else match_key(reading)
        return None

    def _is_function_word(self, i: int) -> bool:
        return self.strict[i] in self.g.stopwords or _is_hamza_function_word(self.tokens[i].surface)

    def _can_start_name(self, i: int) -> bool:
        if self._formula_at(i):
            return False
        if self._given_name_reading(i) is not None or self._is_compound_name_start(i):
            return True
        if self._is_function_word(i) or self.keys[i].startswith("ال") or self.keys[i] in _TITLE_QUALIFIERS:
            return False
        if not _is_word(self.tokens[i].surface) or _has_pronoun_suffix(self.strict[i]):
            return False
        return not self._name_at(i) and not self.g.cues.longest_at(self.keys, i, self.end)

    def _can_continue_name(self, j: int, *, after_joiner: bool = False) -> bool:
        key, strict = self.keys[j], self.strict[j]
        if self.tokens[j].surface.isascii() != self.tokens[j - 1].surface.isascii():
            return False  # a name does not switch scripts: Lucas Moreira, not Lucas Moreira الهدف
        if strict in self.g.given_names:
            return True
        if strict in self.g.stopwords or not _is_word(self.tokens[j].surface):
            return False
        if strict.startswith("و") and not after_joiner:
            return False  # وتوماس starts the next name of a list; وإخراج is the next clause
        if _has_pronoun_suffix(strict):
            return False
        if self.g.cues.longest_at(self.keys, j, self.end) or self._name_at(j):
            return False
        # Imperfect verbs (يؤكد، تقول) often follow a name; names starting so are in the given-name list.
        return not (key[0] in "يتن" and len(key) >= 4 and not self.tokens[j].surface.isascii())

    # Places

    def _place(self, i: int, j: int, reading: str) -> int:
        """After a place head (مدينة، محافظة...): one or two name words form a place; a place named after
        a person is the head and the name together (مدينة الملك عبدالله)."""
        if j >= self.end:
            return j
        person_end = self._person_at(j)
        if person_end is not None:
            return self._named_after(i, person_end, reading, "LOC")
        named = self._name_at(j)
        if named:
            return self._emit_name(j, named)
        if self.strict[j] in self.g.stopwords or not _is_word(self.tokens[j].surface):
            return j
        k = j + 1
        if k < self.end and self.keys[k].startswith("ال") and self._is_complement_word(k):
            k += 1
        return self._emit("LOC", j, k, canonical_key(self.keys[j:k]))


def _is_hamza_function_word(surface: str) -> bool:
    """بأن، لأن، كأن، وبأن: not the name بان, which keys make of them by dropping the hamza."""
    return len(surface) <= 12 and bool(_HAMZA_FUNCTION_WORD.fullmatch(surface))


def _has_pronoun_suffix(strict: str) -> bool:
    """لإقناعهم، ومرافقوها: an attached pronoun marks a common word, not a name."""
    return len(strict) >= 5 and strict.endswith(_PRONOUN_SUFFIXES)


# camel-tools' dediac_ar, then normalize_alef_ar.
_STRICT_TABLE = str.maketrans(
    {**dict.fromkeys(map(ord, AR_DIACRITICS)), **dict.fromkeys(map(ord, ALEF_FORMS), "\u0627")}
)


@functools.lru_cache(maxsize=1 << 18)
def strict_key(surface: str) -> str:
    """A word without diacritics and with one alef; unlike match_key it keeps ى, ة and case."""
    return surface.translate(_STRICT_TABLE)


def _is_word(surface: str) -> bool:
    return surface.isalpha() and len(surface) >= 2


def _add_name(index: PhraseIndex[GazetteerEntry], type_: str, row: Sequence[str]) -> None:
    canonical, *variants = row
    entry = GazetteerEntry(type_, canonical_key(phrase_key(canonical)))
    index.add(phrase_key(canonical), entry)
    for variant in variants:
        for name in variant.split("|"):
            if name.strip():
                index.add(phrase_key(name.strip()), entry)


@dataclass(frozen=True)
class WordLists:
    """The packaged word lists besides the names: strict keys (tasks.entities.gazetteer.strict_key),
    but formula_words, which are match keys of the word before الله in a religious formula."""

    given_names: frozenset[str]
    common_word_names: frozenset[str]  # given names that are also common words
    stopwords: frozenset[str]
    formula_words: frozenset[str]


@functools.cache
def word_lists() -> WordLists:
    """The packaged word lists, read once per process (the gazetteer and document consistency share them)."""
    given_rows = list(_rows(_resource("given_names.txt")))
    return WordLists(
        given_names=frozenset(strict_key(row[0]) for row in given_rows),
        common_word_names=frozenset(strict_key(row[0]) for row in given_rows if row[1:] == ["common-word"]),
        stopwords=frozenset(strict_key(row[0]) for row in _rows(_resource("stopwords.txt"))),
        formula_words=frozenset(phrase_key(p)[0] for kind, p in _rows(_resource("cues.tsv")) if kind == _FORMULA),
    )


def _rows(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            yield [cell.strip() for cell in line.split("\t")]


def _resource(filename: str) -> str:
    return resources.files("tasks.entities").joinpath("resources", filename).read_text(encoding="utf-8")


def lists_digest(extra_files: Iterable[str] = (), *, packaged: bool = True) -> str:
    """sha256 over the user lists, then (if packaged) every packaged resource file, in a fixed order."""
    digest = hashlib.sha256()
    for path in extra_files:
        digest.update(Path(path).read_bytes())
    if packaged:
        for filename in (*_LIST_FILES.values(), "cues.tsv", "given_names.txt", "stopwords.txt"):
            digest.update(_resource(filename).encode())
    return digest.hexdigest()


class WatchList(ExtractorLayer):
    """User lists over another backend: their matches replace the backend's overlapping mentions."""

    def __init__(self, inner: EntityExtractor, files: Iterable[str]) -> None:
        files = tuple(files)
        self.inner = inner
        self.names: PhraseIndex[GazetteerEntry] = PhraseIndex()
        for path in files:
            for row in _rows(Path(path).read_text(encoding="utf-8")):
                _add_name(self.names, row[0], row[1:])
        user_digest = lists_digest(files, packaged=False)
        self.name = inner.name
        self.version = f"{inner.version}+watch-{user_digest[:8]}"
        self.model_hash = hashlib.sha256(f"{inner.model_hash}:{user_digest}".encode()).hexdigest()

    def over(self, tokens: Sequence[Token], mentions: list[Mention]) -> list[Mention]:
        return replaced_by(mentions, self._watched(tokens))

    def _watched(self, tokens: Sequence[Token]) -> list[Mention]:
        keys = [t.key for t in tokens]
        watched: list[Mention] = []
        for start, end in sentence_ranges(tokens):
            i = start
            while i < end:
                found = self.names.longest_at(keys, i, end)
                if found:
                    watched.append(Mention(found[2].type, i, i + found[0], found[2].canonical_key))
                    i += found[0]
                else:
                    i += 1
        return watched
