"""The CRF backend: training on a small corpus written for the project, tagging, evaluation, IOB2 helpers."""

from __future__ import annotations

import pytest
from fixtures.conll_sample import UNLABELLED, sentences, write_conll

from tasks.entities import NerConfig, NerConfigError, extract_many, load_extractor, resolve
from tasks.entities.bio import (
    ConllFormatError,
    labels_from_mentions,
    read_conll,
    spans_from_labels,
    tokens_of_sentences,
)
from tasks.entities.crf import CRFExtractor, ModelFileError, train
from tasks.entities.evaluate import evaluate


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crf")
    gold = read_conll(write_conll(folder / "train.conll"))
    unlabelled = UNLABELLED
    report = train(gold, folder / "ner.crf", unlabelled=unlabelled, max_iterations=60)
    assert report.n_sentences == len(gold) == 120 and report.n_unlabelled_sentences == 5
    return folder / "ner.crf"


def test_read_conll_and_reject_bad_tags(tmp_path):
    path = write_conll(tmp_path / "a.conll")
    first = read_conll(path)[0]
    assert first.words[:3] == ("قال", "سامر", "الخطيب") and first.labels[:3] == ("O", "B-PERS", "I-PERS")
    bad = tmp_path / "bad.conll"
    bad.write_text("كلمة PERSON\n", encoding="utf-8")
    with pytest.raises(ConllFormatError, match=r"bad.conll:1: 'PERSON' is not an IOB2 tag"):
        read_conll(bad)


def test_spans_and_labels_round_trip():
    labels = ["O", "B-PERS", "I-PERS", "B-LOC", "I-ORG", "O", "B-MISC"]
    spans = list(spans_from_labels(labels))
    assert spans == [("PERS", 1, 3), ("LOC", 3, 4), ("ORG", 4, 5), ("MISC", 6, 7)]
    from tasks.entities import Mention

    mentions = [Mention(t, s, e, "") for t, s, e in spans]
    assert labels_from_mentions(len(labels), mentions) == ["O", "B-PERS", "I-PERS", "B-LOC", "B-ORG", "O", "B-MISC"]


def test_spans_are_seqevals_reading_of_every_short_label_sequence():
    """spans_from_labels reads labels as seqeval's get_entities does (stray I-X included), 19 times
    faster (10 against 196 microseconds a 30-label sentence), which the CRF and camel pay per sentence."""
    import itertools

    from seqeval.metrics.sequence_labeling import get_entities

    tags = ["O", "B-PERS", "I-PERS", "B-LOC", "I-LOC"]
    for n in range(1, 6):
        for labels in itertools.product(tags, repeat=n):
            expected = [(t, start, last + 1) for t, start, last in get_entities(list(labels))]
            assert list(spans_from_labels(labels)) == expected, labels


def test_tokens_of_sentences_keep_offsets():
    text, tokens = tokens_of_sentences([["أ", "ب"], ["ج"]])
    assert [text[t.start : t.end] for t in tokens] == ["أ", "ب", "ج"]
    assert [t.sentence_idx for t in tokens] == [0, 0, 1]


def test_trained_crf_tags_new_sentences(model):
    extractor = CRFExtractor(model)
    _, tokens = tokens_of_sentences([["قال", "رامي", "حداد", "في", "بغداد", "إن", "وزارة", "الصحة", "ستبدأ"]])
    found = [(m.type, m.token_start, m.token_end) for m in extractor.extract(tokens)]
    assert found == [("PERS", 1, 3), ("LOC", 4, 5), ("ORG", 6, 8)]


def test_evaluate_reports_seqeval_scores(model, tmp_path):
    gold = read_conll(write_conll(tmp_path / "dev.conll", sentences()[:20]))
    scores = evaluate(CRFExtractor(model), gold).as_json()
    assert set(scores) == {"backend", "micro", "per_type", "n_sentences", "n_tokens", "seconds"}
    assert set(scores["micro"]) == {"precision", "recall", "f1", "support"}
    assert scores["micro"]["f1"] > 0.9 and scores["n_sentences"] == 20
    assert scores["backend"].startswith("crf ")


def test_seqeval_strict_mode_counts_boundary_errors():
    class Shifted:
        name, version = "shifted", "0"

        def extract(self, tokens):
            from tasks.entities import Mention

            return [Mention("PERS", 1, 2, "")]  # gold is PERS over tokens 1-2

    gold = read_conll(write_conll_tmp([[("قال", "O"), ("سامر", "B-PERS"), ("الخطيب", "I-PERS")]]))
    assert evaluate(Shifted(), gold).micro["f1"] == 0.0


