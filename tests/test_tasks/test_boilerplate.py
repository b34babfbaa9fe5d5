"""Boilerplate (tasks.boilerplate): found per run from what a source repeats, marked, kept out of the entities."""

import pytest

from tasks.boilerplate import MIN_DOCS, SAMPLE_BYTES, BoilerplateCounter, boilerplate_chars
from tasks.clean import clean_text
from tasks.documents import content_hash, process_document
from tasks.entities import load_extractor
from tasks.segment import split_sentences

FOOTER = "رابط الخبر بصحيفة الوئام:"
CONTACT = "للتواصل مع الكاتب ارسل رسالة"
STORIES = [
    ("وزير الخارجية يزور موسكو", "قال وزير الخارجية سيرغي لافروف في موسكو إن المحادثات كانت مثمرة."),
    ("افتتاح معرض الكتاب في عمان", "افتتح في عمان معرض الكتاب الدولي بمشاركة ناشرين من مصر ولبنان."),
    ("أمطار غزيرة على جدة", "شهدت مدينة جدة أمطارا غزيرة صباح اليوم وأغلقت المدارس أبوابها."),
    ("قمة المياه في القاهرة", "بدأت في القاهرة قمة المياه العربية بحضور وزراء من العراق وسوريا."),
    ("مهرجان التمور في بغداد", "انطلق في بغداد مهرجان التمور السنوي وسط إقبال كبير من الزوار."),
    ("توسعة ميناء جدة", "أعلنت هيئة الموانئ عن توسعة ميناء جدة الإسلامي خلال العام المقبل."),
    ("منتدى التقنية في الرياض", "استضافت الرياض منتدى التقنية بمشاركة شركات من اليابان وكوريا."),
    ("محطة شمسية في الرباط", "دشنت الحكومة في الرباط أكبر محطة للطاقة الشمسية في المغرب."),
]


def article(title: str, body: str, footer: bool = True) -> bytes:
    lines = [title, body]
    if footer:
        lines += [f"{FOOTER} {title}", CONTACT]
    return ("\n".join(lines) + "\n").encode()


def counted(files: dict[str, bytes]) -> dict:
    counter = BoilerplateCounter()
    for path, data in files.items():
        counter.add(path, content_hash(data), data)
    return counter.detected()


def wiam(n: int, footer_in: int) -> dict[str, bytes]:
    return {
        f"2015-08-01/alweeam/{i}.txt": article(
            f"{title} {i}", f"{i} {body}" if i >= len(STORIES) else body, i < footer_in
        )
        for i, (title, body) in enumerate((STORIES * 30)[:n])
    }


def test_a_footer_that_a_source_repeats_is_found_and_marked_with_its_lead_only():
    """The footer's lead (before its colon) repeats with a different title after it each time; the contact
    line repeats whole. The first is marked up to its colon, the second whole, the story not at all."""
    found = counted(wiam(8, footer_in=8))
    assert set(found) == {"alweeam"}
    text = article("خبر جديد", "نص الخبر الجديد.").decode()
    sentences = split_sentences(text)
    marks = boilerplate_chars(text, sentences, "alweeam", found["alweeam"])
    assert marks == [0, 0, len(FOOTER), len(CONTACT)]
    assert boilerplate_chars(text, sentences, "another-source", found["alweeam"]) == [0, 0, 0, 0]


def test_too_few_documents_or_too_small_a_share_is_not_boilerplate():
    assert counted(wiam(MIN_DOCS - 1, footer_in=MIN_DOCS - 1)) == {}
    assert counted(wiam(MIN_DOCS, footer_in=MIN_DOCS)) != {}
    assert counted(wiam(200, footer_in=9)) == {}  # 9 of 200: under 5%
    assert counted(wiam(200, footer_in=10)) != {}
    copies = {f"2015-08-01/alweeam/copy-{i}.txt": article("عنوان", "نص.") for i in range(MIN_DOCS)}
    assert counted(copies) == {}  # the same document five times is one document


