import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.clean import clean_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\u0643\u062a\u0640\u0640\u0627\u0628", "\u0643\u062a\u0627\u0628"),  # tatweel removed
        ("\u200fمرحبا\u200e", "مرحبا"),  # bidi marks
        ("\ufeffنص", "نص"),  # BOM
        ("كلمة\u200bأخرى", "كلمةأخرى"),  # zero-width space
        ("\u202bنص\u202c", "نص"),  # embedding controls
        ("\ufefb", "\u0644\u0627"),  # lam-alef ligature folded
        ("\ufe8d\ufedf\ufee4\ufea0\ufee0\ufeb2", "المجلس"),  # presentation forms folded
        ("\ufdfa", "صلى الله عليه وسلم"),  # one character becomes 18
        ("سطر\r\nسطر\rسطر", "سطر\nسطر\nسطر"),  # newlines unified
        ("a\x00b\x07c", "abc"),  # control characters dropped
        ("مُحَمَّد", "مُحَمَّد"),  # diacritics kept
        ("١٢٣ 4.5", "١٢٣ 4.5"),  # digits kept as written
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


@pytest.mark.parametrize("raw", ["ا\u200b\u0653", "\ufe71ب", "\u0640\u064b", "ب\ufe71\u200f\u0653"])
def test_cleaning_is_idempotent_when_dropping_marks_joins_letters_and_marks(raw):
    once = clean_text(raw)
    assert clean_text(once) == once


@settings(max_examples=int(os.environ.get("KHABAR_FUZZ_EXAMPLES", "300")), deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from([*"\ufdfc\ufdfd\ufdfa\ufefb\ufe8d\u00a0\u0653ا ب", *map(chr, range(0x600, 0x700))])
    )
)
def test_folding_is_camel_tools_normalize_unicode(text):
    """khabar folds in C what camel-tools' normalize_unicode folds with a Python loop, with the same result."""
    from camel_tools.utils.normalize import normalize_unicode

    from tasks.clean import _fold

    assert _fold(text) == normalize_unicode(text)
