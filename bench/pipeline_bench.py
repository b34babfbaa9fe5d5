"""End-to-end and per-stage figures on the shared SaudiNewsNet articles (3,335 real news articles).

Run: make bench   (or .venv/bin/python bench/pipeline_bench.py [--workers N] [--keep DIR])
Needs ../shared/data/saudinewsnet (never committed). Prints a markdown table for the README.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
KHABAR = str(Path(sys.executable).with_name("khabar"))


def unpack(raw: Path) -> int:
    zips = sorted((SHARED / "data" / "saudinewsnet").glob("*.zip"))
    if not zips:
        sys.exit(f"no SaudiNewsNet zips under {SHARED / 'data' / 'saudinewsnet'}")
    tool = SHARED / "tools" / "saudinewsnet_to_txt.py"
    subprocess.run([sys.executable, str(tool), str(raw), *map(str, zips)], check=True, capture_output=True)
    return sum(1 for _ in raw.rglob("*.txt"))


def timed_run(raw: Path, out: Path, workers: int, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [KHABAR, "run", "--raw", str(raw), "--out", str(out), "--workers", str(workers)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return time.perf_counter() - started, done.stdout


def stage_throughput(raw: Path, limit: int) -> dict[str, float]:
    """Words per second of each stage in one process, over the first `limit` articles."""
    from tasks.clean import clean_text
    from tasks.decode import decode_bytes
    from tasks.entities import load_extractor
    from tasks.segment import split_sentences, tokenize

    extractor = load_extractor("gazetteer")
    datas = [p.read_bytes() for p in sorted(raw.rglob("*.txt"))[:limit]]
    clock: dict[str, float] = {"decode+clean": 0.0, "sentences+tokens": 0.0, "entities (gazetteer)": 0.0}
    n_tokens = 0
    for data in datas:
        t0 = time.perf_counter()
        try:
            text = clean_text(decode_bytes(data).text)
        except Exception:
            continue
        t1 = time.perf_counter()
        tokens = tokenize(text, split_sentences(text))
        t2 = time.perf_counter()
        extractor.extract(tokens)
        t3 = time.perf_counter()
        clock["decode+clean"] += t1 - t0
        clock["sentences+tokens"] += t2 - t1
        clock["entities (gazetteer)"] += t3 - t2
        n_tokens += len(tokens)
    return {stage: n_tokens / seconds for stage, seconds in clock.items()} | {"tokens": n_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="khabar-bench-"))
    raw, out = work / "raw", work / "out"
    n_files = unpack(raw) if not raw.exists() else sum(1 for _ in raw.rglob("*.txt"))
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect")}

    first_s, first = timed_run(raw, out, args.workers, env)
    second_s, second = timed_run(raw, out, args.workers, env)
    flow_s = float(re.search(r"in ([\d.]+) s", first).group(1))
    tokens = int(re.search(r"written: (\d+) tokens", first).group(1))
    stages = stage_throughput(raw, limit=600)

    print(f"SaudiNewsNet: {n_files} files under {raw}, {args.workers} workers, {os.cpu_count()} CPUs\n")
    print("| measure | value |\n|---|---|")
    print(f"| first run, wall (CLI start to exit, Prefect server included) | {first_s:.1f} s |")
    print(
        f"| first run, flow only | {flow_s:.1f} s ({tokens / flow_s:,.0f} tokens/s, {n_files / flow_s:,.0f} files/s) |"
    )
    print(f"| second run, wall (nothing new) | {second_s:.1f} s |")
    for line in (first + second).splitlines():
        if line.strip().startswith(("files:", "written:", "quarantined:")):
            print(f"| `{line.strip()}` | |")
    print(f"\nOne process, first 600 articles ({stages.pop('tokens'):,.0f} tokens):\n")
    print("| stage | tokens/s |\n|---|---|")
    for stage, rate in stages.items():
        print(f"| {stage} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
