"""Entity extraction figures: quality on a dev split of the shared ANERcorp training file, speed of each
backend, and the camel batched predictor against camel-tools' NERecognizer.predict.

Run: .venv/bin/python bench/ner_bench.py [--camel-sentences N] [--skip-camel] [--folds K] (about 35 minutes)
Needs ../shared/data/anercorp/train.conll and ../shared/data/saudinewsnet (never committed); writes
nothing into the project. The dev split is the last 10% of the training file's sentences; the CRF
is trained on the first 90% (and, for the timing of a full model, on all of it).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONLL = SHARED / "data" / "anercorp" / "train.conll"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unpack_saudinewsnet(work: Path) -> Path:
    raw = work / "saudinewsnet"
    if not raw.exists():
        zips = sorted((SHARED / "data" / "saudinewsnet").glob("*.zip"))
        tool = SHARED / "tools" / "saudinewsnet_to_txt.py"
        subprocess.run([sys.executable, str(tool), str(raw), *map(str, zips)], check=True, capture_output=True)
    return raw


def fmt_scores(s) -> str:
    per = " · ".join(
        f"{k} {v['f1']:.3f} (P {v['precision']:.2f} R {v['recall']:.2f})" for k, v in sorted(s.per_type.items())
    )
    return f"**{s.micro['f1']:.3f}** (P {s.micro['precision']:.3f} R {s.micro['recall']:.3f}) | {per}"


def training_data(work: Path) -> tuple[list, list[list[str]]]:
    """The shared ANERcorp sentences, and the unlabelled SaudiNewsNet sentences the clusters learn from."""
    from tasks.corpus import unlabelled_sentences
    from tasks.entities.bio import read_conll

    return read_conll(CONLL), list(unlabelled_sentences(unpack_saudinewsnet(work)))


def quality_and_speed(work: Path, gold: list, unlabelled: list[list[str]]) -> list[str]:
    from tasks.entities import NerConfig, load_extractor
    from tasks.entities.crf import train
    from tasks.entities.evaluate import evaluate

    cut = int(len(gold) * 0.9)
    train_part, dev = gold[:cut], gold[cut:]
    rows = [
        f"Dev split: last {len(dev)} of {len(gold)} sentences ({sum(len(s.words) for s in dev):,} tokens); "
        f"CRF trained on the first {len(train_part)} plus word clusters from {len(unlabelled):,} unlabelled "
        "SaudiNewsNet sentences.",
        "",
        "| backend | micro F1 (P, R) | per type F1 | tagging words/s | training |",
        "|---|---|---|---|---|",
    ]
    gz = evaluate(load_extractor("gazetteer"), dev)
    gz_speed = evaluate(load_extractor("gazetteer"), dev)  # second pass: warm caches, as in a long run
    rows.append(f"| gazetteer | {fmt_scores(gz)} | {gz_speed.n_tokens / gz_speed.seconds:,.0f} | none |")

    model = work / "dev.crf"
    report = train(train_part, model, unlabelled=unlabelled)
    crf = load_extractor(NerConfig(backend="crf", model=str(model)))  # as a run tags: rulings included
    scores = evaluate(crf, dev)
    speed = evaluate(crf, dev)
    rows.append(
        f"| crf | {fmt_scores(scores)} | {speed.n_tokens / speed.seconds:,.0f} | "
        f"{report.seconds:.0f} s ({report.n_tokens:,} tokens, {report.vocabulary:,} clustered words) |"
    )
    full = train(gold, work / "full.crf", unlabelled=unlabelled)
    rows += ["", f"CRF on the whole training file ({full.n_tokens:,} tokens): trained in {full.seconds:.0f} s."]
    return rows


def train_fold(
    work: Path, gold: list, unlabelled: list[list[str]], bounds: list[int], reuse: bool, k: int
) -> tuple[Path, float]:
    """The bilstm model (a CRF inside) trained on every block but block k, on one thread: (file, seconds);
    with reuse, the one already in the work folder (seconds: nan). A model trained for other features is
    refused when it loads."""
    from tasks.entities.bilstm import train

    if reuse and (work / f"fold-{k}.bilstm").is_file():
        return work / f"fold-{k}.bilstm", float("nan")
    rest = gold[: bounds[k]] + gold[bounds[k + 1] :]
    report = train(rest, work / f"fold-{k}.bilstm", unlabelled=unlabelled, threads=1)
    return report.path, report.seconds


def cross_validation(work: Path, gold: list, unlabelled: list[list[str]], folds: int, reuse: bool = False) -> list[str]:
    """Micro-F1 of each backend on each of `folds` consecutive blocks, the trainable ones trained on the rest.

    One dev split says little on its own: ANERcorp's blocks differ in how many of their names occur
    elsewhere in the file, and micro-F1 moves with that far more than with a change of features. The
    folds are trained two at a time, one thread each; the crf row is the CRF inside each bilstm model
    (the same CRF `khabar ner train --backend crf` would write from that data). `evaluate` reads 200
    consecutive sentences as one document (bio.DOCUMENT_SENTENCES); the "alone" rows tag each sentence
    as a document of its own, where the document features find nothing.
    """
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    import torch

    from tasks.entities import NerConfig, load_extractor
    from tasks.entities.backends import BACKENDS
    from tasks.entities.evaluate import evaluate
    from tasks.entities.gazetteer import packaged_gazetteer
    from tasks.entities.rulings import Ruled

    bounds = [len(gold) * k // folds for k in range(folds + 1)]
    # Fresh interpreters, not forks: after the dev-split CRF's training in this process, forked trainers
    # waited forever on a lock that a thread of the parent held when they were forked.
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        trained = list(pool.map(partial(train_fold, work, gold, unlabelled, bounds, reuse), range(folds)))
    torch.set_num_threads(1)
    f1: dict[str, list[float]] = {"gazetteer": [], "crf": [], "bilstm": []}
    per_type: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in f1}
    alone: dict[str, list[float]] = {"crf": [], "bilstm": []}
    unruled: dict[str, list[float]] = {"crf": [], "bilstm": []}
    not_again: dict[str, list[float]] = {"crf": [], "bilstm": []}
    seen, bilstm_words_s = [], []
    for k, (model, _) in enumerate(trained):
        held, rest = gold[bounds[k] : bounds[k + 1]], gold[: bounds[k]] + gold[bounds[k + 1] :]
        known = set(gold_mentions(rest))
        mentions = gold_mentions(held)
        seen.append(sum(m in known for m in mentions) / len(mentions))
        # as a run tags: the learned backends with the gazetteer's rulings over them (tasks.entities.rulings)
        extractors = {"gazetteer": load_extractor("gazetteer")}
        for name in ("crf", "bilstm"):
            config = NerConfig(backend=name, model=str(model), threads=1)
            extractors[name] = load_extractor(config)
            bare = BACKENDS[name].load(config)
            # the model's own tags: the rulings cost ANERcorp's MISC for the name of God in a formula
            unruled[name].append(evaluate(bare, held).micro["f1"])
            # without finding the document's names again where the model did not tag them (consistency)
            not_again[name].append(evaluate(Ruled(bare, packaged_gazetteer()), held).micro["f1"])
        for name, extractor in extractors.items():
            scores = evaluate(extractor, held)
            f1[name].append(scores.micro["f1"])
            per_type[name].append(scores.per_type)
            if name == "bilstm":
                bilstm_words_s.append(scores.n_tokens / scores.seconds)
            if name in alone:  # each sentence a document of its own: no document features fire
                alone[name].append(evaluate(extractor, held, document_sentences=1).micro["f1"])

    def row(name: str, scores: list[float]) -> str:
        each = " · ".join(f"{f:.3f}" for f in scores)
        return f"| {name} | **{sum(scores) / len(scores):.3f}** | {min(scores):.3f} | {max(scores):.3f} | {each} |"

    seconds = [s for _, s in trained]
    return [
        f"{folds}-fold cross-validation over consecutive blocks of the same file (micro F1; the trainable "
        f"backends trained on the other {folds - 1} blocks each time):",
        "",
        "| backend | mean | min | max | per block, in file order |",
        "|---|---|---|---|---|",
        *(row(name, scores) for name, scores in f1.items()),
        *(row(f"{name}, each sentence tagged alone", scores) for name, scores in alone.items()),
        *(row(f"{name}, its names not found again", scores) for name, scores in not_again.items()),
        *(row(f"{name}, the model's own tags (no rulings)", scores) for name, scores in unruled.items()),
        row("gold mentions also found in the other blocks (share)", seen),
        "",
        (
            "bilstm (its CRF included), one thread: the fold models in the work folder, not retrained (--reuse-folds)"
            if any(math.isnan(s) for s in seconds)
            else f"bilstm (its CRF included), one thread: trained in {min(seconds) / 60:.1f} to "
            f"{max(seconds) / 60:.1f} min per fold"
        )
        + f"; tags {min(bilstm_words_s):,.0f} to {max(bilstm_words_s):,.0f} words/s.",
        "",
        "Per type, the mean over the blocks (and the lowest block's F1):",
        "",
        "| backend | type | precision | recall | F1 | min F1 |",
        "|---|---|---|---|---|---|",
        *type_rows(per_type),
    ]


def type_rows(per_type: dict[str, list[dict[str, dict[str, float]]]]) -> list[str]:
    """One row per backend and entity type: precision, recall and F1 averaged over the blocks."""
    rows = []
    for backend, blocks in per_type.items():
        for kind in sorted({k for block in blocks for k in block}):
            found = [block.get(kind, {"precision": 0.0, "recall": 0.0, "f1": 0.0}) for block in blocks]
            mean = {m: sum(f[m] for f in found) / len(found) for m in ("precision", "recall", "f1")}
            rows.append(
                f"| {backend} | {kind} | {mean['precision']:.3f} | {mean['recall']:.3f} | **{mean['f1']:.3f}** "
                f"| {min(f['f1'] for f in found):.3f} |"
            )
    return rows


def gold_mentions(sentences) -> list[tuple[str, str]]:
    """(type, words) of every gold entity mention."""
    from tasks.entities.bio import spans_from_labels

    return [(t, " ".join(s.words[a:b])) for s in sentences for t, a, b in spans_from_labels(s.labels)]


def build_bert_base(folder: Path, corpus: Path) -> Path:
    """A BERT-base-sized token classifier with random weights and a WordPiece vocabulary learned here."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wordpiece.train([str(p) for p in sorted(corpus.rglob("*.txt"))], vocab_size=30_000)
    wordpiece.save_model(str(folder))
    labels = ["B-LOC", "B-ORG", "B-PERS", "B-MISC", "I-LOC", "I-ORG", "I-PERS", "I-MISC", "O"]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=wordpiece.get_vocab_size(), id2label=dict(enumerate(labels)),
                        label2id={x: i for i, x in enumerate(labels)})  # fmt: skip
    BertForTokenClassification(config).save_pretrained(str(folder))
    BertTokenizer(str(folder / "vocab.txt"), do_lower_case=False).save_pretrained(str(folder))
    return folder


