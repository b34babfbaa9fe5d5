"""Property tests over arbitrary bytes and arbitrary Unicode: decode -> clean -> split -> tokenize -> entities."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.clean import clean_text
from tasks.decode import decode_bytes
from tasks.entities import load_extractor
from tasks.quarantine import QuarantineError
from tasks.segment import split_sentences, tokenize

# KHABAR_FUZZ_EXAMPLES=5000 for a longer hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("KHABAR_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Arabic letters, marks, tatweel, digits, punctuation, invisible controls and presentation forms mixed
# with anything Unicode has: the generator reaches the characters news text actually contains.
arabic_heavy = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
        st.sampled_from(list(" \n\t.،؟!«»\u200f\u200e\u200b\u200c\u200d\ufeff\u0640\ufdfa\ufefb\ufe8d٫٬")),
        st.characters(min_codepoint=0xFB50, max_codepoint=0xFEFF),
        st.characters(),
    ),
    max_size=300,
)


def check_text_pipeline(text: str) -> None:
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned, "cleaning is idempotent"
    sentences = split_sentences(cleaned)
    for s in sentences:
        assert 0 <= s.start < s.end <= len(cleaned)
        assert cleaned[s.start : s.end] == cleaned[s.start : s.end].strip()
    tokens = tokenize(cleaned, sentences)
    for t in tokens:
        assert cleaned[t.start : t.end] == t.surface and t.surface
        s = sentences[t.sentence_idx]
        assert s.start <= t.start and t.end <= s.end
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)
    assert "".join(t.surface for t in tokens) == "".join(cleaned.split()), "tokens cover the text minus whitespace"
    for m in load_extractor("gazetteer").extract(tokens):
        assert 0 <= m.token_start < m.token_end <= len(tokens)
        assert tokens[m.token_start].sentence_idx == tokens[m.token_end - 1].sentence_idx


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_decode_or_are_quarantined(data):
    try:
        decoded = decode_bytes(data)
    except QuarantineError as exc:
        assert exc.reason in {"empty_text", "binary_content", "undecodable"}
        return
    check_text_pipeline(decoded.text)


@FUZZ
@given(arabic_heavy)
def test_arbitrary_unicode_keeps_every_invariant(text):
    check_text_pipeline(text)


@FUZZ
@given(arabic_heavy)
def test_encoded_text_round_trips(text):
    for encoding in ("utf-8", "utf-16"):
        try:
            decoded = decode_bytes(text.encode(encoding, errors="ignore"))
        except QuarantineError:
            continue
        check_text_pipeline(decoded.text)
