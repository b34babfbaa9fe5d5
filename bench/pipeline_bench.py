"""khabar against a plain loop, end to end, on corpora of N SaudiNewsNet articles (never committed).

Run: make bench   (or .venv/bin/python bench/pipeline_bench.py [--sizes 5000,20000,50000] [--workers 2]
     [--repeat N] [--keep DIR] [--no-crf] [--crf-pairs N] [--only-dask])

For each N it builds the corpus (bench/corpus.py), runs the two single-process loops of
bench/naive_loop.py (the plain loop the targets are set against, and the same-work loop doing a
shard's work: sentences, offsets, gazetteer entities, four tables) and `khabar run` as a user would
(CLI start to exit, the temporary Prefect server included, the Prefect home warmed once
beforehand), samples the memory of khabar's whole process tree, then reruns khabar with nothing new.
Then: the same run against a running Prefect server, on a Dask LocalCluster against the process
pool, the CRF backend against the gazetteer (runs of the two alternated), a 30 MB article on a
single line, and where one worker's time goes. Prints markdown for README.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import REPO, SHARED, build_corpus, corpus_bytes, unpack_saudinewsnet

KHABAR = str(Path(sys.executable).with_name("khabar"))
SUMMARY = re.compile(
    r"in (?P<wall>[\d.]+) s \(start-up (?P<startup>[\d.]+) s, run (?P<run>[\d.]+) s\)"
    r"(?s:.*?)documents: (?P<docs>\d+) new"
    r"(?s:.*?)written: (?P<tokens>\d+) tokens(?s:.*?)on (?P<workers>\d+) workers? \((?P<shard>[\d.]+) s of shard work\)"
)


@dataclass
class Measured:
    seconds: float  # wall, process start to exit
    peak_rss_mb: float  # the process and all its descendants, summed, at the worst moment
    output: str
    cpu_s: dict[str, float]  # CPU seconds (user + system) by role: khabar, the Prefect server, the workers
    peak_rss_by_role_mb: dict[str, float]  # each role's own peak (at different moments: they need not add up)


def _role(process: psutil.Process, root: psutil.Process) -> str:
    if process.pid == root.pid:
        return "khabar"
    return "prefect server" if "uvicorn" in " ".join(process.cmdline()) else "workers"


def measure(args: list[str], env: dict[str, str]) -> Measured:
    """Run a command, sampling the summed RSS of its process tree every 50 ms, and each process's CPU time
    (the last sample of a process that ends: up to 50 ms of its CPU may be missed)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    cpu: dict[int, tuple[str, float]] = {}
    role_peak: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                rss = {p.pid: p.memory_info().rss for p in tree if p.is_running()}
                peak = max(peak, sum(rss.values()))
                by_role: dict[str, float] = {}
                for p in tree:
                    times = p.cpu_times()
                    # the role from each sample: a process seen between fork and exec still has khabar's
                    # command line (the temporary server was once counted among the workers so); but the
                    # server stays the server once seen: exited and not yet reaped, its command line is empty
                    # (its whole CPU was once counted among the workers so)
                    known = cpu.get(p.pid, ("",))[0]
                    role = known if known == "prefect server" else _role(p, root)
                    cpu[p.pid] = (role, times.user + times.system)
                    by_role[cpu[p.pid][0]] = by_role.get(cpu[p.pid][0], 0) + rss.get(p.pid, 0)
                for role, used in by_role.items():
                    role_peak[role] = max(role_peak.get(role, 0), used)
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0]
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode:
        sys.exit(f"{' '.join(args)} exited with {proc.returncode}:\n{output}")
    by_role: dict[str, float] = {}
    for role, seconds_used in cpu.values():
        by_role[role] = by_role.get(role, 0.0) + seconds_used
    return Measured(seconds, peak / 2**20, output, by_role, {role: b / 2**20 for role, b in role_peak.items()})


def khabar_run(raw: Path, out: Path, workers: int, env: dict[str, str], *extra: str) -> tuple[Measured, dict]:
    measured = measure([KHABAR, "run", "--raw", str(raw), "--out", str(out), "--workers", str(workers), *extra], env)
    found = SUMMARY.search(measured.output)
    if not found:
        sys.exit(f"no summary in khabar's output:\n{measured.output}")
    return measured, {k: float(v) for k, v in found.groupdict().items()}


def loop_run(raw: Path, out: Path, env: dict[str, str], *extra: str) -> tuple[Measured, int, int]:
    """bench/naive_loop.py: the plain loop, or with --same-work the loop doing a shard's work."""
    measured = measure([sys.executable, str(REPO / "bench" / "naive_loop.py"), str(raw), str(out), *extra], env)
    docs, _, tokens, _ = measured.output.split()
    return measured, int(docs), int(tokens)


