"""data/raw is exactly what the corpus builder writes, and covers what the brief asks of it."""

from pathlib import Path

from fixtures.make_sample_corpus import ARTICLES, write_corpus

REPO = Path(__file__).resolve().parents[1]


def test_committed_sample_corpus_matches_its_builder(tmp_path):
    written = write_corpus(tmp_path)
    for path in written:
        rel = path.relative_to(tmp_path)
        assert (REPO / "data" / "raw" / rel).read_bytes() == path.read_bytes(), rel
    committed = sorted(p.relative_to(REPO / "data" / "raw") for p in (REPO / "data" / "raw").rglob("*.txt"))
    assert committed == sorted(p.relative_to(tmp_path) for p in written)


def test_sample_corpus_covers_dates_sources_and_encodings():
    assert len({a[0] for a in ARTICLES}) >= 3
    assert len({a[1] for a in ARTICLES}) >= 2
    assert {a[3] for a in ARTICLES} >= {"utf-8", "utf-16", "cp1256"}
    texts = [a[4] for a in ARTICLES if a[4]]
    assert len(texts) >= 12
    joined = "".join(texts)
    assert "\u0640" in joined and "\u200f" in joined  # tatweel, an invisible mark
    assert any("\u064b" <= c <= "\u0652" for c in joined)  # diacritics
    assert any("\u0660" <= c <= "\u0669" for c in joined)  # Arabic-Indic digits
    assert any(c.isascii() and c.isalpha() for c in joined)  # Latin-script names
    assert "" in [a[4] for a in ARTICLES]  # an empty file
