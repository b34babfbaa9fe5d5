import pytest

from tasks.clean import clean_text
from tasks.entities import UnknownBackendError, load_extractor
from tasks.entities.gazetteer import GazetteerExtractor
from tasks.entities.keys import display_name, proclitic_readings
from tasks.segment import split_sentences, tokenize


def entities(text: str, extractor=None):
    extractor = extractor or load_extractor("gazetteer")
    text = clean_text(text)
    tokens = tokenize(text, split_sentences(text))
    found = []
    for m in extractor.extract(tokens):
        surface = text[tokens[m.token_start].start : tokens[m.token_end - 1].end]
        found.append((m.type, surface, m.canonical_key))
    return found


@pytest.mark.parametrize(
    ("key", "reading"),
    [
        ("وروسيا", "روسيا"),
        ("لروسيا", "روسيا"),
        ("بالرياض", "الرياض"),
        ("للامم", "الامم"),
        ("وللامم", "الامم"),
        ("فبغداد", "بغداد"),
    ],
)
def test_proclitic_readings_include_the_stem(key, reading):
    readings = proclitic_readings(key)
    assert readings[0] == key
    assert reading in readings


def test_a_short_word_is_not_stripped_to_nothing():
    assert proclitic_readings("وب") == ("وب",)


@pytest.mark.parametrize("key", ["بين", "لكن", "فيه", "كما"])
def test_common_three_letter_words_are_not_read_as_a_clitic_and_a_two_letter_stem(key):
    # بين ("between") would otherwise be ب + ين, the yen
    assert proclitic_readings(key) == (key,)


def test_between_is_not_the_yen():
    assert [(t, surface) for t, surface, _ in entities("التعاون بين دول حوض النيل")] == [("LOC", "النيل")]


@pytest.mark.parametrize("surface", ["روسيا", "وروسيا", "لروسيا", "بروسيا", "فروسيا"])
def test_clitics_share_one_canonical_key(surface):
    assert entities(f"زار الوفد {surface} أمس") == [("LOC", surface, "روسيا")]


@pytest.mark.parametrize("surface", ["الرياض", "بالرياض", "والرياض", "وبالرياض"])
def test_article_names_keep_their_article_in_the_key(surface):
    assert entities(f"وصل الوفد {surface} مساء") == [("LOC", surface, "الرياض")]


def test_lil_contraction_restores_the_article():
    assert entities("قدم تقريرا للأمم المتحدة") == [("ORG", "للأمم المتحدة", "الامم المتحده")]


def test_spelling_variants_and_diacritics_match():
    assert entities("زار السعوديّة وإيران والمملكة العربية السعودية") == [
        ("LOC", "السعوديّة", "السعوديه"),
        ("LOC", "وإيران", "ايران"),
        ("LOC", "والمملكة العربية السعودية", "السعوديه"),
    ]


@pytest.mark.parametrize(
    ("surface", "key", "name"),
    [
        ("روسيا", "روسيا", "روسيا"),
        ("وروسيا", "روسيا", "روسيا"),
        ("وبالرياض", "الرياض", "الرياض"),
        ("والسعودية", "السعوديه", "السعودية"),  # teh marbuta as written, not as in the key
        ("للأمم المتحدة", "الامم المتحده", "الأمم المتحدة"),  # لل is ل + ال
        ("وللأمم المتحدة", "الامم المتحده", "الأمم المتحدة"),
        ("وَلِلأمم المتحدة", "الامم المتحده", "الأمم المتحدة"),  # diacritics on the proclitics go with them
        ("والاتحاد الأفريقي", "الاتحاد الافريقي", "الاتحاد الأفريقي"),
        ("والمملكة العربية السعودية", "السعوديه", "المملكة العربية السعودية"),  # an alias
        ("وليد الخطيب", "وليد الخطيب", "وليد الخطيب"),  # a name that starts like a proclitic
        ("Siemens", "siemens", "Siemens"),
    ],
)
def test_display_name_is_the_mention_as_written_without_its_proclitics(surface, key, name):
    assert display_name(surface, key) == name