def fresh(work: Path, name: str) -> Path:
    """A new output folder under work (removed at exit: outputs of 50,000 articles are large)."""
    return work / "outputs" / f"{name}-{time.time_ns()}"


def size_table(
    n: int, raw: Path, work: Path, workers: int, env: dict[str, str], repeat: int = 1
) -> tuple[list[str], float]:
    """One size: the two loops and khabar, alternated `repeat` times, each the fastest of its runs (this
    shared machine's timings vary by 10 to 20% from run to run); then a rerun of khabar's last output."""
    mb = corpus_bytes(raw) / 1e6
    loops, same_work_loops, runs = [], [], []
    for _ in range(repeat):
        loops.append(loop_run(raw, fresh(work, f"loop-{n}"), env))
        same_work_loops.append(loop_run(raw, fresh(work, f"same-work-loop-{n}"), env, "--same-work"))
        out = fresh(work, f"khabar-{n}")
        runs.append(khabar_run(raw, out, workers, env))
    loop, loop_docs, _ = min(loops, key=lambda found: found[0].seconds)
    same, same_docs, same_tokens = min(same_work_loops, key=lambda found: found[0].seconds)
    first, s = min(runs, key=lambda found: found[0].seconds)
    noop, _ = khabar_run(raw, out, workers, env)
    shard_wall = s["shard"] / s["workers"]  # the workers' time inside shards, per worker
    orchestration = first.seconds - shard_wall
    khabar_rate, loop_rate = s["docs"] / first.seconds, loop_docs / loop.seconds
    same_rate = same_docs / same.seconds
    rows = [
        f"#### {n:,} articles ({mb:.0f} MB), {workers} workers\n",
        "| measure | khabar run | plain loop | same-work loop |",
        "|---|---|---|---|",
        f"| wall, process start to exit | {first.seconds:.1f} s | {loop.seconds:.1f} s | {same.seconds:.1f} s |",
        f"| documents/s | {khabar_rate:,.0f} | {loop_rate:,.0f} | {same_rate:,.0f} |",
        f"| MB/s | {mb / first.seconds:.2f} | {mb / loop.seconds:.2f} | {mb / same.seconds:.2f} |",
        f"| tokens/s | {s['tokens'] / first.seconds:,.0f} | | {same_tokens / same.seconds:,.0f} |",
        f"| start-up (process start to the run's start: folder locked, shards planned and started) "
        f"| {s['startup']:.1f} s | | |",
        f"| shard work, per worker | {shard_wall:.1f} s ({shard_wall / first.seconds:.0%}) | | |",
        f"| orchestration (wall time outside shard work, per worker) | {orchestration:.1f} s "
        f"({orchestration / first.seconds:.0%}) | | |",
        *cpu_rows(first),
        f"| peak memory, whole process tree | {first.peak_rss_mb:,.0f} MB | {loop.peak_rss_mb:,.0f} MB "
        f"| {same.peak_rss_mb:,.0f} MB |",
        "| peak memory, each part at its own peak | "
        + ", ".join(f"{role} {mb:,.0f} MB" for role, mb in sorted(first.peak_rss_by_role_mb.items()))
        + " | | |",
        f"| rerun with nothing new, wall | {noop.seconds:.1f} s | | |",
        f"| **khabar / plain loop, documents/s** | **{khabar_rate / loop_rate:.2f}x** | | |",
        f"| **khabar / same-work loop, documents/s** | **{khabar_rate / same_rate:.2f}x** | | |",
        "",
    ]
    return rows, first.peak_rss_mb


def cpu_rows(run: Measured) -> list[str]:
    """Where the CPU went: shards and the workers' start, khabar's own process (planning, Prefect's client,
    commits), the Prefect server; the last two are orchestration's share of the machine."""
    total = sum(run.cpu_s.values())
    outside = total - run.cpu_s.get("workers", 0.0)
    roles = ("workers", "khabar", "prefect server")
    rows = [f"| CPU, {role} | {run.cpu_s.get(role, 0.0):.1f} s | | |" for role in roles]
    return [*rows, f"| CPU outside the workers, of all CPU | {outside:.1f} s ({outside / total:.0%}) | | |"]