def test_the_planner_reading_raw_bytes_and_the_shard_reading_clean_text_agree():
    """The planner sees raw bytes (CRLF, a zero-width space, tatweel, the footer at the end of a long one-line
    file, past the bytes it samples) and the shard the cleaned text; spacing and invisible characters aside,
    they agree."""
    long_body = "وقال المتحدث إن العمل مستمر في المشروع. " * (3 * SAMPLE_BYTES // 70)
    files = {
        f"2015-07-22/alweeam/{i}.txt": f"{title}\r\n\u200b{long_body}رابط الخـبر بصحيفة  الوئام : {title}".encode()
        for i, (title, _) in enumerate(STORIES)
    }
    assert all(len(data) > 2 * SAMPLE_BYTES for data in files.values())
    found = counted(files)
    text = clean_text(files["2015-07-22/alweeam/0.txt"].decode())
    sentences = split_sentences(text)
    footer = "رابط الخبر بصحيفة  الوئام :"
    assert text[sentences[-1].start :].startswith(footer)
    assert boilerplate_chars(text, sentences, "alweeam", found["alweeam"])[-1] == len(footer)


@pytest.fixture(scope="module")
def gazetteer():
    return load_extractor()


def test_entities_are_not_looked_for_in_boilerplate_and_the_text_is_kept(gazetteer):
    """The footer names the site (صحيفة الوئام, an organisation): with the footer found, no entity starts in
    it, and the story's entities and the document's text are unchanged."""
    files = wiam(8, footer_in=8)
    found = counted(files)
    path, data = "2015-08-01/alweeam/0.txt", files["2015-08-01/alweeam/0.txt"]
    plain = process_document(path, data, gazetteer)
    marked = process_document(path, data, gazetteer, boilerplate=found)
    footer_start = marked.text.index(FOOTER)
    in_footer = range(footer_start, footer_start + len(FOOTER))
    assert "الوئام" in {e.surface for e in plain.entities if e.char_start in in_footer}
    assert not [e for e in marked.entities if e.char_start in in_footer]
    story = [e for e in plain.entities if e.char_start < footer_start]
    assert story and [e for e in marked.entities if e.char_start < footer_start] == story
    assert marked.text == plain.text and marked.sentences == plain.sentences
    assert marked.boilerplate == [0, 0, len(FOOTER), len(CONTACT)] and plain.boilerplate == [0, 0, 0, 0]


def test_a_one_word_lead_is_not_boilerplate_and_counting_stops_at_max_counted(monkeypatch):
    """وأضاف: (he added:) opens quotes in many articles: a lead must have two words at least. Each source's
    first MAX_COUNTED documents alone are counted, so the planner's cost is bounded on any corpus."""
    quotes = {
        f"2015-08-01/sabq/{i}.txt": f"{t}\n{b}\nوأضاف: إن العمل مستمر {i}\n".encode()
        for i, (t, b) in enumerate(STORIES)
    }
    assert counted(quotes) == {}
    monkeypatch.setattr("tasks.boilerplate.MAX_COUNTED", 8)
    later = {f"2015-08-02/alweeam/{i}.txt": article(f"عنوان {i}", f"{i} نص.", footer=False) for i in range(200)}
    assert set(counted(wiam(8, footer_in=8) | later)) == {"alweeam"}  # 8 of 208 (under 5%), all of the first 8


def test_the_counter_is_settled_once_no_file_left_to_read_can_change_what_it_finds(monkeypatch):
    """The planner starts shards while it reads the other files once the boilerplate is settled: each source
    has its MAX_COUNTED documents counted, or none of its files is left. What it finds then is what it finds
    after every file (fails if a source is called settled early: the footer on the late files is missed)."""
    monkeypatch.setattr("tasks.boilerplate.MAX_COUNTED", 8)
    sabq = {f"2015-08-02/sabq/{i}.txt": article(f"{title} - سبق", body) for i, (title, body) in enumerate(STORIES[:6])}
    files = wiam(12, footer_in=12) | sabq
    order = sorted(files)  # alweeam's 12, then sabq's 6: read in path order
    counter = BoilerplateCounter(expecting=order)
    found_when_settled, read = None, []
    for path in order:
        counter.add(path, content_hash(files[path]), files[path])
        counter.read([path])
        read.append(path)
        if counter.settled and found_when_settled is None:
            found_when_settled = counter.detected()
            assert read == order  # sabq's 6 documents are under MAX_COUNTED: settled only once all are read
    assert found_when_settled == counter.detected() and set(found_when_settled) == {"alweeam", "sabq"}

    counter = BoilerplateCounter(expecting=order[:12])  # alweeam alone
    for n, path in enumerate(order[:12], start=1):
        counter.add(path, content_hash(files[path]), files[path])
        counter.read([path])
        assert counter.settled == (n >= 8)  # its first 8 documents are all that is counted