def write_conll_tmp(rows):
    import tempfile
    from pathlib import Path

    return write_conll(Path(tempfile.mkdtemp()) / "x.conll", rows)


def test_model_version_carries_its_hash(model):
    extractor = load_extractor(NerConfig(backend="crf", model=str(model)))
    assert extractor.name == "crf" and extractor.model_hash[:12] in extractor.version.split("+")


def test_crf_config_errors_are_clear(tmp_path):
    with pytest.raises(NerConfigError, match="the crf backend needs a model file"):
        resolve(NerConfig(backend="crf"))
    with pytest.raises(NerConfigError, match="no CRF model file at"):
        resolve(NerConfig(backend="crf", model=str(tmp_path / "missing.crf")))
    junk = tmp_path / "junk.crf"
    junk.write_text("not a model")
    with pytest.raises(ModelFileError, match="is not a khabar CRF model"):
        CRFExtractor(junk)
    with pytest.raises(NerConfigError, match="is not a khabar CRF model"):
        resolve(NerConfig(backend="crf", model=str(junk)))


def test_the_names_read_from_a_crfsuite_model_are_those_crfsuite_gives_its_ids(model, tmp_path):
    """LinearChain reads the labels' and attributes' names from the model's CQDB chunks itself, where
    pycrfsuite's info() parsed a text dump of the whole model (0.15 s of each worker's start)."""
    import pycrfsuite

    from tasks.entities.chain import LinearChain
    from tasks.entities.crf import _members

    data = _members(model, "model.crfsuite")[0]
    (tmp_path / "model.crfsuite").write_bytes(data)
    tagger = pycrfsuite.Tagger()
    tagger.open(str(tmp_path / "model.crfsuite"))
    info = tagger.info()
    chain = LinearChain.from_crfsuite(data)
    assert chain.labels == tuple(sorted(info.labels, key=lambda label: int(info.labels[label])))
    assert chain.attributes == {name: int(i) for name, i in info.attributes.items()}
    assert len(chain.labels) > 3 and len(chain.attributes) > 20


def test_a_crfsuite_model_with_a_damaged_dictionary_is_refused_in_one_sentence(model):
    import struct

    from tasks.entities.chain import _HEADER, ChainModelError, LinearChain
    from tasks.entities.crf import _members

    data = bytearray(_members(model, "model.crfsuite")[0])
    off_attributes = _HEADER.unpack_from(data)[9]
    data[off_attributes : off_attributes + 4] = b"XXXX"
    with pytest.raises(ChainModelError, match="not a crfsuite CRF1d model: the chunk at"):
        LinearChain.from_crfsuite(bytes(data))
    data = bytearray(_members(model, "model.crfsuite")[0])
    backward = off_attributes + struct.unpack_from("<I", data, off_attributes + 20)[0]
    first = off_attributes + struct.unpack_from("<I", data, backward)[0]
    data[first : first + 4] = struct.pack("<i", 7)  # the first name's record says it is the eighth's
    with pytest.raises(ChainModelError, match="not a crfsuite CRF1d model: name 0 has the record of id 7"):
        LinearChain.from_crfsuite(bytes(data))