def crf_rows(raw: Path, work: Path, workers: int, env: dict[str, str], pairs: int) -> list[str]:
    """The CRF backend against the gazetteer on the same corpus, a run of each alternated `pairs` times: this
    machine's speed moves by more between minutes than the target's margin, so each CRF run is set against
    the gazetteer run beside it, and the median ratio is the figure."""
    conll = SHARED / "data" / "anercorp" / "train.conll"
    if not conll.exists():
        return [f"CRF: skipped, no {conll}", ""]
    from tasks.entities.crf import features_version

    model = work / f"ner-{features_version()}.crf"  # trained again when the features change
    if not model.exists():
        subprocess.run(
            [KHABAR, "ner", "train", "--conll", str(conll), "--unlabelled", str(raw), "--model", str(model)],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
    rows = [
        "| backend (same corpus), run | gazetteer | crf | crf / gazetteer, documents/s |",
        "|---|---|---|---|",
    ]
    ratios = []
    for i in range(1, pairs + 1):
        gazetteer, g = khabar_run(raw, fresh(work, "gazetteer"), workers, env)
        crf, c = khabar_run(raw, fresh(work, "crf"), workers, env, "--ner", "crf", "--ner-model", str(model))
        rates = g["docs"] / gazetteer.seconds, c["docs"] / crf.seconds
        ratios.append(rates[1] / rates[0])
        rows.append(
            f"| {i} | {gazetteer.seconds:.1f} s, {rates[0]:,.0f} documents/s "
            f"| {crf.seconds:.1f} s, {rates[1]:,.0f} documents/s | {ratios[-1]:.0%} |"
        )
    return [*rows, "", f"CRF / gazetteer, median of {pairs} alternated runs: **{statistics.median(ratios):.0%}**.", ""]


def running_server_rows(raw: Path, work: Path, workers: int, env: dict[str, str], loop_rate: float) -> list[str]:
    """The same run against a Prefect server that is already up, as scheduled nightly runs are."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = work / "prefect-server"
    server = subprocess.Popen(
        [KHABAR, "server", "--port", str(port)], env={**env, "PREFECT_HOME": str(home)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("khabar server did not start")
                time.sleep(0.5)
        time.sleep(5)  # past the port opening, the API answering
        api = {**env, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
        khabar_run(work / "raw-warm", fresh(work, "warm-server"), 1, api)  # the server's first flow run
        out = fresh(work, "server")
        first, s = khabar_run(raw, out, workers, api)
        noop, _ = khabar_run(raw, out, workers, api)
    finally:
        os.killpg(server.pid, 15)
        server.wait()
    rate = s["docs"] / first.seconds
    orchestration = first.seconds - s["shard"] / s["workers"]
    return [
        f"Against a Prefect server already running (`khabar server`, as scheduled runs are), the same "
        f"corpus: {first.seconds:.1f} s wall (start-up {s['startup']:.1f} s), {rate:,.0f} documents/s, "
        f"**{rate / loop_rate:.2f}x** the plain loop, orchestration {orchestration:.1f} s "
        f"({orchestration / first.seconds:.0%}); a rerun with nothing new: {noop.seconds:.1f} s.",
        "",
    ]


def dask_rows(raw: Path, work: Path, workers: int, env: dict[str, str]) -> list[str]:
    """The same corpus on a Dask LocalCluster of as many single-threaded workers (--executor dask, which
    starts it for the run) and on khabar's own process pool, back to back: the cost of Dask's scheduling."""
    rows = [
        f"| {len(list(raw.rglob('*.txt'))):,} articles, {workers} workers | wall | documents/s | "
        "shard work per worker | documents/s per worker in shards |",
        "|---|---|---|---|---|",
    ]
    rates = {}
    for executor in ("processes", "dask"):
        first, s = khabar_run(raw, fresh(work, f"executor-{executor}"), workers, env, "--executor", executor)
        shard_wall = s["shard"] / s["workers"]
        rates[executor] = s["docs"] / first.seconds
        rows.append(
            f"| {executor} | {first.seconds:.1f} s | {rates[executor]:,.0f} | {shard_wall:.1f} s "
            f"({shard_wall / first.seconds:.0%}) | {s['docs'] / s['shard']:,.0f} |"
        )
    rows += ["", f"Dask / process pool, documents/s: **{rates['dask'] / rates['processes']:.2f}x**.", ""]
    return rows


def long_line_rows(work: Path, workers: int, env: dict[str, str]) -> list[str]:
    """A 30 MB article on one line, 200,000+ sentences: linear-time stages keep it to minutes."""
    raw = work / "long-line"
    article = raw / "wire" / "one-line.txt"
    if not article.exists():
        article.parent.mkdir(parents=True)
        sentence = "قال الوزير سامر الخطيب في الرياض إن الاقتصاد ينمو بسرعة كبيرة هذا العام. "
        article.write_text(sentence * (30_000_000 // len(sentence.encode())), encoding="utf-8")
    first, s = khabar_run(raw, fresh(work, "long-line"), workers, env)
    return [
        f"A {article.stat().st_size / 1e6:.0f} MB article on one line ({s['tokens']:,.0f} tokens): "
        f"{first.seconds:.1f} s wall, peak memory {first.peak_rss_mb:,.0f} MB.",
        "",
    ]


def stage_rows(articles: list[Path], n: int = 1500) -> list[str]:
    """One process, one shard's worth of articles: where a worker's time goes (caches warm)."""
    code = f"""
import time, gc, tempfile
from datetime import UTC, datetime
from pathlib import Path
from tasks.clean import clean_text
from tasks.decode import decode_bytes
from tasks.documents import process_document
from tasks.entities import load_extractor
from tasks.segment import split_sentences, tokenize
from tasks.shards import shard_tables
from tasks.storage import write_parquet
import pyarrow as pa
pa.array([1])
extractor = load_extractor("gazetteer")
datas = [Path(p).read_bytes() for p in {[str(p) for p in articles[:n]]!r}]
gc.disable()
for _ in range(2):  # the second pass, caches warm, is the one reported
    clock = dict.fromkeys(["decode+clean", "sentences", "tokens", "entities", "rows", "parquet"], 0.0)
    docs = []
    for data in datas:
        t1 = time.perf_counter()
        try:
            text = clean_text(decode_bytes(data).text)
        except Exception:
            continue
        t2 = time.perf_counter(); sentences = split_sentences(text)
        t3 = time.perf_counter(); tokens = tokenize(text, sentences)
        t4 = time.perf_counter(); extractor.extract(tokens)
        t5 = time.perf_counter()
        for stage, seconds in zip(clock, (t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            clock[stage] += seconds
        docs.append(process_document("a/b.txt", data, extractor))
    t = time.perf_counter(); tables = shard_tables(docs, extractor, "r", "f", datetime.now(UTC))
    clock["rows"] = time.perf_counter() - t
    out = Path(tempfile.mkdtemp())
    t = time.perf_counter()
    for name, table in tables.items():
        write_parquet(table, out / f"{{name}}.parquet")
    clock["parquet"] = time.perf_counter() - t
print(len(docs), *(f"{{k}}={{v}}" for k, v in clock.items()))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    docs, *pairs = done.stdout.split()
    clock = {k: float(v) for k, v in (p.split("=") for p in pairs)}
    total = sum(clock.values())
    rows = [
        f"One worker, one process, {int(docs):,} articles, second pass (caches warm): "
        f"{int(docs) / total:,.0f} documents/s\n",
        "| stage | ms per document | share |",
        "|---|---|---|",
    ]
    rows += [f"| {k} | {v / int(docs) * 1000:.2f} | {v / total:.0%} |" for k, v in clock.items()]
    return [*rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000,50000", help="corpus sizes, comma-separated")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of the loop and of khabar per size; the fastest")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (corpora are reused)")
    parser.add_argument("--no-crf", action="store_true", help="skip the CRF row (it trains a model first)")
    parser.add_argument("--crf-pairs", type=int, default=3, help="alternated gazetteer and CRF runs (default 3)")
    parser.add_argument(
        "--only-dask", action="store_true", help="only the Dask row (the process pool beside it), at the largest size"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="khabar-bench-"))
    articles = unpack_saudinewsnet(work / "saudinewsnet")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KHABAR_", "PREFECT_API_URL"))}
    env["PREFECT_HOME"] = str(work / "prefect")
    warm = build_corpus(articles, work / "raw-warm", 10)
    khabar_run(warm, fresh(work, "warm"), 1, env)  # a Prefect home's first use migrates it

    print(f"`make bench` on {os.cpu_count()} CPUs, {args.workers} workers, gazetteer entities\n")
    if args.only_dask:
        raw = build_corpus(articles, work / f"raw-{max(sizes)}", max(sizes))
        print("\n".join(dask_rows(raw, work, args.workers, env)))
        return
    peaks: dict[int, float] = {}
    rates: dict[int, float] = {}
    loop_rates: dict[int, float] = {}
    for n in sizes:
        raw = build_corpus(articles, work / f"raw-{n}", n)
        rows, peaks[n] = size_table(n, raw, work, args.workers, env, args.repeat)
        found = re.search(r"\| documents/s \| ([\d,]+) \| ([\d,]+)", "\n".join(rows))
        assert found is not None
        rates[n], loop_rates[n] = (float(g.replace(",", "")) for g in found.groups())
        print("\n".join(rows), flush=True)
    if len(peaks) > 1:
        small, large = min(peaks), max(peaks)
        print(f"Peak memory at {large:,} articles is {peaks[large] / peaks[small]:.2f}x that at {small:,}.\n")
    middle = sorted(sizes)[len(sizes) // 2]
    print("\n".join(running_server_rows(work / f"raw-{middle}", work, args.workers, env, loop_rates[middle])))
    print("\n".join(dask_rows(work / f"raw-{middle}", work, args.workers, env)), flush=True)
    if not args.no_crf:
        small = min(sizes)
        print("\n".join(crf_rows(work / f"raw-{small}", work, args.workers, env, args.crf_pairs)), flush=True)
    print("\n".join(long_line_rows(work, args.workers, env)), flush=True)
    print("\n".join(stage_rows(articles)))
    shutil.rmtree(work / "outputs", ignore_errors=True)


if __name__ == "__main__":
    main()