def test_longest_gazetteer_match_wins():
    assert entities("اجتمع مجلس الأمن الدولي") == [("ORG", "مجلس الأمن الدولي", "مجلس الامن")]


def test_person_after_title_and_nationality_adjective():
    assert entities("وقال وزير الخارجية الروسي سيرغي لافروف إن") == [("PERS", "سيرغي لافروف", "سيرغي لافروف")]


def test_title_then_organisation_then_person():
    found = entities("وقال المتحدث باسم منظمة الصحة العالمية طارق ياسين إن")
    assert found == [
        ("ORG", "منظمة الصحة العالمية", "منظمه الصحه العالميه"),
        ("PERS", "طارق ياسين", "طارق ياسين"),
    ]


def test_organisation_head_noun_with_complement():
    assert entities("أعلنت ووزارة الزراعة العراقية خطة") == [
        ("ORG", "ووزارة الزراعة العراقية", "وزاره الزراعه العراقيه")
    ]


def test_given_name_needs_a_second_name():
    assert entities("قال خالد العتيبي إن") == [("PERS", "خالد العتيبي", "خالد العتيبي")]
    assert entities("كان يوما سعيد") == []


def test_ala_is_not_the_name_ali():
    assert entities("على الأقل على وقف") == []


def test_listed_names_are_separate_people():
    assert entities("بحضور تشارلز كوبشان وتوماس جراهام") == [
        ("PERS", "تشارلز كوبشان", "تشارلز كوبشان"),
        ("PERS", "وتوماس جراهام", "توماس جراهام"),
    ]


def test_names_do_not_switch_script():
    assert entities("وأضاف اللاعب Lucas Moreira الهدف الثالث") == [("PERS", "Lucas Moreira", "lucas moreira")]


def test_place_after_place_head():
    assert entities("قرب مدينة ورزازات المغربية") == [("LOC", "ورزازات المغربية", "ورزازات المغربيه")]


def test_mentions_never_cross_sentences():
    found = entities("وصل الرئيس محمد\nسامر الخطيب غادر")  # one name per line, not محمد سامر الخطيب
    assert found == [("PERS", "محمد", "محمد"), ("PERS", "سامر الخطيب", "سامر الخطيب")]


def test_user_gazetteer_adds_and_overrides(tmp_path):
    watch = tmp_path / "watch.tsv"
    watch.write_text("ORG\tالمجموعة الخضراء\tالخضراء\nMISC\tكأس العالم\n", encoding="utf-8")
    extractor = GazetteerExtractor.from_resources(extra_files=[str(watch)])
    assert entities("فازت الخضراء في كأس العالم", extractor) == [
        ("ORG", "الخضراء", "المجموعه الخضراء"),
        ("MISC", "كأس العالم", "كاس العالم"),
    ]
    assert extractor.version != load_extractor("gazetteer").version


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(UnknownBackendError, match="unknown NER backend 'nope'"):
        load_extractor("nope")


def test_packaged_lists_give_each_name_one_type():
    extractor = GazetteerExtractor.from_resources()
    types_by_key: dict[tuple[str, ...], set[str]] = {}
    from tasks.entities.gazetteer import _LIST_FILES, PhraseIndex, _add_name, _resource, _rows

    for type_, filename in _LIST_FILES.items():
        index = PhraseIndex()
        for row in _rows(_resource(filename)):
            _add_name(index, type_, row)
        for keys in index.phrases:
            types_by_key.setdefault(keys, set()).add(type_)
    clashes = {k: v for k, v in types_by_key.items() if len(v) > 1}
    assert not clashes
    assert len(extractor.names.phrases) > 500


def test_the_extractor_is_built_once_per_process():
    assert load_extractor("gazetteer") is load_extractor("gazetteer")


