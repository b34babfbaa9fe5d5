import codecs

import pytest

from tasks.decode import arabic_score, decode_bytes
from tasks.quarantine import BINARY_CONTENT, EMPTY_TEXT, UNDECODABLE, QuarantineError

ARTICLE = (
    "أعلنت وزارة الصحة في الرياض عن حملة جديدة للتطعيم تستمر ثلاثة أسابيع.\nوقال المتحدث إن الحملة تشمل جميع المناطق."
)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (ARTICLE.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + ARTICLE.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + ARTICLE.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + ARTICLE.encode("utf-16-be"), "utf-16-be"),
        (ARTICLE.encode("utf-16"), "utf-16-le"),  # Python writes a BOM and little-endian units
        (ARTICLE.encode("cp1256"), "cp1256"),
        (ARTICLE.encode("iso8859-6"), "iso8859-6"),
    ],
)
def test_decode_recovers_the_text_and_names_the_encoding(data, encoding):
    decoded = decode_bytes(data)
    assert decoded.text == ARTICLE
    assert decoded.encoding == encoding


def test_short_windows_1256_headline_decodes_as_arabic():
    headline = "الرياض تستضيف قمة"
    assert decode_bytes(headline.encode("cp1256")).text == headline


def test_utf16_without_bom_is_recognised():
    decoded = decode_bytes(ARTICLE.encode("utf-16-le"))
    assert decoded.text == ARTICLE


@pytest.mark.parametrize("data", [b"", b"   \n\t  ", codecs.BOM_UTF8])
def test_empty_and_whitespace_files_are_quarantined_as_empty(data):
    with pytest.raises(QuarantineError) as err:
        decode_bytes(data)
    assert err.value.reason == EMPTY_TEXT


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"%PDF-1.7\n%\xe2\xe3", b"PK\x03\x04\x14\x00", b"abc\x00\x01\x02def"],
)
def test_binary_content_is_quarantined(data):
    with pytest.raises(QuarantineError) as err:
        decode_bytes(data)
    assert err.value.reason == BINARY_CONTENT


def test_utf8_bom_with_invalid_bytes_is_undecodable():
    with pytest.raises(QuarantineError) as err:
        decode_bytes(codecs.BOM_UTF8 + b"\xff\xfe\xfa abc")
    assert err.value.reason == UNDECODABLE


def test_arabic_score_prefers_arabic_prose():
    assert arabic_score(ARTICLE) > 1.0
    assert arabic_score(ARTICLE.encode("cp1256").decode("latin-1")) < 0.5


@pytest.mark.parametrize(
    "text",
    ["naïve café", "Le café est naïve et élégant à Paris.", "El niño está en la montaña.", "Über die Straße, schön."],
)
def test_western_european_single_byte_text_decodes_right_and_says_it_was_a_guess(text):
    """Latin-1 and Windows-1252 files were read as cp1250 ("naďve") or even Urdu cp1006, unflagged."""
    for encoding in ("latin-1", "cp1252"):
        decoded = decode_bytes(text.encode(encoding))
        assert (decoded.text, decoded.encoding) == (text, "cp1252")
        assert decoded.repairs == ("encoding_guessed",)


def test_cyrillic_single_byte_text_is_not_taken_for_western():
    text = "Привет, как дела? Это тестовый текст на русском языке."
    decoded = decode_bytes(text.encode("cp1251"))
    assert decoded.encoding != "cp1252" and "encoding_guessed" in decoded.repairs


def test_arabic_code_pages_and_utf8_are_not_flagged_as_guesses():
    assert decode_bytes(ARTICLE.encode("cp1256")).repairs == ()
    assert decode_bytes(ARTICLE.encode("utf-8")).repairs == ()
