"""The `camel` backend: the CAMeL Tools NER model (AraBERT fine-tuned on ANERcorp) with a faster batched predictor.

It loads camel-tools' model and tokenizer (BertForTokenClassification and BertTokenizer from the
installed model folder) without importing camel_tools.ner or camel_tools.data, which download a
catalogue at import time. Predictions equal NERecognizer.predict: words are cut into word pieces
the same way and sentences longer than its 254 word pieces are split into the same segments, but
segments are sorted by length and padded only to the longest of their batch (camel-tools pads every
segment to 256), and tokenization is cached per word.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.entities import Mention
from tasks.entities.bio import OUTSIDE, spans_from_labels
from tasks.entities.keys import canonical_key
from tasks.segment import Token, sentence_ranges

MAX_SEQ_LENGTH = 256  # what NERecognizer.predict uses; segments hold MAX_SEQ_LENGTH - 2 word pieces
MODEL_SUBDIR = Path("data") / "ner" / "arabert"
VERSION = "1"


class ModelNotInstalledError(RuntimeError):
    pass


def camel_data_dir() -> Path:
    """Where camel-tools keeps its data: $CAMELTOOLS_DATA, else ~/.camel_tools (as camel-tools decides)."""
    configured = os.environ.get("CAMELTOOLS_DATA")
    return Path(configured).expanduser().absolute() if configured else Path.home() / ".camel_tools"


def default_model_dir() -> Path:
    return camel_data_dir() / MODEL_SUBDIR


def model_installed(model_dir: str | Path | None = None) -> bool:
    folder = Path(model_dir) if model_dir else default_model_dir()
    return (folder / "config.json").is_file() and (folder / "vocab.txt").is_file()


def require_model(model_dir: str | Path | None = None) -> Path:
    folder = Path(model_dir) if model_dir else default_model_dir()
    if not model_installed(folder):
        raise ModelNotInstalledError(
            f"the camel-tools NER model is not installed at {folder}; install it with "
            "`camel_data -i ner-arabert` (or unpack it there), or choose another --ner backend"
        )
    return folder


@dataclass(frozen=True)
class _Segment:
    sentence: int
    words: tuple[int, ...]  # indexes of the words (with word pieces) in the sentence
    piece_ids: tuple[int, ...]  # [CLS] pieces [SEP]
    first_piece: tuple[int, ...]  # position of each word's first piece in piece_ids


class BatchedPredictor:
    """Labels per word for sentences of words, equal to NERecognizer.predict, in length-sorted batches."""

    def __init__(self, model_dir: str | Path, *, threads: int | None = None, quantize: bool = False) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import BertForTokenClassification, BertTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # no progress bars or advice on a batch job's console
        hf_logging.disable_progress_bar()
        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        folder = require_model(model_dir)
        self.model = BertForTokenClassification.from_pretrained(str(folder), local_files_only=True)
        self.model.eval()
        if quantize:  # opt-in: int8 weights change the numbers, so labels may differ from camel-tools'
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # torch's notice that this API moves to torchao
                self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.tokenizer = BertTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.labels: dict[int, str] = {int(k): v for k, v in (self.model.config.id2label or {}).items()}
        self.pieces = functools.lru_cache(maxsize=1 << 17)(self._pieces)
        self.model_hash = folder_hash(folder)

    def _pieces(self, word: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(word)))

    def segments(self, sentences: Sequence[Sequence[str]]) -> list[_Segment]:
        """Cut sentences into segments of at most MAX_SEQ_LENGTH - 2 word pieces, as camel-tools does."""
        limit = MAX_SEQ_LENGTH - 2
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        out = []
        for s, words in enumerate(sentences):
            current: list[int] = []
            pieces: list[int] = []
            firsts: list[int] = []
            for w, word in enumerate(words):
                word_pieces = self.pieces(word)
                if not word_pieces:
                    continue  # camel-tools drops such words; they are labelled O below
                if current and len(pieces) + len(word_pieces) > limit:
                    out.append(_Segment(s, tuple(current), (cls_id, *pieces, sep_id), tuple(firsts)))
                    current, pieces, firsts = [], [], []
                current.append(w)
                firsts.append(len(pieces) + 1)
                pieces.extend(word_pieces)
            if current:
                out.append(_Segment(s, tuple(current), (cls_id, *pieces, sep_id), tuple(firsts)))
        return out

    def predict(self, sentences: Sequence[Sequence[str]], batch_tokens: int = 1024) -> list[list[str]]:
        """One label per word of every sentence (words without word pieces get O).

        Segments go in length order, in batches of at most batch_tokens padded word pieces: on a CPU
        small batches of similar length beat large ones (measured in bench/ner_bench.py).
        """
        torch = self.torch
        labels = [[OUTSIDE] * len(words) for words in sentences]
        segments = sorted(self.segments(sentences), key=lambda seg: len(seg.piece_ids))
        pad = self.tokenizer.pad_token_id
        with torch.inference_mode():
            for batch in _batches(segments, batch_tokens):
                width = len(batch[-1].piece_ids)
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, seg in enumerate(batch):
                    ids[row, : len(seg.piece_ids)] = torch.tensor(seg.piece_ids)
                    mask[row, : len(seg.piece_ids)] = 1
                logits = self.model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
                best = logits.argmax(dim=-1).tolist()
                for row, seg in enumerate(batch):
                    for w, position in zip(seg.words, seg.first_piece, strict=True):
                        labels[seg.sentence][w] = self.labels[best[row][position]]
        return labels


class CamelExtractor:
    """Entities from the camel-tools BERT model, sentence by sentence, in batches."""

    name = "camel"

    def __init__(self, model_dir: str | Path | None = None, *, threads: int | None = None, quantize: bool = False):
        self.predictor = BatchedPredictor(require_model(model_dir), threads=threads, quantize=quantize)
        self.model_hash = self.predictor.model_hash
        self.version = f"{VERSION}{'-int8' if quantize else ''}+{self.model_hash[:12]}"

    def extract(self, tokens: Sequence[Token]) -> list[Mention]:
        bounds = list(sentence_ranges(tokens))
        sentences = [[t.surface for t in tokens[a:b]] for a, b in bounds]
        mentions = []
        for (a, b), labels in zip(bounds, self.predictor.predict(sentences), strict=True):
            assert len(labels) == b - a, "one label per token"
            for type_, s, e in spans_from_labels(labels):
                mentions.append(Mention(type_, a + s, a + e, canonical_key([t.key for t in tokens[a + s : a + e]])))
        return mentions


def _batches(segments: list[_Segment], batch_tokens: int) -> list[list[_Segment]]:
    """Consecutive groups of length-sorted segments whose padded size stays within batch_tokens."""
    out: list[list[_Segment]] = []
    for seg in segments:
        if out and (len(out[-1]) + 1) * len(seg.piece_ids) <= batch_tokens:
            out[-1].append(seg)
        else:
            out.append([seg])
    return out


def folder_hash(folder: Path) -> str:
    """sha256 over the model's weights and vocabulary (file names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in (".bin", ".safetensors", ".txt", ".json"):
            digest.update(path.name.encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()
