"""`khabar ner`: train the crf or bilstm backend, evaluate a backend on gold CoNLL data, tag a text."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import (
    AllOpt,
    FormatOpt,
    LimitOpt,
    NerModelOpt,
    NerOpt,
    OutputOpt,
    Shown,
    UserError,
    build_settings,
    failed,
    ner_app,
)
from flows.output import (
    Format,
    Result,
    info,
    stderr,
)


class TrainableBackend(enum.StrEnum):
    crf = "crf"
    bilstm = "bilstm"


@ner_app.command("train")
def ner_train(
    conll: Annotated[Path, typer.Option("--conll", help="Training data: CoNLL/IOB2, one `TOKEN TAG` per line")],
    out_model: Annotated[Path, typer.Option("--model", help="Model file to write (what --ner-model reads)")],
    unlabelled: Annotated[
        Path | None,
        typer.Option("--unlabelled", help="Folder of raw .txt news to learn word clusters from (optional)"),
    ] = None,
    max_iterations: Annotated[int, typer.Option("--max-iterations", min=1, help="The CRF's L-BFGS iterations")] = 150,
    backend: Annotated[
        TrainableBackend,
        typer.Option(
            "--backend",
            help="crf: a CRF (a minute or two); bilstm: the same CRF and a BiLSTM-CRF beside it, decoded together "
            "(micro-F1 0.780 against 0.772 over ANERcorp's 5 blocks; 5 minutes on 2 cores for its 125,000 tokens)",
        ),
    ] = TrainableBackend.crf,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="The BiLSTM's passes over the data (bilstm)")] = 8,
) -> None:
    """Train the `crf` or `bilstm` backend on a CoNLL/IOB2 corpus (word clusters and vectors come from the
    corpus and --unlabelled).

    Example: `khabar ner train --conll train.conll --unlabelled data/raw --model models/ner.crf`, or
    `--backend bilstm --model models/ner.bilstm`
    """
    from tasks.corpus import unlabelled_sentences
    from tasks.entities import bilstm, crf
    from tasks.entities.bio import ConllFormatError, read_conll

    try:
        gold = _read_gold(conll, read_conll, ConllFormatError)
        if unlabelled is not None and not unlabelled.is_dir():
            raise UserError(f"the unlabelled folder {unlabelled} does not exist or is not a folder")
        extra = list(unlabelled_sentences(unlabelled)) if unlabelled else []
        report: crf.TrainingReport | bilstm.TrainingReport
        if backend is TrainableBackend.bilstm:
            with stderr.status(f"training the CRF, then the BiLSTM ({epochs} epochs)"):
                report = bilstm.train(gold, out_model, unlabelled=extra, epochs=epochs, crf_iterations=max_iterations)
        else:
            with stderr.status("training the CRF"):
                report = crf.train(gold, out_model, unlabelled=extra, max_iterations=max_iterations)
    except UserError as exc:
        raise failed(exc) from None
    info(
        f"trained {backend.value} on {report.n_sentences} sentences ({report.n_tokens} tokens), "
        f"{report.n_unlabelled_sentences} unlabelled sentences, {report.vocabulary} words in clusters "
        f"in {report.seconds:.1f} s -> {report.path} (sha256 {report.model_hash[:12]})"
    )


@ner_app.command("evaluate")
def ner_evaluate(
    gold_file: Annotated[Path, typer.Option("--gold", help="Gold CoNLL/IOB2 file; its tokens are tagged as given")],
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """Entity-level precision, recall and F1 per type and micro-averaged (seqeval, strict IOB2).

    Example: `khabar ner evaluate --gold dev.conll --ner crf --ner-model models/ner.crf --format json`
    """
    from tasks.entities.bio import ConllFormatError, read_conll
    from tasks.entities.evaluate import evaluate

    try:
        gold = _read_gold(gold_file, read_conll, ConllFormatError)
        scores = evaluate(_extractor(ner, ner_model), gold)
    except UserError as exc:
        raise failed(exc) from None
    if fmt is Format.json and output is None:  # the whole evaluation, as `make bench-ner` reads it
        sys.stdout.write(json.dumps(scores.as_json(), ensure_ascii=False, indent=1) + "\n")
        return
    rows = [
        (name, *(round(row[k], 3) for k in ("precision", "recall", "f1")), row["support"])
        for name, row in [*sorted(scores.per_type.items()), ("micro", scores.micro)]
    ]
    columns = ["type", "precision", "recall", "f1", "support"]
    Shown(fmt, output, all_rows=True).write(
        Result.of_rows(columns, rows), title=f"{scores.backend} on {gold_file.name}"
    )
    if fmt is Format.table and output is None:
        info(
            f"{scores.n_sentences} sentences, {scores.n_tokens} tokens in {scores.seconds:.2f} s "
            f"({scores.n_tokens / max(scores.seconds, 1e-9):,.0f} words/s)"
        )


@ner_app.command("tag")
def ner_tag(
    text: Annotated[str, typer.Argument(help="Arabic text to tag")],
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    limit: LimitOpt = None,
    all_rows: AllOpt = False,
) -> None:
    """Print the entities found in a text: type, surface, canonical key and character offsets.

    Example: `khabar ner tag "قال وزير الخارجية سيرغي لافروف في موسكو"`
    """
    from tasks.clean import clean_text
    from tasks.segment import split_sentences, tokenize

    try:
        extractor = _extractor(ner, ner_model)
    except UserError as exc:
        raise failed(exc) from None
    cleaned = clean_text(text)
    tokens = tokenize(cleaned, split_sentences(cleaned))
    rows = []
    for m in extractor.extract(tokens):
        start, end = tokens[m.token_start].start, tokens[m.token_end - 1].end
        rows.append((m.type, cleaned[start:end], m.canonical_key, start, end))
    columns = ["type", "surface", "canonical_key", "char_start", "char_end"]
    Shown(fmt, output, limit, all_rows).write(Result.of_rows(columns, rows))


def _read_gold(path: Path, read_conll, format_error):
    if not path.is_file():
        raise UserError(f"no CoNLL file at {path}")
    try:
        gold = read_conll(path)
    except format_error as exc:
        raise UserError(str(exc)) from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    if not gold:
        raise UserError(f"{path} holds no sentences")
    return gold


def _extractor(ner: str | None, model: Path | None):
    """The entity backend as `khabar run` would choose it: options, then KHABAR_NER and KHABAR_NER_MODEL."""
    from flows.settings import ner_config
    from tasks.entities import NerConfigError, load_extractor
    from tasks.entities.crf import ModelFileError

    try:
        return load_extractor(ner_config(build_settings(ner=ner, ner_model=model)))
    except (NerConfigError, ModelFileError) as exc:
        raise UserError(str(exc)) from None