def test_loading_a_crf_model_imports_no_training_library(model):
    """The fork server builds the run's extractor before the first shard can start; scipy (the clusters'
    training) cost it 0.2 s there, and khabar's own process as much when it checked the model."""
    import subprocess
    import sys

    code = (
        "import sys; from tasks.entities import NerConfig, load_extractor; "
        f"load_extractor(NerConfig(backend='crf', model={str(model)!r})); "
        "print(sorted(m for m in ('scipy', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"


def test_a_model_trained_under_other_gazetteer_rules_must_be_retrained(model, monkeypatch):
    from tasks.entities import gazetteer

    monkeypatch.setattr(gazetteer, "VERSION", f"{gazetteer.VERSION}-next")
    with pytest.raises(ModelFileError, match="retrain it"):
        CRFExtractor(model)


def test_canonical_key_strips_a_proclitic_only_toward_a_more_frequent_word(model):
    extractor = CRFExtractor(model)
    extractor.counts.update({"روسيا": 100, "وروسيا": 3, "لبنان": 50, "بنان": 1})
    assert extractor.canonical(["وروسيا"]) == "روسيا"
    assert extractor.canonical(["لبنان"]) == "لبنان"
    assert extractor.meta["params"] == {"c1": 0.1, "c2": 0.01, "max_iterations": 60}  # as the model was trained


def _sample_documents() -> list[list[list]]:
    """The sample corpus's documents and the CoNLL sample's sentences (as one document), as token lists."""
    from fixtures.make_sample_corpus import ARTICLES

    from tasks.clean import clean_text
    from tasks.segment import split_sentences, tokenize

    out = []
    for *_, body in ARTICLES:
        if body is None:  # the files written as raw bytes
            continue
        text = clean_text(body)
        tokens = tokenize(text, split_sentences(text))
        out.append([[t for t in tokens if t.sentence_idx == idx] for idx in sorted({t.sentence_idx for t in tokens})])
    out.append([tokens_of_sentences([[w for w, _ in sentence]])[1] for sentence in sentences()])
    return out


def test_array_scores_are_the_weights_of_the_feature_strings_crfsuite_would_get(model):
    import numpy

    extractor = CRFExtractor(model)
    chain, featurizer = extractor.chain, extractor.featurizer
    with_document_features = 0
    for document in _sample_documents():
        for tokens, context in zip(document, featurizer.contexts(document), strict=True):
            expected = [chain.total(feats) for feats in featurizer.sentence(tokens, context)]
            numpy.testing.assert_allclose(extractor.state_scores(tokens, context), expected, rtol=0, atol=1e-9)
            with_document_features += sum(bool(e) for e in context.elsewhere)
    assert with_document_features > 20  # the document's features are among those compared


def test_a_documents_sentences_scored_side_by_side_score_as_each_sentence_alone(model, monkeypatch):
    """document_scores scores a document's sentences together, in chunks of tokens: a word's neighbours stop
    at its sentence's ends, and the scores are those of each sentence scored alone, to the bit."""
    import numpy

    from tasks.entities import crf

    extractor = CRFExtractor(model)
    documents = [document for document in _sample_documents() if len(document) > 1]
    assert sum(len(document) for document in documents) > 20
    (previous, key), _ = next(iter(extractor._bigrams.items()))  # a bigram the model knows, across two sentences
    documents.append([tokens_of_sentences([s])[1] for s in (["قال", previous], [key, "ثم", "."])])
    for chunk in (crf._CHUNK_TOKENS, 7):  # 7: chunks of a few sentences, and sentences longer than a chunk
        monkeypatch.setattr(crf, "_CHUNK_TOKENS", chunk)
        for document in documents:
            contexts = extractor.featurizer.contexts(document)
            together = extractor.document_scores(document)
            assert len(together) == len(document)
            for tokens, context, scores in zip(document, contexts, together, strict=True):
                numpy.testing.assert_array_equal(scores, extractor.state_scores(tokens, context))


def test_bigram_rows_find_what_the_bigram_strings_find_when_keys_hold_the_separator():
    from tasks.entities.crf import Featurizer, bigram_rows

    attributes = {
        Featurizer.bigram("a", "b"): 0,
        Featurizer.bigram("a|b", "c"): 1,
        "w=a": 2,
        Featurizer.bigram("|", "x"): 3,
    }
    rows = bigram_rows(attributes)
    for (previous, key), row in rows.items():
        assert attributes[Featurizer.bigram(previous, key)] == row
    for previous, key in [("a", "b"), ("a|b", "c"), ("a", "b|c"), ("|", "x"), ("", "|x")]:
        assert rows.get((previous, key)) == attributes.get(Featurizer.bigram(previous, key))
    assert rows.get(("a", "c")) is None


def test_array_tagger_gives_crfsuite_labels(model, tmp_path):
    import pycrfsuite

    from tasks.entities.crf import _members

    extractor = CRFExtractor(model)
    (tmp_path / "model.crfsuite").write_bytes(_members(model, "model.crfsuite")[0])
    crfsuite = pycrfsuite.Tagger()
    crfsuite.open(str(tmp_path / "model.crfsuite"))
    n_entities = 0
    for document in _sample_documents():
        tagged = extractor.chain.viterbi(extractor.document_scores(document))
        for labels, features in zip(tagged, extractor.featurizer.document(document), strict=True):
            assert labels == crfsuite.tag(features)
            n_entities += sum(label.startswith("B-") for label in labels)
    assert n_entities > 100  # the comparison covers real entities, not only O


def test_a_word_the_gazetteer_tagged_elsewhere_in_the_document_says_so_with_its_clitics():
    """`doc=TYPE`: the name a rule finds after a title (an invented one, on no list), where it recurs bare
    or with a clitic; a word tagged once, where it is tagged, has no `doc=` of its own making."""
    from tasks.entities.crf import Featurizer
    from tasks.entities.gazetteer import GazetteerExtractor

    featurizer = Featurizer(GazetteerExtractor.from_resources(), {})
    document = [
        "قال المخرج يوهان كرافتشيك إن الحلم رسالة .",
        "ثم كتب كرافتشيك كتابه الأول .",
        "وفي مكتبة فيينا نسخ كثيرة لكرافتشيك .",
    ]
    sentences_ = [tokens_of_sentences([s.split()])[1] for s in document]
    contexts = featurizer.contexts(sentences_)
    elsewhere = {
        (i, t.surface): e
        for i, (tokens, context) in enumerate(zip(sentences_, contexts, strict=True))
        for t, e in zip(tokens, context.elsewhere, strict=True)
    }
    assert [m.canonical_key for m in featurizer.gazetteer.extract(sentences_[0])] == ["يوهان كرافتشيك"]
    assert elsewhere[1, "كرافتشيك"] == ("doc=PERS",)
    assert elsewhere[2, "لكرافتشيك"] == ("doc=PERS",)
    assert elsewhere[0, "يوهان"] == elsewhere[0, "كرافتشيك"] == ()  # tagged there only
    assert elsewhere[1, "كتب"] == ()
    alone = featurizer.contexts(sentences_[1:])  # without the sentence that names him, nothing says so
    assert all(e == () for c in alone for e in c.elsewhere)


def test_score_table_computes_each_key_once_in_one_call_per_lookup_and_stays_right_past_its_capacity():
    import numpy

    from tasks.entities.chain import ScoreTable

    computed = []

    def compute(keys: list[str]) -> numpy.ndarray:
        computed.append(keys)
        return numpy.array([[float(len(k))] * 2 for k in keys])

    table = ScoreTable(compute, (2,), capacity=3)
    assert table.rows(["a", "bb", "a"]).tolist() == [[1, 1], [2, 2], [1, 1]]
    assert computed == [["a", "bb"]]  # the new keys together, each once
    assert table.rows(["bb", "a"]).tolist() == [[2, 2], [1, 1]]
    assert computed == [["a", "bb"]]  # nothing new: nothing computed
    assert table.rows(["ccc", "dddd", "a"]).tolist() == [[3, 3], [4, 4], [1, 1]]  # past capacity: starts afresh
    assert computed[-1] == ["ccc", "dddd", "a"]
    assert table.rows(["e" * n for n in range(1, 2000)]).tolist() == [[n, n] for n in range(1, 2000)]  # grows
    assert table.rows(["a"] * 2000).tolist() == [[1, 1]] * 2000


def test_the_rulings_over_the_crf_reuse_the_gazetteer_pass_its_features_made(model, monkeypatch):
    """The CRF's features tag each document with the gazetteer, and the rulings over the CRF read the same
    document's gazetteer tags: one pass, not two (0.6 ms of a document's 5). What each sentence gets from the
    document's pass is what tagging it alone gives."""
    from tasks.entities.gazetteer import GazetteerExtractor, packaged_gazetteer
    from tasks.segment import sentence_ranges

    gazetteer = packaged_gazetteer()
    documents = [[t for sentence in document for t in sentence] for document in _sample_documents()]
    compared = 0
    for tokens in documents:
        bounds = list(sentence_ranges(tokens))
        alone = [gazetteer.extract(tokens[a:b]) for a, b in bounds]
        assert gazetteer.sentence_mentions(tokens, bounds) == alone
        compared += sum(map(len, alone))
    assert compared > 50

    passes = []
    tagged = GazetteerExtractor._tagged
    monkeypatch.setattr(GazetteerExtractor, "_tagged", lambda self, tokens: passes.append(1) or tagged(self, tokens))
    extractor = load_extractor(NerConfig(backend="crf", model=str(model)))
    for tokens in documents:
        extractor.extract(list(tokens))  # new lists: the documents above are among those the gazetteer keeps
    assert len(passes) == len(documents)
    passes.clear()
    extract_many(extractor, [list(tokens) for tokens in documents])  # found together: still one pass each
    assert len(passes) == len(documents)


def test_documents_found_together_get_the_mentions_each_gets_alone(model, monkeypatch):
    """extract_many decodes the sentences of several documents in one Viterbi pass, in groups of like
    lengths past VITERBI_GROUP sentences; every document's mentions are those extract() gives it alone."""
    from tasks.entities import chain

    extractor = load_extractor(NerConfig(backend="crf", model=str(model)))
    documents = [[t for sentence in document for t in sentence] for document in _sample_documents()]
    documents.insert(2, [])
    alone = [extractor.extract(tokens) for tokens in documents]
    assert sum(map(len, alone)) > 100
    for group in (chain.VITERBI_GROUP, 7):  # 7: groups of a few sentences, sorted by length across documents
        monkeypatch.setattr(chain, "VITERBI_GROUP", group)
        assert extract_many(extractor, documents) == alone


MARKER = "وسمكذا"  # a word of no article: the document that holds it is made to fail


def _shard_of_sample_articles(tmp_path, model, max_doc_seconds=300.0):
    """A CRF shard of the sample corpus, and an article holding MARKER among them."""
    from fixtures.make_sample_corpus import write_corpus

    from tasks.documents import content_hash
    from tasks.shards import ShardSpec

    raw = tmp_path / "raw"
    write_corpus(raw)
    (raw / "marked.txt").write_text(f"زار محمد بن سلمان الرياض {MARKER} أمس.\nوقال إن الزيارة ناجحة.\n")
    paths = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file())
    hashes = tuple(content_hash((raw / p).read_bytes()) for p in paths)
    config = resolve(NerConfig(backend="crf", model=str(model)))
    return ShardSpec(
        "r-00000", str(raw), str(tmp_path / "out"), tuple(paths), hashes, "r", "f", config, max_doc_seconds
    )


