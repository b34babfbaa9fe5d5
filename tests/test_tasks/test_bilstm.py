"""The bilstm backend: a BiLSTM-CRF trained beside a CRF, both in one model file, decoded together."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from fixtures.conll_sample import UNLABELLED, sentences, write_conll
from torchcrf import CRF

from tasks.entities import NerConfig, NerConfigError, load_extractor, resolve
from tasks.entities.bilstm import BiLSTMExtractor, model_meta
from tasks.entities.bio import read_conll, tokens_of_sentences
from tasks.entities.crf import CRFExtractor, ModelFileError, train
from tasks.entities.evaluate import evaluate


@pytest.fixture(scope="module")
def gold(tmp_path_factory):
    return read_conll(write_conll(tmp_path_factory.mktemp("gold") / "train.conll"))


@pytest.fixture(scope="module")
def crf_only(tmp_path_factory, gold):
    path = tmp_path_factory.mktemp("crf-only") / "m.crf"
    train(gold, path, max_iterations=20)
    return path


def test_it_learns_its_training_names_and_its_file_is_also_a_crf_model(bilstm_model, gold):
    scores = evaluate(BiLSTMExtractor(bilstm_model), gold)
    assert scores.micro["f1"] > 0.9, scores.micro
    assert set(scores.per_type) == {"PERS", "LOC", "ORG"}
    assert evaluate(CRFExtractor(bilstm_model), gold).micro["f1"] > 0.9  # the crf backend reads its CRF half


def test_decoding_is_the_best_path_of_the_summed_models(bilstm_model):
    """One Viterbi over the network's and the CRF's scores is what torchcrf decodes for the summed model:
    the labels line up, and the network's start and end transitions are counted."""
    extractor = BiLSTMExtractor(bilstm_model)
    network = extractor.network.crf
    summed = CRF(len(extractor.chain.labels), batch_first=True)
    summed.transitions.data = torch.tensor(extractor.chain.transitions, dtype=torch.float32)
    summed.start_transitions.data = network.start_transitions.data.clone()
    summed.end_transitions.data = network.end_transitions.data.clone()
    words = [[w for w, _ in s] for s in sentences()[:40]]
    checked = 0
    for sentence in words:
        _, tokens = tokens_of_sentences([sentence])
        (scores,) = extractor.scores([tokens])
        (context,) = extractor.crf.featurizer.contexts([tokens])
        with torch.no_grad():
            encoded = extractor.encoder.encode(tokens, extractor.crf.featurizer.sentence(tokens, context))
            emissions, _ = extractor.network([encoded])
        emissions = emissions[0, : len(tokens)].numpy() + extractor.crf.state_scores(tokens, context)
        everywhere = torch.ones(1, len(tokens), dtype=torch.bool)
        (expected,) = summed.decode(torch.tensor(emissions, dtype=torch.float32)[None], everywhere)
        assert extractor.chain.viterbi([scores])[0] == [extractor.chain.labels[y] for y in expected]
        checked += 1
    assert checked == 40


def test_a_sentences_scores_do_not_depend_on_what_it_is_batched_with(bilstm_model, monkeypatch):
    import tasks.entities.bilstm

    extractor = BiLSTMExtractor(bilstm_model)
    document = [tokens_of_sentences([[w for w, _ in s]])[1] for s in sentences()[:70]]  # two batches
    together = extractor.scores(document)
    monkeypatch.setattr(tasks.entities.bilstm, "BATCH", 1)
    for alone, scores in zip(extractor.scores(document), together, strict=True):
        np.testing.assert_allclose(scores, alone, rtol=1e-4, atol=1e-4)


def test_auto_chooses_bilstm_for_its_model_and_crf_for_a_crf_model(bilstm_model, crf_only, tiny_camel_model):
    """Also with the camel model installed: a model file named is a file camel cannot read."""
    assert resolve(NerConfig(backend="auto", model=str(bilstm_model))).backend == "bilstm"
    assert resolve(NerConfig(backend="auto", model=str(crf_only))).backend == "crf"
    assert load_extractor(NerConfig(backend="crf", model=str(bilstm_model))).name == "crf"


def test_a_crf_model_or_another_version_is_refused_in_one_sentence(bilstm_model, crf_only, tmp_path):
    with pytest.raises(NerConfigError, match="is a CRF model without a BiLSTM; train one with --backend bilstm"):
        resolve(NerConfig(backend="bilstm", model=str(crf_only)))
    with pytest.raises(NerConfigError, match="the bilstm backend needs a model file"):
        resolve(NerConfig(backend="bilstm"))
    old = tmp_path / "old.bilstm"
    with zipfile.ZipFile(bilstm_model) as source, zipfile.ZipFile(old, "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "bilstm.json":
                data = json.dumps(json.loads(data) | {"version": "0+crf0"}).encode()
            copy.writestr(item, data)
    with pytest.raises(ModelFileError, match=r"trained with bilstm v0\+crf0, this khabar has v.*; retrain it"):
        model_meta(old)


def test_its_crf_is_the_one_the_crf_backend_trains_from_the_same_data(bilstm_model, gold, tmp_path):
    """The same clusters, features and iterations: `--backend crf` and the CRF half of `--backend bilstm`
    are one model, so the bench's crf and bilstm rows compare the network's contribution alone."""
    alone = tmp_path / "alone.crf"
    train(gold, alone, unlabelled=UNLABELLED, max_iterations=60)
    with zipfile.ZipFile(alone) as a, zipfile.ZipFile(bilstm_model) as b:
        assert a.read("model.crfsuite") == b.read("model.crfsuite")
        assert a.read("vocabulary.json") == b.read("vocabulary.json")
