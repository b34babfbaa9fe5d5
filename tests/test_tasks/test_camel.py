"""The camel backend against camel-tools' own NERecognizer.predict, on a tiny model built here."""

from __future__ import annotations

import sys

import pytest

from tasks.clean import clean_text
from tasks.entities import NerConfig, NerConfigError, load_extractor, resolve
from tasks.entities.camel import MAX_SEQ_LENGTH, BatchedPredictor, CamelExtractor
from tasks.segment import split_sentences, tokenize

SENTENCES = [
    ["زار", "محمد", "العتيبي", "القاهرة", "."],
    ["وزارة", "الصحة", "في", "القاهرة", "،", "يورو"],
    ["كلمة"],
    ["محمد"] * 3 + ["غير", "معروف"],  # unknown words are [UNK]: one piece each
]


@pytest.fixture(scope="module")
def recognizer(tiny_camel_model):
    from camel_tools.ner import NERecognizer  # imports camel_tools.data: reads the test catalogue, offline

    return NERecognizer(str(tiny_camel_model), use_gpu=False)


@pytest.fixture(scope="module")
def predictor(tiny_camel_model):
    return BatchedPredictor(tiny_camel_model)


def test_batched_labels_equal_camel_tools_predict(recognizer, predictor):
    expected = recognizer.predict(SENTENCES)
    assert predictor.predict(SENTENCES) == expected
    assert predictor.predict(SENTENCES, batch_tokens=1) == expected  # one segment per batch
    assert expected[0] == ["O", "B-PERS", "I-PERS", "B-LOC", "O"]


def test_empty_input(recognizer, predictor):
    assert predictor.predict([]) == recognizer.predict([]) == []
    assert predictor.predict([[]]) == [[]]


def test_long_sentences_are_split_into_camel_tools_segments_not_truncated(recognizer, predictor):
    long = (["محمد", "العتيبي", "القاهرة", "كلمة"] * 100)[:330]  # 413 word pieces: two segments
    assert sum(len(predictor.pieces(w)) for w in long) > MAX_SEQ_LENGTH
    labels = predictor.predict([long, SENTENCES[0]])
    assert labels == recognizer.predict([long, SENTENCES[0]])
    assert len(labels[0]) == len(long)
    assert labels[0][-2:] == ["B-PERS", "I-PERS"]  # the last words, from the second segment


def test_invisible_characters_get_a_label_instead_of_vanishing(recognizer, predictor):
    words = ["محمد", "\u200f", "العتيبي"]
    assert len(recognizer.predict([words])[0]) == 2  # camel-tools silently drops the mark's label
    assert predictor.predict([words]) == [["B-PERS", "O", "I-PERS"]]


def test_extractor_on_cleaned_text_has_one_label_per_token(tiny_camel_model):
    text = clean_text("زار محمد\u200f العتيبي القاهرة.\nوزارة الصحة في القاهرة")
    tokens = tokenize(text, split_sentences(text))
    extractor = CamelExtractor(tiny_camel_model)
    found = [
        (m.type, text[tokens[m.token_start].start : tokens[m.token_end - 1].end]) for m in extractor.extract(tokens)
    ]
    assert found == [("PERS", "محمد العتيبي"), ("LOC", "القاهرة"), ("ORG", "وزارة الصحة"), ("LOC", "القاهرة")]
    assert extractor.version.startswith("1+") and len(extractor.model_hash) == 64


def test_a_name_camel_tagged_once_is_found_again_where_it_recurs(tiny_camel_model):
    """The tiny model reads بالقاهرة as one unknown piece, so it tags القاهرة and not its recurrence with a
    proclitic; a run finds it again (and versions the camel chain with it)."""
    from tasks.entities import code_version

    text = clean_text("زار محمد العتيبي القاهرة. وأقام محمد بالقاهرة.")
    tokens = tokenize(text, split_sentences(text))
    config = NerConfig(backend="camel", model=str(tiny_camel_model))

    def found(extractor):
        return [
            (m.type, text[tokens[m.token_start].start : tokens[m.token_end - 1].end]) for m in extractor.extract(tokens)
        ]

    assert ("LOC", "بالقاهرة") not in found(CamelExtractor(tiny_camel_model))
    assert found(load_extractor(config)) == [
        ("PERS", "محمد العتيبي"),
        ("LOC", "القاهرة"),
        ("PERS", "محمد"),
        ("LOC", "بالقاهرة"),
    ]
    assert "+again" in code_version(config)


def test_camel_without_a_model_fails_fast_and_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMELTOOLS_DATA", str(tmp_path))
    with pytest.raises(
        NerConfigError, match=r"the camel-tools NER model is not installed at .*camel_data -i ner-arabert"
    ):
        resolve(NerConfig(backend="camel"))


def test_auto_prefers_camel_then_crf_then_gazetteer(tmp_path, monkeypatch, tiny_camel_model):
    assert resolve(NerConfig(backend="auto")).backend == "camel"
    monkeypatch.setenv("CAMELTOOLS_DATA", str(tmp_path))
    from fixtures.conll_sample import write_conll

    from tasks.entities.bio import read_conll
    from tasks.entities.crf import train

    model = train(read_conll(write_conll(tmp_path / "train.conll")), tmp_path / "m.crf", max_iterations=5).path
    assert resolve(NerConfig(backend="auto", model=str(model))).backend == "crf"
    assert resolve(NerConfig(backend="auto")).backend == "gazetteer"
    junk = tmp_path / "junk.crf"
    junk.write_bytes(b"x")
    with pytest.raises(NerConfigError, match="is not a khabar CRF model"):
        resolve(NerConfig(backend="auto", model=str(junk)))


def test_the_camel_path_never_imports_camel_tools_ner(tiny_camel_model):
    import subprocess

    code = (
        "import sys; from tasks.entities import NerConfig, load_extractor; "
        f"load_extractor(NerConfig(backend='camel', model={str(tiny_camel_model)!r})); "
        "print(sorted(m for m in sys.modules if m.startswith('camel_tools.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "camel_tools.ner" not in out and "camel_tools.data" not in out


def test_load_extractor_builds_camel_once(tiny_camel_model):
    config = NerConfig(backend="camel", model=str(tiny_camel_model))
    assert load_extractor(config) is load_extractor(config)
