"""What boilerplate detection costs the planner, and what it finds, on the shared SaudiNewsNet days.

Times tasks.boilerplate.BoilerplateCounter over files already read (the planner reads each file to
hash it; this is the work added to that), best of three: on the 3,335 articles with their layout
(10 sources), and on an N-article benchmark corpus (bench/corpus.py, one source), where each
source's first 1,000 documents alone are counted.

Usage: PYTHONPATH=bench .venv/bin/python bench/boilerplate_cost.py [--n 20000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from corpus import build_corpus, unpack_saudinewsnet

from tasks.boilerplate import BoilerplateCounter
from tasks.documents import content_hash
from tasks.layout import path_metadata

LAYOUT = "{date}/{source}-{n}.txt"  # what tools/saudinewsnet_to_txt.py writes


def measure(root: Path, layout: str | None) -> tuple[int, float, dict]:
    files = [(str(p.relative_to(root)), p.read_bytes()) for p in sorted(root.rglob("*.txt"))]
    hashes = [content_hash(data) for _, data in files]
    best, found = float("inf"), {}
    for _ in range(3):
        started = time.perf_counter()
        counter = BoilerplateCounter(layout)
        for (path, data), digest in zip(files, hashes, strict=True):
            counter.add(path, digest, data)
        found = counter.detected()
        best = min(best, time.perf_counter() - started)
    return len(files), best, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="khabar-boilerplate-"))
    articles = unpack_saudinewsnet(work / "saudinewsnet")
    print("| corpus | files | sources | counting | per file | candidates found boilerplate |")
    print("|---|---|---|---|---|---|")
    for name, root, layout in (
        ("SaudiNewsNet days", work / "saudinewsnet", LAYOUT),
        (f"{args.n:,} articles", build_corpus(articles, work / f"raw-{args.n}", args.n), None),
    ):
        n, seconds, found = measure(root, layout)
        sources = len({path_metadata(str(p.relative_to(root)), layout)[0] for p in root.rglob("*.txt")})
        per_source = ", ".join(f"{s or 'no source'} {len(d)}" for s, d in sorted(found.items(), key=str)) or "none"
        print(f"| {name} | {n:,} | {sources} | {seconds:.2f} s | {1e6 * seconds / n:.0f} µs | {per_source} |")


if __name__ == "__main__":
    main()