def time_predictor(kind: str, model: str, sentences_file: str, out_file: str) -> None:
    """Child process: time one predictor on the sentences, write labels, seconds and peak memory."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    sentences = json.loads(Path(sentences_file).read_text())
    before = rss_mb()
    if kind == "camel-tools":
        from camel_tools.ner import NERecognizer

        predictor = NERecognizer(model, use_gpu=False)
        predict = predictor.predict
    else:
        from tasks.entities.camel import BatchedPredictor

        predictor = BatchedPredictor(model, quantize=kind.endswith("int8"))
        predict = predictor.predict
    predict(sentences[:2])  # load and warm up
    started = time.perf_counter()
    labels = predict(sentences)
    seconds = time.perf_counter() - started
    Path(out_file).write_text(
        json.dumps({"labels": labels, "seconds": seconds, "rss_mb": rss_mb(), "rss_before": before})
    )


def camel_comparison(work: Path, n_sentences: int) -> list[str]:
    from tasks.entities.bio import read_conll

    sys.path.insert(0, str(REPO / "tests"))
    from fixtures.tiny_camel_model import catalogue_json

    camel_data = work / "camel-data"
    camel_data.mkdir(exist_ok=True)
    (camel_data / "catalogue.json").write_text(json.dumps(catalogue_json()))
    model = build_bert_base(work / "bert-base", unpack_saudinewsnet(work))
    gold = read_conll(CONLL)
    dev = [list(s.words) for s in gold[int(len(gold) * 0.9) :]][:n_sentences]
    sentences_file = work / "sentences.json"
    sentences_file.write_text(json.dumps(dev, ensure_ascii=False))
    results = {}
    env = {**os.environ, "CAMELTOOLS_DATA": str(camel_data), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    for kind in ("camel-tools", "batched", "batched-int8"):
        out = work / f"{kind}.json"
        subprocess.run(
            [sys.executable, __file__, "--child", kind, str(model), str(sentences_file), str(out)], env=env, check=True
        )
        results[kind] = json.loads(out.read_text())
    words = sum(len(s) for s in dev)
    base = results["camel-tools"]
    rows = [
        "camel backend, BERT-base-sized model with random weights (12 layers, hidden 768, WordPiece vocabulary "
        f"of 30,000 learned from SaudiNewsNet), {len(dev)} dev sentences ({words:,} words), "
        f"{os.cpu_count()} CPU threads:",
        "",
        "| predictor | words/s | speed-up | labels equal to NERecognizer.predict | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        pairs = zip(r["labels"], base["labels"], strict=True)
        differ = sum(a != b for x, y in pairs for a, b in zip(x, y, strict=True))
        same = "yes" if differ == 0 else f"no ({differ} labels differ)"
        speed_up = base["seconds"] / r["seconds"]
        rows.append(f"| {kind} | {words / r['seconds']:,.0f} | {speed_up:.1f}x | {same} | {r['rss_mb']:,.0f} MB |")
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        time_predictor(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camel-sentences", type=int, default=96)
    parser.add_argument("--skip-camel", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation blocks (0: none)")
    parser.add_argument("--work", type=Path, help="work folder to keep (default: a temporary one)")
    parser.add_argument(
        "--reuse-folds",
        action="store_true",
        help="score the fold models already in --work instead of training them again (for a change that does "
        "not change training)",
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="khabar-ner-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    lines = []
    if not args.skip_quality:
        gold, unlabelled = training_data(work)
        lines += [*quality_and_speed(work, gold, unlabelled), ""]
        if args.folds > 1:
            lines += [*cross_validation(work, gold, unlabelled, args.folds, args.reuse_folds), ""]
    if not args.skip_camel:
        lines += camel_comparison(work, args.camel_sentences)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
