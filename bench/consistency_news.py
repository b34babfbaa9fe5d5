"""How many PERS mentions document-level consistency re-keys on the shared SaudiNewsNet days, per backend.

Tags each article with the backend alone and with consistency over it (tasks/entities/consistency.py),
and prints the mentions whose key changed, with the most frequent changes, so a reader can judge them.

Usage: .venv/bin/python bench/consistency_news.py [--crf-model MODEL] [--keep DIR]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

from corpus import unpack_saudinewsnet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.clean import clean_text
from tasks.entities import _name_words
from tasks.entities.consistency import consistent_keys
from tasks.entities.gazetteer import GazetteerExtractor
from tasks.segment import split_sentences, tokenize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crf-model", help="also a CRF model file (khabar ner train)")
    parser.add_argument("--keep", type=Path, help="unpack the articles in this folder and keep it")
    args = parser.parse_args()
    raw = (args.keep or Path(tempfile.mkdtemp(prefix="khabar-consistency-"))) / "saudinewsnet"
    unpack_saudinewsnet(raw)
    backends = {"gazetteer": GazetteerExtractor.from_resources()}
    if args.crf_model:
        from tasks.entities.crf import CRFExtractor

        backends["crf"] = CRFExtractor(args.crf_model)
    given_names, stopwords = _name_words()
    articles = sorted(raw.rglob("*.txt"))
    for name, extractor in backends.items():
        changed: collections.Counter[tuple[str, str]] = collections.Counter()
        n_pers = 0
        for path in articles:
            text = clean_text(path.read_text(encoding="utf-8", errors="replace"))
            tokens = tokenize(text, split_sentences(text))
            found = extractor.extract(tokens)
            n_pers += sum(m.type == "PERS" for m in found)
            for before, after in zip(found, consistent_keys(tokens, found, given_names, stopwords), strict=True):
                if before.canonical_key != after.canonical_key:
                    changed[before.canonical_key, after.canonical_key] += 1
        print(
            f"{name}: {len(articles)} articles, {n_pers} PERS mentions, {sum(changed.values())} re-keyed "
            f"({len(changed)} distinct)"
        )
        print("  " + "; ".join(f"{a} -> {b} {n}" for (a, b), n in changed.most_common(15)))


if __name__ == "__main__":
    main()
