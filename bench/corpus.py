"""Benchmark corpora of N articles from the shared SaudiNewsNet days (never committed).

The 3,335 real articles are unpacked once; corpora larger than that repeat them in copies made
distinct by a last line naming the copy, so every file is a new document for khabar (the wire
duplicates inside the days stay duplicates, as in real news).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def unpack_saudinewsnet(dest: Path) -> list[Path]:
    """The shared SaudiNewsNet days as .txt files under dest (unpacked once), sorted."""
    if not dest.exists():
        zips = sorted((SHARED / "data" / "saudinewsnet").glob("*.zip"))
        if not zips:
            sys.exit(f"no SaudiNewsNet zips under {SHARED / 'data' / 'saudinewsnet'}")
        tool = SHARED / "tools" / "saudinewsnet_to_txt.py"
        subprocess.run([sys.executable, str(tool), str(dest), *map(str, zips)], check=True, capture_output=True)
    return sorted(dest.rglob("*.txt"))


def build_corpus(articles: list[Path], root: Path, n: int) -> Path:
    """A raw folder of n articles: copy k of article a is root/copy-k/<day>/<source>-<i>.txt."""
    if root.exists() and sum(1 for _ in root.rglob("*.txt")) == n:
        return root
    base = articles[0].parents[1]
    for i in range(n):
        copy, article = divmod(i, len(articles))
        source = articles[article]
        target = root / f"copy-{copy:02d}" / source.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = source.read_bytes()
        if copy:
            data += f"\n(نسخة {copy})\n".encode()
        target.write_bytes(data)
    return root


def corpus_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.txt"))