def test_a_name_introducing_head_is_not_part_of_the_organisation():
    assert entities("ذكرت صحيفة الأهرام القاهرية") == [("ORG", "الأهرام", "الاهرام")]
    assert entities("وقال مدرب نادي الزمالك") == [("ORG", "الزمالك", "الزمالك")]


def test_the_subject_after_a_reporting_verb_is_a_person():
    assert entities("وقال كوفيندا إن الاتفاق قريب") == [("PERS", "كوفيندا", "كوفيندا")]
    assert entities("وقال مسؤولون إن الاتفاق قريب") == []


def test_a_first_name_that_is_also_a_word_needs_a_clear_second_part():
    assert entities("ركز علي الطرق الحديثة") == []
    assert entities("وصل علي بن حسن العتيبي") == [("PERS", "علي بن حسن العتيبي", "علي بن حسن العتيبي")]


def test_god_in_a_compound_name_stays_in_the_name():
    assert entities("استقبل عبد الله الخطيب الوفد") == [("PERS", "عبد الله الخطيب", "عبد الله الخطيب")]


def test_currencies_and_events_are_misc():
    assert entities("ارتفع الدولار قبل كأس العالم") == [
        ("MISC", "الدولار", "دولار"),
        ("MISC", "كأس العالم", "كاس العالم"),
    ]


def test_no_tokens_no_mentions():
    assert load_extractor("gazetteer").extract([]) == []


# The errors a reader found in the top entities of real news (issue 12), each at its cause.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("افتتح حديقة الملك فهد المركزية أمس", ("LOC", "حديقة الملك فهد المركزية")),
        ("في مركز الملك فهد الثقافي", ("ORG", "مركز الملك فهد الثقافي")),
        ("على طريق الملك عبدالعزيز", ("LOC", "طريق الملك عبدالعزيز")),
        ("أعلنت مدينة الملك عبدالله الطبية", ("LOC", "مدينة الملك عبدالله الطبية")),
        ("وصل إلى مطار الملك خالد الدولي", ("LOC", "مطار الملك خالد الدولي")),
        ("في جامعة الملك سعود", ("ORG", "جامعة الملك سعود")),
        ("نقل إلى مستشفى الملك فهد التخصصي", ("ORG", "مستشفى الملك فهد التخصصي")),
        ("زار لمركز الملك سلمان للإغاثة", ("ORG", "لمركز الملك سلمان")),
        ("في متنزه الملك عبدالله", ("LOC", "متنزه الملك عبدالله")),
        ("في حدائق الملك عبدالله", ("LOC", "حدائق الملك عبدالله")),
        ("افتتحت مكتبة الملك عبدالعزيز العامة", ("ORG", "مكتبة الملك عبدالعزيز")),
        ("أصدرت دارة الملك عبدالعزيز كتابا", ("ORG", "دارة الملك عبدالعزيز")),
        ("دخلوا من باب الملك عبدالعزيز", ("LOC", "باب الملك عبدالعزيز")),
    ],
)
def test_a_place_or_institution_named_after_a_person_is_not_the_person(text, expected):
    found = entities(text)
    assert [(t, s) for t, s, _ in found] == [expected]


def test_a_named_place_keeps_its_own_key_apart_from_the_person():
    (park,) = entities("في حديقة الملك فهد")
    (king,) = entities("استقبل الملك فهد الوفد")
    assert park[0] == "LOC" and king[0] == "PERS" and park[2] != king[2]


def test_a_person_with_title_and_lineage_is_one_mention_of_that_person():
    found = entities("استقبل خادم الحرمين الشريفين الملك سلمان بن عبدالعزيز آل سعود الوفد")
    assert [(t, key) for t, _, key in found] == [("PERS", entities("الملك سلمان")[0][2])]
    assert found[0][1] == "خادم الحرمين الشريفين الملك سلمان بن عبدالعزيز آل سعود"


