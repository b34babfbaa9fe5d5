from datetime import date

import pytest

from tasks.documents import content_hash, doc_id_for, path_metadata, process_document, title_of
from tasks.entities import load_extractor
from tasks.quarantine import EMPTY_TEXT, QuarantineError


@pytest.mark.parametrize(
    ("path", "source", "published"),
    [
        ("2026-11-01/wahat-news/a.txt", "wahat-news", date(2026, 11, 1)),
        ("wahat-news/2026-11-01/a.txt", None, date(2026, 11, 1)),  # parent is the date folder
        ("2026-11-01/a.txt", None, date(2026, 11, 1)),
        ("a.txt", None, None),
        ("archive/wahat-news/a.txt", "wahat-news", None),
        ("2026-13-45/src/a.txt", "src", None),  # not a real date
        ("2026-13-45/2026-02-03/src/a.txt", "src", date(2026, 2, 3)),
    ],
)
def test_path_metadata(path, source, published):
    assert path_metadata(path) == (source, published)


def test_title_is_the_first_non_empty_line():
    assert title_of("\n\n  العنوان هنا  \nالنص") == "العنوان هنا"


def test_doc_id_is_the_content_hash_prefix():
    digest = content_hash(b"abc")
    assert digest.startswith(doc_id_for(digest)) and len(doc_id_for(digest)) == 32


def test_offsets_of_tokens_and_entities_point_into_the_cleaned_text():
    raw = "عنوان\u200f الخبر\nوقال وزير الخارجية الروسي سيرغي لافروف في موسكو إن النمو بلغ 1.3%.\n".encode(
        "cp1256", "ignore"
    )
    doc = process_document("2026-11-01/src/x.txt", raw, load_extractor("gazetteer"))
    assert doc.encoding == "cp1256"
    assert doc.title == "عنوان الخبر"
    assert doc.source == "src" and doc.published_date == date(2026, 11, 1)
    for token in doc.tokens:
        assert doc.text[token.start : token.end] == token.surface
    assert {e.type for e in doc.entities} == {"PERS", "LOC"}
    for entity in doc.entities:
        assert doc.text[entity.char_start : entity.char_end] == entity.surface
        assert doc.tokens[entity.token_start].start == entity.char_start
        assert doc.tokens[entity.token_end - 1].end == entity.char_end


def test_text_that_cleans_to_nothing_is_quarantined():
    with pytest.raises(QuarantineError) as err:
        process_document("a.txt", "\u200f\u200e\u0640\n".encode(), load_extractor("gazetteer"))
    assert err.value.reason == EMPTY_TEXT


@pytest.mark.parametrize(
    "text", ["\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652", "\u0651\u0651 \u064e\n...!!", "؟ ، ."]
)
def test_text_of_only_marks_or_punctuation_is_quarantined(text):
    """A file of diacritics alone became a one-token document."""
    with pytest.raises(QuarantineError) as err:
        process_document("a.txt", text.encode(), load_extractor("gazetteer"))
    assert err.value.reason == EMPTY_TEXT and "no letters or digits" in err.value.detail


def test_a_title_is_capped_at_a_word_boundary():
    """A 20 MB one-line file had a 10.9-million-character title."""
    from tasks.documents import MAX_TITLE_CHARS

    line = "كلمة " * 100_000
    title = title_of(line + "\nالنص")
    assert len(title) <= MAX_TITLE_CHARS and line.startswith(title) and title.endswith("كلمة")
    unbroken = "ب" * (MAX_TITLE_CHARS * 3)
    assert title_of(unbroken) == "ب" * MAX_TITLE_CHARS
    assert title_of("عنوان قصير") == "عنوان قصير"
