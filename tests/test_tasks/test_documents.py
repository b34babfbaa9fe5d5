from datetime import date

import pytest

from tasks.documents import content_hash, doc_id_for, process_document, title_of
from tasks.entities import load_extractor
from tasks.layout import Layout, LayoutError, layout_warning, path_metadata
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


@pytest.mark.parametrize(
    ("layout", "path", "source", "published"),
    [
        ("{date}/{source}-{n}.txt", "2015-07-22/sabq-00012.txt", "sabq", date(2015, 7, 22)),  # SaudiNewsNet
        ("{date}/{source}-{n}.txt", "2015-07-22/al-madina-7.txt", "al-madina", date(2015, 7, 22)),
        ("{source}/{year}/{month}/{day}/*.txt", "okaz/2015/7/2/story.txt", "okaz", date(2015, 7, 2)),
        ("{source}/{date}/*", "okaz/2015-07-02/x.txt", "okaz", date(2015, 7, 2)),
        ("*/{source}/{year}{month}{day}-*.txt", "ar/spa/20150722-1.txt", "spa", date(2015, 7, 22)),
        (r"(?P<source>[a-z]+)_(?P<date>\d{4}-\d{2}-\d{2})\.txt", "sabq_2015-07-22.txt", "sabq", date(2015, 7, 22)),
        ("{date}/{source}-{n}.txt", "2015-02-30/sabq-1.txt", "sabq", None),  # not a real date
        ("{date}/{source}-{n}.txt", "notes/readme.txt", None, None),  # a file the layout does not describe
    ],
)
def test_a_layout_reads_source_and_date_from_the_path(layout, path, source, published):
    assert path_metadata(path, layout) == (source, published)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("{n}.txt", "the layout '{n}.txt' names neither {source} nor {date}"),
        ("(?P<source>[a-z", "the layout '(?P<source>[a-z' is not a valid pattern (unterminated character set"),
        ("{year}/{source}.txt", "the layout '{year}/{source}.txt' has {year} without {month} and {day}"),
    ],
)
def test_a_bad_layout_is_one_sentence(layout, message):
    with pytest.raises(LayoutError) as caught:
        Layout.of(layout)
    assert str(caught.value).startswith(message)


def test_a_layout_that_fits_few_files_is_warned_about():
    saudinewsnet = [f"2015-07-22/sabq-{i:05d}.txt" for i in range(10)]
    assert layout_warning(saudinewsnet, None) == (
        "10 of 10 files get no source from the default layout (a YYYY-MM-DD folder, then a source folder); "
        "describe how your files are named with --layout, for example '{date}/{source}-{n}.txt'"
    )
    assert layout_warning(saudinewsnet, "{date}/{source}-{n}.txt") is None
    assert layout_warning(["2026-11-01/wahat/a.txt", "b.txt"], None) is None  # not most of them


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