def test_a_family_name_after_a_listed_persons_lineage_names_another_person():
    """عبدالله بن عبدالعزيز is King Abdullah; الدكتور عبدالله بن عبدالعزيز الربيعة, a minister, is someone else;
    without a professional title, the article word after the lineage is the next noun (الوفد)."""
    king = entities("استقبل الملك عبدالله الوفد")[0][2]
    for text in ("وقال الدكتور عبدالله بن عبدالعزيز الربيعة وزير الصحة إن", "أكد د. عبدالله بن عبدالعزيز الربيعة"):
        found = entities(text)
        assert [(t, s) for t, s, _ in found if t == "PERS"] == [("PERS", "عبدالله بن عبدالعزيز الربيعة")], text
        assert found[0][2] != king
    for text in (
        "استقبل عبدالله بن عبدالعزيز الوفد",
        "وكان عبدالله بن عبدالعزيز السعودي",
        "عبدالله بن عبدالعزيز الخميس",
    ):
        assert [(t, key) for t, _, key in entities(text)] == [("PERS", king)], text


@pytest.mark.parametrize(
    "text",
    [
        "قال حفظه الله إن",
        "وسيعود إن شاء الله قريبا",
        "الملك عبدالله رحمه الله",
        "بمشيئة الله تعالى",
        "ونسأل الله أن يوفقهم",
    ],
)
def test_a_religious_formula_is_not_an_entity(text):
    assert [m for m in entities(text) if m[0] == "MISC"] == []


@pytest.mark.parametrize(
    ("text", "people"),
    [
        # رحمه read as the given name رحمة, and الله as its family name: 4 such people on real news
        ("ثم قال رحمه الله وغادر.", []),
        ("والفقيد رحمه الله كان يقرؤه.", []),
        ("قال النبي محمد صلى الله عليه وسلم إن الدين يسر.", []),
        ("وقال الملك فيصل بن فهد رحمه الله إن", ["فيصل بن فهد"]),
        ("روى أنس بن مالك رضي الله عنه", ["أنس بن مالك"]),
        ("وقال عبد الله بن عمر إن", ["عبد الله بن عمر"]),  # الله in a name, not after a formula's word
    ],
)
def test_a_religious_formula_is_never_part_of_a_name(text, people):
    found = entities(text)
    assert [s for t, s, _ in found if t == "PERS"] == people
    assert [m for m in found if m[0] == "MISC"] == []


def test_the_name_of_god_outside_a_formula_is_still_tagged():
    assert ("MISC", "الله", "الله") in entities("آمنوا بالله ورسوله ثم ذكروا الله كثيرا")


@pytest.mark.parametrize(
    "text",
    [
        "وأكد بأن المشروع يبدأ قريبا",  # بأن is not the given name بان
        "قال بأنه إذا تم اعتماد القرار",
        "وأوضح المتحدث بأنها ستبدأ",
        "وأعرب سموه عن شكره",
        "وقال معالي وزير الصحة إن",
        "للتواصل مع الكاتب ارسل رسالة",
    ],
)
def test_function_words_honorifics_and_verbs_are_never_names(text):
    assert [m for m in entities(text) if m[0] == "PERS"] == []


def _mentions_of(tokens, found: list[tuple[str, str]]) -> list:
    """Mentions given as (type, surface) in text order, as a backend would find them."""
    from tasks.entities import Mention
    from tasks.entities.keys import canonical_key

    mentions, i = [], 0
    for type_, surface in found:
        n = len(surface.split())
        while " ".join(t.surface for t in tokens[i : i + n]) != surface:
            i += 1
            assert i < len(tokens), f"{surface} is not in the text"
        mentions.append(Mention(type_, i, i + n, canonical_key([t.key for t in tokens[i : i + n]])))
        i += n
    return mentions