def _outcomes_and_entities(result, out):
    """A shard's outcomes, and its entity rows without the columns of the run (processed_at)."""
    import pyarrow.parquet as pq
    from pipeline import RUN_COLUMNS

    table = pq.read_table(out / result.parts["entities"].path)
    rows = table.drop_columns([c for c in RUN_COLUMNS if c in table.column_names]).to_pylist()
    return [(o.path, o.status, o.reason) for o in result.outcomes], rows


def test_a_crf_shard_finds_entities_documents_at_a_time_as_one_at_a_time(tmp_path, model, monkeypatch):
    """With a backend that decodes documents together, a shard reads FOUND_TOGETHER documents, then finds
    their entities at once; its outcomes and rows are those of one document at a time, in the same order."""
    from tasks import shards

    spec = _shard_of_sample_articles(tmp_path, model)
    together = _outcomes_and_entities(shards.process_shard(spec), tmp_path / "out")
    monkeypatch.setattr(shards, "FOUND_TOGETHER", 1)
    one_by_one = _outcomes_and_entities(shards.process_shard(spec), tmp_path / "out")
    assert together == one_by_one
    statuses = [status for _, status, _ in together[0]]
    assert statuses.count("processed") > 5 and "quarantined" in statuses and len(together[1]) > 20


@pytest.mark.parametrize(("fault", "reason"), [("error", "processing_error"), ("slow", "too_slow")])
def test_a_document_that_fails_among_others_found_together_is_the_only_one_quarantined(
    tmp_path, model, monkeypatch, fault, reason
):
    """The documents found together are found again one by one when that fails or runs past the time limit:
    only the document at fault is quarantined, and the others keep their entities."""
    import time

    from tasks import shards

    spec = _shard_of_sample_articles(tmp_path, model, max_doc_seconds=1.0)
    expected_outcomes, expected_rows = _outcomes_and_entities(shards.process_shard(spec), tmp_path / "out")
    marked = next(o.doc_id for o in shards.process_shard(spec).outcomes if o.path == "marked.txt")
    assert any(row["doc_id"] == marked for row in expected_rows)
    read = CRFExtractor.document_sentences

    def failing(self, tokens):
        if any(t.surface == MARKER for t in tokens):
            if fault == "slow":
                time.sleep(5)  # stopped at 1 s by the time limit
            raise ValueError("a bug on this document")
        return read(self, tokens)

    monkeypatch.setattr(CRFExtractor, "document_sentences", failing)
    outcomes, rows = _outcomes_and_entities(shards.process_shard(spec), tmp_path / "out")
    assert outcomes == [(p, "quarantined", reason) if p == "marked.txt" else (p, s, r) for p, s, r in expected_outcomes]
    assert rows == [row for row in expected_rows if row["doc_id"] != marked]
