import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.clean import clean_text
from tasks.segment import Span, match_key, split_sentences, tokenize


def texts(text, spans):
    return [text[s.start : s.end] for s in spans]


def test_sentences_end_at_terminal_punctuation_and_line_breaks():
    text = "قال الوزير إن النمو بلغ 1.3%. وأضاف أن العام المقبل أفضل! هل يتحقق ذلك؟\nسطر جديد بلا نقطة"
    assert texts(text, split_sentences(text)) == [
        "قال الوزير إن النمو بلغ 1.3%.",
        "وأضاف أن العام المقبل أفضل!",
        "هل يتحقق ذلك؟",
        "سطر جديد بلا نقطة",
    ]


def test_single_letter_abbreviations_do_not_end_a_sentence():
    text = "التقى د. سامر الخطيب بالوفد. ثم غادر."
    assert texts(text, split_sentences(text)) == ["التقى د. سامر الخطيب بالوفد.", "ثم غادر."]


def test_closing_quotes_stay_with_their_sentence():
    text = "قال: «الموسم أفضل.» وانتهى اللقاء."
    assert texts(text, split_sentences(text)) == ["قال: «الموسم أفضل.»", "وانتهى اللقاء."]


def test_blank_lines_make_no_sentences():
    assert split_sentences("\n\n  \n") == []


def test_token_offsets_point_into_the_text():
    text = clean_text("  العراق يتوقع ٧٥٠ ألف طن، بزيادة 12.5% عن 2025.\n\nوقال «المزارع»: نعم")
    tokens = tokenize(text, split_sentences(text))
    assert tokens, "expected tokens"
    for i, token in enumerate(tokens):
        assert text[token.start : token.end] == token.surface
        assert token.idx == i
    assert [t.surface for t in tokens if t.sentence_idx == 1][:3] == ["وقال", "«", "المزارع"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("بلغ 1.3 في المئة", ["بلغ", "1.3", "في", "المئة"]),
        ("٣٫٥ مليار", ["٣٫٥", "مليار"]),
        ("1,000,000 دولار", ["1,000,000", "دولار"]),
        ("عام 2015. ثم", ["عام", "2015", "."]),
        ("النسبة 5 .3", ["النسبة", "5", ".", "3"]),  # a space before the point: not a decimal
    ],
)
def test_decimals_stay_one_token(text, expected):
    first = split_sentences(text)[0]
    assert [t.surface for t in tokenize(text, [first])] == expected


def test_tokens_never_cross_sentences():
    text = "جملة أولى. جملة ثانية."
    sentences = split_sentences(text)
    for token in tokenize(text, sentences):
        s = sentences[token.sentence_idx]
        assert s.start <= token.start < token.end <= s.end


@pytest.mark.parametrize(
    ("surface", "key"),
    [
        ("مُحَمَّد", "محمد"),
        ("أحمد", "احمد"),
        ("إسلام", "اسلام"),
        ("آمنة", "امنه"),
        ("مستشفى", "مستشفي"),
        ("٢٠٢٦", "2026"),
        ("Siemens", "siemens"),
    ],
)
def test_match_key_normalizes(surface, key):
    assert match_key(surface) == key


def test_tokenize_accepts_an_explicit_span():
    text = "abc def"
    assert [t.surface for t in tokenize(text, [Span(4, 7)])] == ["def"]


def test_a_run_without_punctuation_is_cut_into_bounded_sentences():
    from tasks.segment import MAX_SENTENCE_CHARS

    text = "كلمة " * 2000  # 10,000 characters on one line, no sentence end
    spans = split_sentences(text)
    assert len(spans) > 1 and all(s.end - s.start <= MAX_SENTENCE_CHARS for s in spans)
    assert " ".join(text[s.start : s.end] for s in spans) == text.strip()
    unbroken = "ب" * (MAX_SENTENCE_CHARS + 10)  # no space to cut at: cut anyway
    assert [s.end - s.start for s in split_sentences(unbroken)] == [MAX_SENTENCE_CHARS, 10]


def test_a_long_line_of_many_sentences_splits_into_each_of_them():
    """Its time is test_linear_time's (sentence splitting); here, that every sentence is found."""
    sentence = "قال الوزير إن الاقتصاد ينمو بسرعة. "  # 35 characters, one sentence end
    small = sentence * 6_000  # 210 KB on one line
    spans = split_sentences(small * 2)
    assert len(spans) == 12_000 and texts(small, spans[:1]) == [sentence.strip()]


# Letters, digits, punctuation, symbols and emoji sequences (with modifiers, flags and keycaps).
_PIECES = st.sampled_from(
    [*"قال الوزير ١٢٣ 1.5 abc.,:;!?؟،«»()-_/@#*%$€+=<> \t", "😀", "👍🏽", "🇸🇦", "1\ufe0f\u20e3", "\u200d", "\ufe0f"]
)


@settings(max_examples=int(os.environ.get("KHABAR_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.one_of(st.text(), st.lists(_PIECES, max_size=40).map("".join)))
def test_word_spans_are_camel_tools_tokens_with_offsets(text):
    """khabar finds the tokens simple_word_tokenize returns, in one pass and with their offsets."""
    from camel_tools.tokenizers.word import simple_word_tokenize

    from tasks.segment import word_spans

    assert [text[a:b] for a, b in word_spans(text, 0, len(text))] == simple_word_tokenize(text)


def test_the_written_out_character_classes_are_current():
    """tasks/_charsets_generated.py equals what unicodedata and camel-tools give today
    (regenerate with `.venv/bin/python -m tasks.charsets`)."""
    from tasks import charsets

    assert charsets.derived_dropped_class() == charsets.DROPPED_CLASS
    assert charsets.derived_split_symbols_class() == charsets.SPLIT_SYMBOLS_CLASS


@settings(max_examples=int(os.environ.get("KHABAR_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.text(alphabet=st.sampled_from([*"أإآٱاىيةه٠١٩۰۹0aAßİ ", *map(chr, range(0x64B, 0x672))])))
def test_match_key_is_camel_tools_normalization_in_one_table(surface):
    from camel_tools.utils.dediac import dediac_ar
    from camel_tools.utils.normalize import normalize_alef_ar, normalize_alef_maksura_ar, normalize_teh_marbuta_ar

    from tasks.entities.gazetteer import strict_key

    digits = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
    camel = normalize_teh_marbuta_ar(normalize_alef_maksura_ar(normalize_alef_ar(dediac_ar(surface))))
    assert match_key(surface) == camel.translate(digits).casefold()
    assert strict_key(surface) == normalize_alef_ar(dediac_ar(surface))