def _keys_in(text: str, found: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Document consistency over mentions given as (type, surface) in text order, as a backend would find them."""
    from tasks.entities import _name_words
    from tasks.entities.consistency import consistent_keys

    tokens = tokenize(text, split_sentences(text))
    mentions = _mentions_of(tokens, found)
    out = consistent_keys(tokens, mentions, *_name_words())
    assert [(m.type, m.token_start, m.token_end) for m in out] == [
        (m.type, m.token_start, m.token_end) for m in mentions
    ]
    return [(m.type, " ".join(t.surface for t in tokens[m.token_start : m.token_end]), m.canonical_key) for m in out]


def test_a_family_name_alone_takes_the_key_of_the_full_name_in_the_document():
    text = "التقى الوزير سيرغي لافروف نظيره أمس. وقال لافروف إن المحادثات جيدة، ثم غادر ولافروف مبتسم."
    assert _keys_in(text, [("PERS", "سيرغي لافروف"), ("PERS", "لافروف"), ("PERS", "ولافروف")]) == [
        ("PERS", "سيرغي لافروف", "سيرغي لافروف"),
        ("PERS", "لافروف", "سيرغي لافروف"),
        ("PERS", "ولافروف", "سيرغي لافروف"),
    ]


def test_a_family_name_shared_by_two_people_in_a_document_is_left_alone():
    text = "قال محمد الأحمد إن خالد الأحمد سيحضر. وأكد الأحمد ذلك."
    assert _keys_in(text, [("PERS", "محمد الأحمد"), ("PERS", "خالد الأحمد"), ("PERS", "الأحمد")])[-1] == (
        "PERS",
        "الأحمد",
        "الاحمد",
    )


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # after a lineage word the last name is the father's or the family's, not this person's alone
        ("وصل سلمان بن عبدالعزيز إلى الرياض. وكان عبدالعزيز قد أسس المملكة.", ["سلمان بن عبدالعزيز", "عبدالعزيز"]),
        # لجان ("committees") is not ل + the given name جان
        ("وأنهت لجان المقابلات عملها. وقالت المقابلات إن...", ["لجان المقابلات", "المقابلات"]),
        # a given name is nobody's family name
        ("قال محمد علي إن الاجتماع انتهى. وغادر علي القاعة.", ["محمد علي", "علي"]),
    ],
)
def test_a_word_that_is_no_family_name_keeps_its_key(text, found):
    result = _keys_in(text, [("PERS", f) for f in found])
    assert result[-1][2] == result[-1][1].replace("أ", "ا").replace("إ", "ا")  # its own key


def test_a_family_name_the_backend_keyed_as_a_listed_full_name_keeps_that_key():
    from tasks.entities import Mention, _name_words
    from tasks.entities.consistency import consistent_keys

    text = "قال جواد ظريف إن المحادثات جيدة. وأكد ظريف ذلك."
    tokens = tokenize(text, split_sentences(text))
    mentions = [Mention("PERS", 1, 3, "جواد ظريف"), Mention("PERS", 8, 9, "محمد جواد ظريف")]
    assert tokens[8].surface == "ظريف"
    assert consistent_keys(tokens, mentions, *_name_words()) == mentions


def test_a_family_name_also_tagged_as_another_type_in_the_document_is_left_alone():
    text = "زار جون جاكسون المدينة. وفي جاكسون قال جاكسون إن الطقس جميل."
    found = [("PERS", "جون جاكسون"), ("LOC", "جاكسون"), ("PERS", "جاكسون")]
    assert _keys_in(text, found)[-1] == ("PERS", "جاكسون", "جاكسون")


def test_every_backend_is_made_consistent_within_a_document():
    from tasks.entities.consistency import VERSION, DocumentConsistency

    extractor = load_extractor("gazetteer")
    assert isinstance(extractor, DocumentConsistency)
    assert extractor.version.endswith(f"+doc{VERSION}")


class _Scripted:
    """A learned backend that finds, in any document, the mentions it is given as (type, surface)."""

    name, version, model_hash = "scripted", "0+abc", "abc"

    def __init__(self, found: list[tuple[str, str]]) -> None:
        self.found = found

    def extract(self, tokens):
        return _mentions_of(tokens, self.found)


def _scripted_backend(monkeypatch, found: list[tuple[str, str]], finds_again: bool = False):
    """The scripted backend, in the registry and loaded as a run loads any backend (once per process: the
    extractor is cached by its configuration)."""
    from tasks.entities import NerConfig
    from tasks.entities.backends import BACKENDS, Backend

    backend = Backend(
        name="scripted",
        reads_model=False,
        available=lambda config: False,
        check=lambda config: config,
        code_version=lambda: "0",
        model_hash=lambda config: "abc",
        load=lambda config: _Scripted(found),
        finds_again=finds_again,
    )
    monkeypatch.setitem(BACKENDS, "scripted", backend)
    load_extractor.cache_clear()  # another test's scripted backend has the same configuration
    return load_extractor(NerConfig(backend="scripted"))


def test_the_gazetteers_rulings_overrule_a_learned_backend(monkeypatch):
    """The errors a model trained on ANERcorp made on real news (a king's name inside the institution named
    after him, MISC for the name of God in a religious formula, an honorific pronoun as a person) are
    overruled by the gazetteer's rules; what the rules do not decide (كتاب الله, الرياض) stays the model's."""
    text = "زار الوفد مركز الملك سلمان للإغاثة في الرياض، ثم قال سموه رحمه الله إن كتاب الله يهدي."
    found = [("PERS", "سلمان"), ("LOC", "الرياض"), ("PERS", "سموه"), ("MISC", "الله"), ("MISC", "الله")]
    assert entities(text, _scripted_backend(monkeypatch, found)) == [
        ("ORG", "مركز الملك سلمان", entities("في مركز الملك سلمان")[0][2]),
        ("LOC", "الرياض", "الرياض"),
        ("MISC", "الله", "الله"),
    ]


def test_a_name_found_once_is_found_again_where_it_recurs_in_the_document(monkeypatch):
    """The model tagged each name once; a run finds the rest (a longer name before its last word, a name with
    a proclitic), and the short name then takes the full name's key."""
    text = (
        "التقى الوزير سيرغي لافروف نظيره في موسكو أمس. وعاد لافروف إلى موسكو. "
        "وقال سيرغي لافروف إن المحادثات جيدة، وغادر ولافروف موسكو مبتسما."
    )
    found = [("PERS", "سيرغي لافروف"), ("LOC", "موسكو"), ("PERS", "لافروف")]
    full = entities("سيرغي لافروف", _scripted_backend(monkeypatch, [("PERS", "سيرغي لافروف")]))[0][2]
    assert entities(text, _scripted_backend(monkeypatch, found, finds_again=True)) == [
        ("PERS", "سيرغي لافروف", full),
        ("LOC", "موسكو", "موسكو"),
        ("PERS", "لافروف", full),
        ("LOC", "موسكو", "موسكو"),
        ("PERS", "سيرغي لافروف", full),
        ("PERS", "ولافروف", full),
        ("LOC", "موسكو", "موسكو"),
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # the model read العربي as an organisation once and as a word three times: it was right three times
        ("قال نادي العربي إن الفريق العربي فاز، والشعر العربي والأدب العربي بخير.", [("ORG", "العربي")]),
        # a name the model tagged with two types is no name to spread
        ("زار جاكسون المدينة. وفي جاكسون قال جاكسون إن الطقس جميل.", [("PERS", "جاكسون"), ("LOC", "جاكسون")]),
    ],
)
def test_a_name_the_backend_doubted_is_not_found_again(monkeypatch, text, found):
    tagged = entities(text, _scripted_backend(monkeypatch, found))
    assert entities(text, _scripted_backend(monkeypatch, found, finds_again=True)) == tagged


def test_a_learned_backends_name_ends_before_a_religious_formula(monkeypatch):
    """The bilstm read formulas into names on real news (PERS رحمه الله 11, محمد صلى الله 10): a name ends
    before the formula's word, and a formula alone is no name."""
    text = "قال النبي محمد صلى الله عليه وسلم. وقال رحمه الله إن فيصل بن فهد رحمه الله زار المدينة."
    found = [("PERS", "محمد صلى الله"), ("PERS", "رحمه الله"), ("PERS", "فيصل بن فهد رحمه الله")]
    assert [(t, s, key) for t, s, key in entities(text, _scripted_backend(monkeypatch, found))] == [
        ("PERS", "محمد", "محمد"),
        ("PERS", "فيصل بن فهد", "فيصل بن فهد"),
    ]


def test_the_rulings_also_judge_what_was_found_again(monkeypatch):
    """MISC الله in كتاب الله is the model's to find; found again in رحمه الله, the formula's ruling removes it."""
    from tasks.entities.consistency import found_again

    text = "إن كتاب الله يهدي. ثم قال سموه رحمه الله إن الخير كثير."
    found = [("MISC", "الله")]
    tokens = tokenize(text, split_sentences(text))
    assert [tokens[m.token_start].surface for m in found_again(tokens, _mentions_of(tokens, found))] == ["الله"] * 2
    assert entities(text, _scripted_backend(monkeypatch, found, finds_again=True)) == [("MISC", "الله", "الله")]


def test_only_the_learned_backends_find_their_names_again():
    from tasks.entities import consistency
    from tasks.entities.backends import BACKENDS

    assert {name for name, b in BACKENDS.items() if b.finds_again} == {"crf", "bilstm", "camel"}
    assert "+again" not in load_extractor("gazetteer").version
    assert consistency.AGAIN_VERSION


def test_the_gazetteer_is_not_ruled_twice_and_a_learned_backend_is_versioned_with_its_rulings():
    from tasks.entities import NerConfig, code_version, rulings
    from tasks.entities.gazetteer import GazetteerExtractor

    assert isinstance(load_extractor("gazetteer").inner, GazetteerExtractor)
    assert "rulings" not in code_version(NerConfig())
    with pytest.raises(Exception, match="needs a model file"):
        code_version(NerConfig(backend="crf"))
    assert f"+rulings{rulings.VERSION}+" not in load_extractor("gazetteer").version


def test_a_backend_added_to_the_registry_is_resolved_loaded_versioned_and_hashed(monkeypatch):
    from tasks.entities import NerConfig, code_version, consistency, model_hash, resolve, rulings
    from tasks.entities.backends import BACKENDS, Backend

    class Nothing:
        name, version, model_hash = "nothing", "0+abc", "abc"

        def extract(self, tokens):
            return []

    backend = Backend(
        name="nothing",
        reads_model=False,
        available=lambda config: False,
        check=lambda config: config,
        code_version=lambda: "0",
        model_hash=lambda config: "abc",
        load=lambda config: Nothing(),
    )
    monkeypatch.setitem(BACKENDS, "nothing", backend)
    config = resolve(NerConfig(backend="nothing"))
    assert config.backend == "nothing"
    assert code_version(config) == f"0+rulings{rulings.VERSION}+doc{consistency.VERSION}"
    assert model_hash(config) == "abc"
    assert entities("زار الوفد الرياض أمس", load_extractor(config)) == []


def test_the_command_line_and_the_settings_name_every_backend():
    from typer.testing import CliRunner

    from flows.cli import app
    from flows.settings import Settings
    from tasks.entities.backends import CHOICES

    help_text = " ".join(CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output.split())
    description = Settings.model_fields["ner"].description or ""
    for name in CHOICES:
        assert name in help_text and name in description


def test_sentence_ranges_group_a_documents_tokens_by_sentence():
    from tasks.segment import sentence_ranges

    text = "قال الوزير. وصل الوفد إلى الرياض. انتهى"
    tokens = tokenize(text, split_sentences(text))
    ranges = list(sentence_ranges(tokens))
    assert [[t.sentence_idx for t in tokens[a:b]] for a, b in ranges] == [[0] * 3, [1] * 5, [2]]
    assert list(sentence_ranges([])) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("وصل الوفد إلى كابل أمس", [("LOC", "كابول")]),  # a spelling variant, not ك + آبل (Apple)
        ("اندلع القتال في ليبيريا", [("LOC", "ليبيريا")]),
        ("زار أمريكا الجنوبية ثم أمريكا", [("LOC", "امريكا الجنوبيه"), ("LOC", "الولايات المتحده")]),
        ("فاز تشلسي على نيوكاسل", [("ORG", "تشلسي"), ("ORG", "نيوكاسل")]),
        ("يقود سيارة أودي", [("ORG", "اودي")]),
        ("التقى كوفي عنان بالوزير", [("PERS", "كوفي عنان")]),
        ("التقى جوزيف ستيغليتز بالوزير", [("PERS", "جوزيف ستيغليتز")]),  # a first name opens an unlisted name
        ("كان يلتسين إصلاحيا", [("PERS", "بوريس يلتسين")]),  # a listed family name alone: the full name's key
        ("ذهل العالم بنظرية أينشتاين", [("PERS", "البرت اينشتاين")]),
        ("سجل تييري هنري هدفا", [("PERS", "تييري هنري")]),
        ("أفادت وكالة شينخوا بأن", [("ORG", "شينخوا")]),
        ("أعلنت جبهة البوليساريو رفضها", [("ORG", "جبهه البوليساريو")]),
        ("احتفل المسلمون بعيد الفطر", [("MISC", "عيد الفطر")]),
        ("وقع اتفاق أوسلو", [("LOC", "اوسلو")]),  # a treaty named after a place: the place, as ANERcorp tags it
        ("أدى الصلاة في بيت الله الحرام", [("MISC", "المسجد الحرام")]),  # a holy site, not MISC الله
        ("زار المسجد الأقصى المبارك", [("MISC", "المسجد الاقصي")]),  # the honorific is not part of the name
    ],
)
def test_the_wider_lists_name_places_clubs_companies_and_first_names(text, expected):
    assert [(t, key) for t, _, key in entities(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("على الصعيد الدولي", []),  # "at the level": not Upper Egypt
        ("كان الاجتماع في الرياض", [("LOC", "الرياض")]),  # "was": not Cannes
        ("وجدة أكبر من الطائف", [("LOC", "جده"), ("LOC", "الطائف")]),  # و + Jeddah: not Oujda
        ("رأت العين ذلك", []),  # "the eye": not Al Ain
        ("التقى جون بولتون بالوزير", [("PERS", "جون بولتون")]),  # not the Bolton club
        ("لولا الدعم لما نجح المشروع", []),  # "were it not for": not Lula da Silva
        ("فتح الباب أمام الجميع", []),  # "opened": only حركة فتح is the movement
        ("بلغ الحد الأقصى للسرعة", []),  # "the maximum": a bare الأقصى is not the mosque
    ],
)
def test_place_and_club_names_that_are_everyday_words_or_surnames_are_left_out(text, expected):
    assert [(t, key) for t, _, key in entities(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("نفى المسؤول هذا الخبر جملة", []),  # a demonstrative: "this news"
        ("لم يكن لهذا الخبر أي أساس", []),
        ("حتى كتابة الخبر لم يرد", []),  # the complement of a noun of reporting
        ("وكان الخبر المنشور خاطئا", []),  # a masculine adjective or relative: a city is feminine
        ("انتشر الخبر الذي نشرته الصحيفة", []),
        ("في محافظة الخبر اليوم", [("LOC", "الخبر")]),
        ("الواجهة البحرية بالخبر مساء", [("LOC", "الخبر")]),
        ("من الدمام والخبر وحتى الجبيل", [("LOC", "الدمام"), ("LOC", "الخبر"), ("LOC", "الجبيل")]),
    ],
)
def test_khobar_is_not_the_news(text, expected):
    """الخبر is the city of Khobar and the noun "the news"; where the words around it say noun, it is no place."""
    assert [(t, key) for t, _, key in entities(text)] == expected
